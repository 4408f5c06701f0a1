"""Statements of store/ on SQLite and PostgreSQL: the deliverer is woken by the commit that wrote to the
outbox, and scheduler leases are held by one replica until they expire."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot import outbox
from store.db import create_engine, on_outbox_commit, sessionmaker, upgrade
from store.leases import release_leases, take_lease
from store.models import Lease, SlackMessage, utcnow


@pytest.fixture
async def sessions(db_url):
    engine = create_engine(db_url)
    await upgrade(engine)
    yield sessionmaker(engine)
    await engine.dispose()


async def test_the_deliverer_is_woken_after_the_commit_that_wrote_to_the_outbox(sessions):
    woken = []
    on_outbox_commit(sessions, lambda: woken.append("wake"))
    async with sessions.begin() as s:
        s.add(SlackMessage(kind="alert", subject="run_Quiet", channel="C1"))
    assert woken == []  # no outbox row written: nothing to deliver
    async with sessions.begin() as s:
        message = await outbox.post(s, channel="C1", payload={"text": "failed"}, kind="alert", subject="run_Loud")
        await s.flush()
        assert woken == []  # flushed but not committed: the deliverer could not see the row yet
    assert woken == ["wake"]
    async with sessions.begin() as s:
        # A coalesced edit rewrites the queued post with a core UPDATE: the commit wakes the deliverer too.
        await outbox.update_message(s, await s.get(SlackMessage, message.id), {"text": "failed, replayed"})
    assert woken == ["wake", "wake"]


async def test_a_rolled_back_outbox_write_wakes_nobody(sessions):
    woken = []
    on_outbox_commit(sessions, lambda: woken.append("wake"))
    async with sessions() as s:
        await outbox.direct_message(s, user="U0WATCHER", payload={"text": "run ended"})
        await s.flush()
        await s.rollback()
        s.add(SlackMessage(kind="alert", subject="run_After", channel="C1"))
        await s.commit()
    assert woken == []
    with pytest.raises(RuntimeError):
        async with sessions.begin() as s:
            await outbox.direct_message(s, user="U0WATCHER", payload={"text": "run ended"})
            raise RuntimeError("the change failed")
    assert woken == []


async def test_a_lease_is_held_by_one_holder_until_it_expires(sessions):
    now = utcnow()
    async with sessions.begin() as s:
        assert await take_lease(s, "track", "replica-a", now=now, until=now + timedelta(seconds=30))
    async with sessions.begin() as s:
        assert not await take_lease(
            s, "track", "replica-b", now=now + timedelta(seconds=1), until=now + timedelta(seconds=31)
        )
        assert await take_lease(
            s, "track", "replica-a", now=now + timedelta(seconds=1), until=now + timedelta(seconds=31)
        )  # renewed by its holder
    async with sessions.begin() as s:
        assert await take_lease(
            s, "track", "replica-b", now=now + timedelta(seconds=32), until=now + timedelta(seconds=62)
        )  # expired: taken over
    async with sessions() as s:
        assert (await s.get(Lease, "track")).holder == "replica-b"
    async with sessions.begin() as s:
        await release_leases(s, "replica-b")
    async with sessions() as s:
        assert await s.get(Lease, "track") is None
