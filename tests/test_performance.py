"""Issue 20, what keeps the bot fast under load: Slack request receipts written in groups, `/runs` acknowledged at
once when too many are being answered (the answer follows through response_url), and failures processed before
a backlog of step updates. Real parts: the Slack stand-in, the reference platform, SQLite (and PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.ingest import URGENT_TYPES
from handlers.commands import BUSY_NOTICE
from handlers.once import ReceiptBook
from store import deliveries
from store.db import create_engine, sessionmaker, upgrade
from store.models import utcnow
from tests.support.harness import start_harness
from tests.test_commands import USER, failed_run, shown

# Receipts in groups


async def test_receipts_written_together_still_let_each_request_through_once(db_url):
    engine = create_engine(db_url)
    await upgrade(engine)
    try:
        book = ReceiptBook(sessionmaker(engine), window=timedelta(hours=1), batch=7)
        keys = [f"body:{i % 10}" for i in range(40)]  # ten requests, each delivered four times, all at once
        firsts = await asyncio.gather(*(book.first(k) for k in keys))
        assert sorted(k for k, first in zip(keys, firsts) if first) == sorted({*keys})
        assert not any(await asyncio.gather(*(book.first(k) for k in keys[:10])))  # later: all seen
        # Outside the window a receipt no longer counts: the same key is first again, once.
        later = ReceiptBook(sessionmaker(engine), window=timedelta(0), batch=500)
        assert sum(await asyncio.gather(*(later.first("body:3") for _ in range(5)))) == 1
    finally:
        await engine.dispose()


# Commands beyond the inline limit


@pytest.fixture
async def busy_harness(sqlite_url):
    # Two commands at a time are answered while their request waits; the rest are acknowledged at once.
    h = await start_harness(database_url=sqlite_url, PERF_INLINE_COMMANDS=2, PERF_DEFERRED_COMMANDS=2)
    try:
        yield h
    finally:
        await h.stop()


async def test_commands_beyond_the_inline_limit_are_acknowledged_at_once_and_answered_through_response_url(
    busy_harness,
):
    h = busy_harness
    await failed_run(h, "run_perfBusy01")
    results = await asyncio.gather(
        *(h.slack.send_command("failed", user_id=USER, channel_id="C0GENERAL") for _ in range(30))
    )
    assert all(r.ok for r in results), [(r.status, r.error) for r in results if not r.ok]
    in_ack = [r for r in results if "run_perfBusy01" in str(r.body)]
    deferred = [r for r in results if r.body.get("text") == BUSY_NOTICE]
    assert len(in_ack) + len(deferred) == 30, [r.body for r in results]
    assert deferred, "30 at once with an inline limit of 2: some must have been acknowledged at once"
    assert len(in_ack) >= 2

    def answered(s):
        posts = [e for e in s.ephemerals("C0GENERAL", USER) if e.source == "response_url"]
        hits = [e for e in posts if "run_perfBusy01" in shown(e)]
        return hits if len(hits) >= len(deferred) else None

    hits = await h.slack.wait_for(answered, timeout=20)
    assert len(hits) == len(deferred)  # each deferred command answered once, none twice


async def test_a_deferred_command_that_is_wrong_is_answered_in_words(sqlite_url):
    h = await start_harness(database_url=sqlite_url, PERF_INLINE_COMMANDS=0)
    try:
        result = await h.slack.send_command("faild", user_id=USER, channel_id="C0GENERAL")
        assert result.ok and result.body.get("text") == BUSY_NOTICE, result.body

        def answered(s):
            return [
                e
                for e in s.ephemerals("C0GENERAL", USER)
                if e.source == "response_url" and "Did you mean `failed`" in shown(e)
            ] or None

        assert len(await h.slack.wait_for(answered, timeout=15)) == 1
    finally:
        await h.stop()


# Failures first


async def test_pending_failures_are_claimed_before_older_step_updates(sqlite_url):
    engine = create_engine(sqlite_url)
    await upgrade(engine)
    sessions = sessionmaker(engine)
    now = utcnow()
    rows = [
        {
            "id": f"wh_step{i:03d}",
            "type": "run.step.updated",
            "body": {},
            "received_at": now + timedelta(microseconds=i),
        }
        for i in range(200)
    ] + [{"id": "wh_failed", "type": "run.failed", "body": {}, "received_at": now + timedelta(seconds=1)}]
    try:
        async with sessions.begin() as session:
            await deliveries.store_new(session, [{**r, "processed_at": None} for r in rows])
        async with sessions() as session:
            urgent = await deliveries.claim_unprocessed(session, 5, types=URGENT_TYPES)
            oldest = await deliveries.claim_unprocessed(session, 5)
        assert [d.id for d in urgent] == ["wh_failed"]
        assert [d.id for d in oldest] == [f"wh_step{i:03d}" for i in range(5)]
    finally:
        await engine.dispose()
