"""Several replicas on one PostgreSQL behave as one bot: two real `runbot serve` processes."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from datetime import datetime, timezone

import aiohttp
import pytest
from sqlalchemy import text

from reference.platform import ReferencePlatform
from reference.slack import RateRules, SlackStandIn
from store.db import create_engine
from tests.support.harness import (
    APP_TOKEN,
    BOT_TOKEN,
    PLATFORM_TOKEN,
    RATE_SCALE,
    SIGNING_SECRET,
    WEBHOOK_SECRET,
    free_port,
    sign_webhook,
    wait_for,
)

INTERVAL = 0.5
LEASE = 4.0


class BotProcess:
    def __init__(self, env: dict, cwd, name: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(cwd / f"{name}.log", "w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve"],
            cwd=cwd,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**env, "PORT": str(self.port)},
        )

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


@pytest.fixture
async def replicas(pg_url, tmp_path):
    platform = ReferencePlatform(api_token=PLATFORM_TOKEN, webhook_secret=WEBHOOK_SECRET, seed=3, speed=40)
    await platform.start()
    slack = SlackStandIn(
        bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET, app_token=APP_TOKEN, rates=RateRules().scaled(RATE_SCALE)
    )
    await slack.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PLATFORM_", "DATABASE_"))}
    env.update(
        {
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack.api_url,
            "PLATFORM_API_URL": platform.base_url,
            "PLATFORM_API_TOKEN": PLATFORM_TOKEN,
            "PLATFORM_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "ALERT_CHANNEL": "C0ALERTS",
            "APPROVAL_CHANNEL": "C0APPROVALS",
            "OPERATORS": "U0SANDBOX",
            "APPROVERS": "U0SANDBOX",
            "DATABASE_URL": pg_url,
            "HOST": "127.0.0.1",
            "TRACK_INTERVAL_SECONDS": str(INTERVAL),
            "LEASE_SECONDS": str(LEASE),
            "MESSAGE_EDIT_INTERVAL_SECONDS": "0.2",
            "OUTBOX_BACKOFF_MAX_SECONDS": "1",
            # Two replicas share Slack's allowance: each paces to half of it (docs/configuration.md).
            "OUTBOX_CHANNEL_RATE_PER_SECOND": str(0.5 * RATE_SCALE),
            "OUTBOX_UPDATE_RATE_PER_MINUTE": str(25.0 * RATE_SCALE),
            "LOG_LEVEL": "INFO",
        }
    )
    bots = [BotProcess(env, tmp_path, "a"), BotProcess(env, tmp_path, "b")]
    session = aiohttp.ClientSession()

    async def ready(bot):
        if bot.proc.poll() is not None:
            raise AssertionError(f"bot exited early:\n{bot.output()}")
        try:
            async with session.get(f"{bot.url}/readyz") as resp:
                return resp.status == 200
        except aiohttp.ClientError:
            return False

    try:
        for bot in bots:
            await wait_for(lambda bot=bot: ready(bot), timeout=60, interval=0.2, what=f"bot {bot.url} to be ready")
        platform.webhook_url = f"{bots[0].url}/webhooks/platform"
        yield platform, slack, bots, session, pg_url
    finally:
        for bot in bots:
            bot.stop()
        await session.close()
        await slack.stop()
        await platform.stop()


async def scheduler_status(session, bot) -> dict:
    async with session.get(f"{bot.url}/readyz") as resp:
        return (await resp.json())["checks"]["scheduler"]


async def scheduler_ran(session, bot) -> dict:
    return (await scheduler_status(session, bot)).get("ran", {})


async def test_jobs_run_once_per_interval_across_replicas_and_move_when_the_holder_dies(replicas):
    platform, slack, bots, session, pg_url = replicas
    before = [await scheduler_status(session, b) for b in bots]

    async def ticked(count):
        now = [await scheduler_status(session, b) for b in bots]
        ticks = [now[i]["ticks"].get("track", 0) - before[i]["ticks"].get("track", 0) for i in range(2)]
        return now if min(ticks) >= count else None

    after = await wait_for(
        lambda: ticked(10), timeout=60, interval=0.2, what="both replicas' schedulers to tick the tracker ten times"
    )
    ticks = [after[i]["ticks"].get("track", 0) - before[i]["ticks"].get("track", 0) for i in range(2)]
    ran = [after[i]["ran"].get("track", 0) - before[i]["ran"].get("track", 0) for i in range(2)]
    # Each replica ticks every interval; the lease lets one tick per interval run. Without it the sum would be
    # the sum of both replicas' ticks.
    assert sum(ran) <= max(ticks) + 2, f"tracking ran {ran} times while the replicas ticked {ticks} times"
    assert sum(ran) >= min(ticks) // 2, f"the lease holder skipped its own ticks: ran {ran}, ticked {ticks}"

    engine = create_engine(pg_url)
    try:
        async with engine.connect() as conn:
            holder = (await conn.execute(text("SELECT holder FROM leases WHERE name = 'track'"))).scalar_one()
    finally:
        await engine.dispose()
    holder_pid = int(holder.split(":")[1])
    victim = next(b for b in bots if b.proc.pid == holder_pid)
    survivor = next(b for b in bots if b is not victim)
    victim.kill()
    start = (await scheduler_ran(session, survivor)).get("track", 0)
    await wait_for(
        lambda: _ran_more(session, survivor, start + 3),
        timeout=LEASE * 6 + 5,
        what="the surviving replica to take over the tracking lease",
    )


async def _ran_more(session, bot, count):
    return (await scheduler_ran(session, bot)).get("track", 0) >= count


def failed_run(i: int) -> dict:
    now = datetime.now(timezone.utc).isoformat()
    step = {
        "id": "step_3",
        "index": 2,
        "name": "Summarise with LLM",
        "type": "llm",
        "status": "failed",
        "error": {
            "code": "provider_rate_limited",
            "message": "Rate limit reached",
            "provider": "openai",
            "provider_status": 429,
            "retryable": True,
        },
    }
    return {
        "id": f"run_Replica{i:04d}",
        "workflow": {"id": f"wf_burst_{i % 7}", "name": f"Burst {i % 7}"},
        "status": "failed",
        "created_at": now,
        "started_at": now,
        "completed_at": now,
        "updated_at": now,
        "progress": {"total_steps": 5, "completed_steps": 2},
        "failed_step_id": "step_3",
        "steps": [step],
        "trigger": {"type": "api", "payload": {}},
    }


async def test_a_burst_delivered_to_both_replicas_gives_one_alert_per_failed_run(replicas):
    platform, slack, bots, session, pg_url = replicas
    runs = [failed_run(i) for i in range(20)]

    async def deliver(run, bot, msg_id):
        body = json.dumps({"type": "run.failed", "timestamp": run["updated_at"], "data": {"run": run}})
        async with session.post(
            f"{bot.url}/webhooks/platform", data=body, headers=sign_webhook(body, msg_id=msg_id)
        ) as resp:
            return resp.status

    statuses = await asyncio.gather(*(deliver(run, bot, f"msg_burst_{run['id']}") for run in runs for bot in bots))
    assert set(statuses) == {200}

    def alerts_per_run():
        """Alerts only: the provider's incident card (openai fails across 7 workflows) names runs too."""
        counts = {}
        for m in slack.messages("C0ALERTS"):
            blob = json.dumps({"t": m.text, "b": m.blocks})
            for run in runs:
                if run["id"] in blob and not getattr(m, "thread_ts", None) and "openai is failing" not in m.text:
                    counts[run["id"]] = counts.get(run["id"], 0) + 1
        return counts

    await wait_for(lambda: len(alerts_per_run()) == len(runs), timeout=30, what="an alert for every failed run")
    engine = create_engine(pg_url)

    async def delivered():
        async with engine.connect() as conn:
            unprocessed = (
                await conn.execute(text("SELECT count(*) FROM webhook_deliveries WHERE processed_at IS NULL"))
            ).scalar_one()
            pending = (await conn.execute(text("SELECT count(*) FROM outbox WHERE status = 'pending'"))).scalar_one()
        return unprocessed == 0 and pending == 0

    try:
        await wait_for(delivered, timeout=30, what="every webhook processed and the outbox empty")
    finally:
        await engine.dispose()
    counts = alerts_per_run()
    assert all(c == 1 for c in counts.values()), counts
