"""The outbox under Slack's posting limits, enforced by the stand-in: a burst or a storm in one channel goes out
without a single 429 and every run can be found; a 429 is retried after Retry-After without a history lookup,
an answer that never came is looked up first (joining a channel whose history Slack refuses, or posting again
marked when it cannot); an edit too long for chat.update is cut and continued in the thread."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import datetime, timedelta, timezone

import aiohttp
import pytest
from sqlalchemy import select

from bot import outbox
from bot.outbox_send import REPOSTED, UPDATE_TEXT_LIMIT
from reference.platform import ReferencePlatform
from reference.slack import RateRules, SlackStandIn
from store.models import OutboxItem, SlackMessage
from tests.support.harness import (
    APP_TOKEN,
    BOT_TOKEN,
    PLATFORM_TOKEN,
    SIGNING_SECRET,
    WEBHOOK_SECRET,
    start_harness,
    wait_for,
)
from tests.test_faults import BotProcess, alerts_per_run, deliver, deliver_until_acknowledged, webhook
from tests.test_outbox import alert_row, outbox_rows, restart_bot

SCALE = 5  # Slack's clocks run five times faster: one post each 0.2 s per channel after a burst


@pytest.fixture
def settings_overrides():
    return {"STORM_THRESHOLD": 100}


@pytest.fixture
async def paced(sqlite_url, settings_overrides):
    h = await start_harness(
        database_url=sqlite_url,
        slack_kwargs={"rates": RateRules().scaled(SCALE)},
        OUTBOX_CHANNEL_RATE_PER_SECOND=1.0 * SCALE,
        OUTBOX_UPDATE_RATE_PER_MINUTE=50.0 * SCALE,
        **settings_overrides,
    )
    try:
        yield h
    finally:
        await h.stop()


def everything_in(h, channel: str = "C0ALERTS") -> str:
    """All that a person can read in the channel, threads included."""
    return "\n".join(json.dumps({"t": m.text, "b": m.blocks}) for m in h.slack.messages(channel))


def alerts_of(h, run_id: str) -> list:
    return [m for m in h.slack.messages("C0ALERTS", top_level=True) if f"failed: {run_id}" in m.text]


async def send_failures(h, run_ids: list[str]) -> None:
    for run_id in run_ids:
        msg_id, body = webhook(run_id)
        assert (await h.post_webhook("run.failed", {}, msg_id=msg_id, body=body)).status == 200


async def test_a_burst_of_30_failures_in_one_channel_is_posted_without_a_single_429(paced):
    h = paced
    run_ids = [f"run_Burst{i:04d}" for i in range(30)]
    await send_failures(h, run_ids)
    await h.wait_for(lambda: all(alerts_of(h, r) for r in run_ids), timeout=60, what="every run's alert")
    await h.settled()
    assert h.slack.rate_limited() == []
    assert all(len(alerts_of(h, r)) == 1 for r in run_ids)
    posts = h.slack.calls_to("chat.postMessage")
    assert len(posts) >= 30 and all(c.ok for c in posts)


@pytest.mark.parametrize("settings_overrides", [{"STORM_THRESHOLD": 5}])
async def test_a_storm_of_50_failures_in_one_channel_is_posted_without_a_429_and_every_run_is_findable(paced):
    h = paced
    run_ids = [f"run_Storm{i:04d}" for i in range(50)]
    await send_failures(h, run_ids)
    await h.wait_for(
        lambda: all(r in everything_in(h) for r in run_ids), timeout=90, what="every run named in the channel"
    )
    await h.settled()
    assert h.slack.rate_limited() == []
    assert len(h.slack.messages("C0ALERTS", top_level=True)) < 50  # grouped, not a wall of alerts


async def test_a_429_is_retried_after_retry_after_without_a_history_lookup(paced):
    h = paced
    h.slack.fail_next(429, count=1, retry_after=1, method="chat.postMessage")
    await send_failures(h, ["run_Limited01"])
    await h.wait_for(lambda: alerts_of(h, "run_Limited01"), timeout=30, what="the alert after the 429")
    await h.settled()
    refused, posted = h.slack.calls_to("chat.postMessage")[:2]
    assert refused.status == 429 and posted.ok
    assert posted.at - refused.at >= 0.9  # Retry-After was honoured
    assert h.slack.calls_to("conversations.history") == []  # Slack said it did not post: nothing to look up
    assert len(alerts_of(h, "run_Limited01")) == 1


async def test_an_answer_that_never_came_is_looked_up_before_posting_again(paced):
    h = paced
    h.slack.fail_next(503, count=1, method="chat.postMessage")  # Slack may have posted before failing
    await send_failures(h, ["run_Unknown01"])
    await h.wait_for(lambda: alerts_of(h, "run_Unknown01"), timeout=30, what="the alert after the 503")
    await h.settled()
    assert h.slack.calls_to("conversations.history")
    assert len(alerts_of(h, "run_Unknown01")) == 1


def take_the_bot_out(slack: SlackStandIn, channel: str = "C0ALERTS", *, can_join: bool) -> None:
    """The bot is no longer in a public channel it posts to through chat:write.public: Slack refuses
    conversations.history there (not_in_channel) until it joins, which needs channels:join."""
    slack.kick(channel)
    if not can_join:
        slack.install(scopes=[s for s in slack.scopes if s != "channels:join"])


async def crash_with_post_in_flight(h, run_id: str):
    """The bot dies while Slack's answer to the alert's post never came; returns the row."""
    h.slack.fail_for(500, 600, method="chat.postMessage")
    await send_failures(h, [run_id])

    async def in_flight():
        row = await alert_row(h, run_id)
        return row is not None and row.in_flight and row.attempts >= 1 and row

    row = await h.wait_for(in_flight, timeout=20, what="the alert's post to be in flight")
    await h.runner.cleanup()
    return row


async def test_a_lookup_refused_not_in_channel_joins_the_channel_and_finds_the_post(paced):
    h = paced
    row = await crash_with_post_in_flight(h, "run_Joined01")
    accepted = h.slack.add_message(
        "C0ALERTS",
        row.payload["text"],
        blocks=row.payload.get("blocks"),
        metadata={"event_type": outbox.METADATA_EVENT, "event_payload": {"outbox_id": row.id}},
    )
    take_the_bot_out(h.slack, can_join=True)
    h.slack.clear_faults()
    await restart_bot(h)
    await h.settled()
    assert h.slack.is_member("C0ALERTS")
    assert (await outbox_rows(h, id=row.id))[0].sent_ts == accepted.ts
    assert alerts_of(h, "run_Joined01") == [accepted]


async def test_a_lookup_slack_refuses_for_good_posts_again_marked_as_a_possible_repeat(paced):
    h = paced
    row = await crash_with_post_in_flight(h, "run_Blind01")
    take_the_bot_out(h.slack, can_join=False)
    looked_up = len(h.slack.calls_to("conversations.history"))
    h.slack.clear_faults()
    await restart_bot(h)
    await h.settled()
    assert not h.slack.is_member("C0ALERTS")
    assert [c.error for c in h.slack.calls_to("conversations.history")[looked_up:]] == ["not_in_channel"]
    alerts = alerts_of(h, "run_Blind01")
    assert len(alerts) == 1  # not lost: posted again, saying it may repeat an earlier one
    assert REPOSTED in alerts[0].text and REPOSTED in json.dumps(alerts[0].blocks)
    assert (await outbox_rows(h, id=row.id))[0].status == "sent"


async def test_an_edit_longer_than_chat_update_allows_is_cut_and_continued_in_the_thread(paced):
    h = paced
    async with h.svc.sessions.begin() as s:
        message = await outbox.post(s, channel="C0ALERTS", kind="alert", subject="run_Long01", payload={"text": "v0"})
    h.svc.deliverer.kick()
    posted = (await h.wait_for(lambda: [m for m in h.slack.messages("C0ALERTS") if m.text == "v0"], timeout=20))[0]
    lines = [f"line {i:05d} of a very long log excerpt from the platform" for i in range(400)]
    long_text = "\n".join(lines)  # about 22,000 characters

    async def edit(text: str) -> None:
        async with h.svc.sessions.begin() as s:
            await outbox.update_message(s, await s.get(SlackMessage, message.id), {"text": text})
        h.svc.deliverer.kick()

    await edit(long_text)
    await h.wait_for(lambda: h.slack.message("C0ALERTS", posted.ts).text != "v0", timeout=20, what="the edit")
    await h.settled()
    shown = h.slack.message("C0ALERTS", posted.ts).text
    assert len(shown) <= UPDATE_TEXT_LIMIT and shown.endswith("(continued in the thread)")
    replies = [m.text for m in h.slack.messages("C0ALERTS", thread_ts=posted.ts) if m.ts != posted.ts]
    assert replies, "the rest of the text is in the thread"
    readable = "\n".join([shown, *replies])
    assert all(line in readable for line in lines)
    assert not [c for c in h.slack.calls_to("chat.update") if c.error == "msg_too_long"]

    await edit(long_text.replace("line 00000", "LINE 00000"))  # a new head, the same rest: not posted again
    await h.settled()
    assert h.slack.message("C0ALERTS", posted.ts).text.startswith("LINE 00000")
    again = [m for m in h.slack.messages("C0ALERTS", thread_ts=posted.ts) if m.ts != posted.ts]
    assert len(again) == len(replies)
    async with h.svc.sessions() as s:
        assert (await s.scalars(select(SlackMessage).where(SlackMessage.id == message.id))).one().ts == posted.ts


async def test_sigkill_during_a_burst_into_a_channel_never_joined_alerts_every_run_exactly_once(tmp_path):
    """`runbot serve` killed while a burst waits behind the channel's posting rate (enforced by the stand-in),
    in a public channel the bot was never invited to: Slack refuses its history until the bot joins it, which
    the bot may do itself (channels:join). After the restart every run is alerted exactly once."""
    scale = 10
    platform = ReferencePlatform(api_token=PLATFORM_TOKEN, webhook_secret=WEBHOOK_SECRET, seed=5, speed=40)
    await platform.start()
    slack = SlackStandIn(
        bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET, app_token=APP_TOKEN, rates=RateRules().scaled(scale)
    )
    await slack.start()
    slack.add_channel("C0PACED", "paced-alerts")  # public; the bot is not in it and was never invited
    assert not slack.is_member("C0PACED")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PLATFORM_", "DATABASE_", "OUTBOX_"))}
    env.update(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.api_url,
        PLATFORM_API_URL=platform.base_url,
        PLATFORM_API_TOKEN=PLATFORM_TOKEN,
        PLATFORM_WEBHOOK_SECRET=WEBHOOK_SECRET,
        ALERT_CHANNEL="C0PACED",
        OPERATORS="U0SANDBOX",
        APPROVERS="U0SANDBOX",
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'runbot.db'}",
        HOST="127.0.0.1",
        STORM_THRESHOLD="100000",
        OUTBOX_BACKOFF_MAX_SECONDS="1",
        OUTBOX_CLAIM_SECONDS="2",
        OUTBOX_CHANNEL_RATE_PER_SECOND=str(1.0 * scale),
        OUTBOX_UPDATE_RATE_PER_MINUTE=str(50.0 * scale),
        LOG_LEVEL="INFO",
    )
    bot = BotProcess(env, tmp_path, "bot")
    session = aiohttp.ClientSession()
    run_ids = [f"run_Paced{i:04d}" for i in range(60)]
    events = dict(webhook(r) for r in run_ids)
    acknowledged: set[str] = set()
    at_kill: dict[str, int] = {}
    try:
        bot.start()
        await bot.ready(session)

        async def sender(ids: list[str]) -> None:
            for msg_id in ids:
                if await deliver(session, bot.url, msg_id, events[msg_id], timeout=5) == 200:
                    acknowledged.add(msg_id)

        async def killer() -> None:
            await wait_for(lambda: len(acknowledged) >= 30, timeout=60, interval=0.01, what="half the burst")
            bot.kill()
            at_kill.update(alerts_per_run(slack, run_ids, "C0PACED"))

        await asyncio.gather(killer(), *(sender(list(events)[i::3]) for i in range(3)))
        assert len(at_kill) < len(acknowledged), f"{len(at_kill)} of {len(acknowledged)} posted at the kill"

        bot.start()
        await bot.ready(session)
        await asyncio.gather(*(deliver_until_acknowledged(session, bot.url, m, events[m]) for m in events))
        await slack.wait_for(lambda s: len(alerts_per_run(s, run_ids, "C0PACED")) == len(run_ids), timeout=90)
        await asyncio.sleep(1)  # a post still on its way after the last run appeared would show as a second one
        counts = alerts_per_run(slack, run_ids, "C0PACED")
        assert set(counts.values()) == {1}, {r: c for r, c in counts.items() if c != 1}
        assert slack.is_member("C0PACED")  # it joined the channel itself, so a look-up could read its history
        assert all(c.ok for c in slack.calls_to("conversations.history") if c.args.get("channel") == "C0PACED")
        assert not [m for m in slack.messages("C0PACED") if REPOSTED in m.text]
        refused = [c for c in slack.calls_to("chat.postMessage") if not c.ok and c.status != 429]
        assert refused == [], [(c.status, c.error) for c in refused]  # only the rate limit, and that retried
    finally:
        bot.stop()
        await session.close()
        await slack.stop()
        await platform.stop()


async def test_an_edit_slack_refuses_as_past_its_edit_window_is_given_up_not_retried(paced):
    h = paced
    async with h.svc.sessions.begin() as s:
        message = await outbox.post(s, channel="C0ALERTS", kind="alert", subject="run_Old01", payload={"text": "v0"})
    h.svc.deliverer.kick()
    await h.wait_for(lambda: [m for m in h.slack.messages("C0ALERTS") if m.text == "v0"], timeout=20)
    h.slack.inject("edit_window_closed", count=100, method="chat.update")
    async with h.svc.sessions.begin() as s:
        await outbox.update_message(s, await s.get(SlackMessage, message.id), {"text": "v1"})
    h.svc.deliverer.kick()

    async def given_up():
        rows = [r for r in await outbox_rows(h) if r.method == "update"]
        return rows and rows[0].status == "failed" and rows[0]

    row = await h.wait_for(given_up, timeout=20, what="the edit to be given up")
    assert row.last_error == "edit_window_closed"
    await asyncio.sleep(1.5)  # a retry would come within the harness's 1 s backoff
    assert len(h.slack.calls_to("chat.update")) == 1


async def test_an_older_edit_sent_back_by_a_429_never_lands_over_a_newer_one(paced):
    """A 429 puts an edit back in the queue (not in flight) after a newer edit of the message was written beside
    it: the newer goes out first, and the older, once due again, must be set aside, not sent over it."""
    h = paced
    async with h.svc.sessions.begin() as s:
        message = await outbox.post(s, channel="C0ALERTS", kind="alert", subject="run_Stale01", payload={"text": "v0"})
    h.svc.deliverer.kick()
    await h.wait_for(lambda: [m for m in h.slack.messages("C0ALERTS") if m.text == "v0"], timeout=20, what="v0")
    async with h.svc.sessions.begin() as s:
        # The state a 429 leaves: the older edit tried once, due again after Retry-After; the newer queued beside it.
        s.add(
            OutboxItem(
                method="update",
                channel="C0ALERTS",
                message_id=message.id,
                payload={"text": "v1 (older)"},
                attempts=1,
                next_attempt_at=datetime.now(timezone.utc) + timedelta(seconds=1),
            )
        )
        await s.flush()
        s.add(OutboxItem(method="update", channel="C0ALERTS", message_id=message.id, payload={"text": "v2 (newer)"}))
    h.svc.deliverer.kick()

    async def both_done():
        rows = [r for r in await outbox_rows(h) if r.method == "update"]
        return len(rows) == 2 and all(r.status == "sent" for r in rows) and rows

    rows = await h.wait_for(both_done, timeout=30, what="both edits to leave the queue")
    assert sorted(r.last_error or "" for r in rows) == ["", "superseded by a newer edit"]
    assert [c.args.get("text") for c in h.slack.calls_to("chat.update") if c.ok] == ["v2 (newer)"]
    assert [m.text for m in h.slack.messages("C0ALERTS") if m.text.startswith("v")] == ["v2 (newer)"]
