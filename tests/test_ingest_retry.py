"""A processing failure of the moment (a deadlock with another replica, a lock wait that timed out, a lost
connection) is not the event's fault: the event stays pending and is processed when the moment passes, never
set aside as poison (acknowledged and then lost). A real PostgreSQL: another connection holds the run's row
lock past the database's `lock_timeout`, as a second replica processing the same run would."""

from __future__ import annotations

import asyncio
import itertools
import os

import asyncpg

from store.models import Run, WebhookDelivery
from tests.handlers.test_webhooks import a_run
from tests.support.harness import start_harness
from tests.support.postgres import create_database

_names = itertools.count()


async def test_an_event_whose_run_is_locked_past_the_lock_timeout_stays_pending_and_is_processed_later(
    pg_admin_url,
):
    url = await create_database(pg_admin_url, f"runbot_retry_{os.getpid()}_{next(_names)}")
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    admin = await asyncpg.connect(dsn)
    await admin.execute(f"ALTER DATABASE \"{dsn.rsplit('/', 1)[1]}\" SET lock_timeout = '200ms'")
    h = await start_harness(database_url=url)
    holder = await asyncpg.connect(dsn)
    try:
        assert (await h.post_webhook("run.started", {"run": a_run("run_Locked001")}, msg_id="msg_first")).status == 200

        async def stored(msg_id, status):
            async with h.svc.sessions() as s:
                d = await s.get(WebhookDelivery, msg_id)
                run = await s.get(Run, "run_Locked001")
                return d is not None and d.processed_at is not None and run is not None and run.status == status

        await h.wait_for(lambda: stored("msg_first", "running"), timeout=30, what="the first event processed")

        lock = holder.transaction()
        await lock.start()
        await holder.execute("SELECT 1 FROM runs WHERE id = 'run_Locked001' FOR UPDATE")
        done = a_run("run_Locked001", status="completed", updated="2026-11-25T10:00:09.000Z")
        assert (await h.post_webhook("run.completed", {"run": done}, msg_id="msg_second")).status == 200
        # The processor tries, times out on the lock, and tries again: more than the tries after which an
        # event that fails alone is set aside as poison.
        await asyncio.sleep(4.0)
        async with h.svc.sessions() as s:
            assert (await s.get(WebhookDelivery, "msg_second")).processed_at is None  # still pending, not set aside
        await lock.rollback()
        await h.wait_for(lambda: stored("msg_second", "completed"), timeout=30, what="the event processed at last")
    finally:
        await holder.close()
        await admin.close()
        await h.stop()
