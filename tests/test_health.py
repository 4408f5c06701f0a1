"""`/readyz` and `/metrics` report the real state: PostgreSQL stopped under the bot, the scheduler stopped,
tracking that cannot reach the platform."""

from __future__ import annotations

import asyncio
import os
import re

import pytest

from tests.support.harness import start_harness
from tests.support.postgres import create_database, start_server, stop_server

INTERVAL = 0.5


async def readyz(h) -> tuple[int, dict]:
    async with h.http.get(f"{h.bot_url}/readyz") as resp:
        return resp.status, await resp.json()


async def metric(h, name: str) -> float | None:
    async with h.http.get(f"{h.bot_url}/metrics") as resp:
        text = await resp.text()
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(found.group(1)) if found else None


async def test_readyz_is_503_while_postgresql_is_down_and_ready_again_when_it_is_back(pg_cluster, pg_admin_url):
    url = await create_database(pg_admin_url, f"runbot_ready_{os.getpid()}")
    h = await start_harness(database_url=url)
    loop = asyncio.get_running_loop()
    try:
        status, body = await readyz(h)
        assert status == 200 and body["checks"]["database"] == {"ok": True, "dialect": "postgresql"}
        await loop.run_in_executor(None, stop_server, pg_cluster)
        try:

            async def not_ready():
                status, body = await readyz(h)
                return status == 503 and body

            body = await h.wait_for(not_ready, timeout=30, what="/readyz to answer 503 with PostgreSQL down")
            assert body["ready"] is False and body["checks"]["database"]["ok"] is False
            assert body["checks"]["database"]["error"]
        finally:
            await loop.run_in_executor(None, start_server, pg_cluster)

        async def ready():
            status, body = await readyz(h)
            return status == 200 and body["checks"]["database"]["ok"] and body

        await h.wait_for(ready, timeout=60, what="/readyz to be ready again once PostgreSQL is back")
    finally:
        await h.stop()


async def test_readyz_is_503_when_the_scheduler_stops(harness):
    h = harness
    status, body = await readyz(h)
    assert status == 200 and body["checks"]["scheduler"]["ok"] is True
    assert "track" in body["checks"]["scheduler"]["jobs"]
    await h.scheduler.shutdown()
    status, body = await readyz(h)
    assert status == 503 and body["ready"] is False
    assert body["checks"]["scheduler"]["ok"] is False and body["checks"]["scheduler"]["jobs"] == []
    assert body["checks"]["database"]["ok"] is True  # only the scheduler is at fault


@pytest.mark.parametrize(
    "settings_overrides", [{"TRACK_INTERVAL_SECONDS": INTERVAL, "TRACK_BACKOFF_MAX_SECONDS": INTERVAL}]
)
async def test_the_tracker_lag_grows_while_the_platform_is_down_and_falls_when_it_is_back(harness):
    h = harness
    scheduler = h.scheduler
    await h.wait_for(lambda: scheduler.tracker.cycles >= 1, timeout=20, what="a first good tracking cycle")
    last_good = scheduler.tracker.last_success
    await h.sim("POST", "/sim/stall", {"seconds": 3600, "status": 503})  # until the test ends it
    try:

        async def stale():
            lag = await metric(h, "runbot_tracker_lag_seconds")
            return lag is not None and lag > 3 * INTERVAL and lag

        lag = await h.wait_for(stale, timeout=30, what="the lag metric to pass three intervals")
        assert scheduler.tracker.last_success == last_good  # no good cycle since: the lag is real
        status, body = await readyz(h)
        tracker = body["checks"]["tracker"]
        assert status == 200  # tracker trouble is reported, not a 503
        assert tracker["ok"] is False and tracker["lag_seconds"] >= lag and tracker["consecutive_errors"] >= 1
        stamp = await metric(h, "runbot_tracker_last_success_timestamp")
        assert stamp == pytest.approx(last_good)
    finally:
        await h.sim("POST", "/sim/stall", {"seconds": 0})

    async def caught_up():
        lag = await metric(h, "runbot_tracker_lag_seconds")
        return scheduler.tracker.last_success != last_good and lag is not None and lag <= 3 * INTERVAL

    await h.wait_for(caught_up, timeout=30, what="a good cycle to bring the lag back under three intervals")
    status, body = await readyz(h)
    assert body["checks"]["tracker"]["consecutive_errors"] == 0
