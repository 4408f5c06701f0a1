"""Faults lose nothing: the bot killed with SIGKILL in a burst of webhooks, PostgreSQL restarted under the bot,
Slack down, the platform down. Each test ends by counting: acknowledged equals processed, one alert per failed
run, nothing left in the outbox."""

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
from sqlalchemy import func, select

from reference.platform import ReferencePlatform
from reference.slack import RateRules, SlackStandIn
from store.db import create_engine, sessionmaker
from store.models import OutboxItem, Run, WebhookDelivery
from tests.support.harness import (
    APP_TOKEN,
    BOT_TOKEN,
    PLATFORM_TOKEN,
    RATE_SCALE,
    SIGNING_SECRET,
    WEBHOOK_SECRET,
    free_port,
    sign_webhook,
    start_harness,
    wait_for,
)
from tests.support.postgres import create_database


def failed_run(run_id: str) -> dict:
    now = datetime.now(timezone.utc).isoformat()
    step = {
        "id": "step_2",
        "index": 1,
        "name": "Summarise with LLM",
        "type": "llm",
        "status": "failed",
        "error": {
            "code": "provider_timeout",
            "message": "Upstream timed out",
            "provider": "openai",
            "provider_status": 504,
            "retryable": True,
        },
    }
    return {
        "id": run_id,
        "workflow": {"id": "wf_faults", "name": "Fault drill"},
        "status": "failed",
        "created_at": now,
        "started_at": now,
        "completed_at": now,
        "updated_at": now,
        "progress": {"total_steps": 3, "completed_steps": 1},
        "failed_step_id": "step_2",
        "steps": [step],
        "trigger": {"type": "api", "payload": {}},
    }


def webhook(run_id: str) -> tuple[str, str]:
    """(webhook-id, body) of one run.failed event; the same id every time it is (re)delivered."""
    run = failed_run(run_id)
    return f"msg_{run_id}", json.dumps({"type": "run.failed", "timestamp": run["updated_at"], "data": {"run": run}})


async def deliver(
    session: aiohttp.ClientSession, url: str, msg_id: str, body: str, *, timeout: float = 10
) -> int | None:
    """One delivery try, as the platform makes it: the status, or None when there was no answer."""
    try:
        async with session.post(
            f"{url}/webhooks/platform",
            data=body.encode(),
            headers=sign_webhook(body, msg_id=msg_id),
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as resp:
            await resp.read()
            return resp.status
    except (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError):
        return None


async def deliver_until_acknowledged(session, url: str, msg_id: str, body: str, *, within: float = 60) -> int:
    """Redeliver until a 200, as the platform retries; returns how many tries were refused or unanswered."""
    loop = asyncio.get_running_loop()
    deadline, refused = loop.time() + within, 0
    while loop.time() < deadline:
        status = await deliver(session, url, msg_id, body)
        if status == 200:
            return refused
        assert status in (None, 503), f"webhook {msg_id} answered {status}"
        refused += 1
        await asyncio.sleep(0.2)
    raise AssertionError(f"webhook {msg_id} was never acknowledged")


def alerts_per_run(slack: SlackStandIn, run_ids: list[str], channel: str = "C0ALERTS") -> dict[str, int]:
    counts: dict[str, int] = {}
    for message in slack.messages(channel, top_level=True):
        blob = json.dumps({"t": message.text, "b": message.blocks})
        for run_id in run_ids:
            if run_id in blob:
                counts[run_id] = counts.get(run_id, 0) + 1
    return counts


async def processed_ids(sessions) -> set[str]:
    async with sessions() as s:
        return set((await s.scalars(select(WebhookDelivery.id).where(WebhookDelivery.processed_at.is_not(None)))).all())


async def outbox_counts(sessions) -> dict[str, int]:
    async with sessions() as s:
        return dict((await s.execute(select(OutboxItem.status, func.count()).group_by(OutboxItem.status))).all())


# SIGKILL in the middle of a burst ------------------------------------------------------------------------


class BotProcess:
    """`runbot serve` as its own process, killed and restarted on the same database."""

    def __init__(self, env: dict, cwd, name: str):
        self.env, self.cwd, self.name = env, cwd, name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log = open(cwd / f"{name}.log", "a+")

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve"],
            cwd=self.cwd,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**self.env, "PORT": str(self.port)},
        )

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    async def ready(self, session) -> None:
        async def up():
            if self.proc.poll() is not None:
                raise AssertionError(f"bot exited early:\n{self.output()[-3000:]}")
            try:
                async with session.get(f"{self.url}/readyz") as resp:
                    return resp.status == 200
            except aiohttp.ClientError:
                return False

        await wait_for(up, timeout=60, interval=0.2, what=f"{self.name} to be ready")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


async def test_sigkill_mid_burst_then_restart_processes_every_acknowledged_webhook_once(tmp_path):
    """With Slack's per-channel posting rate enforced (on a clock RATE_SCALE times faster, the bot paced to
    match): the kill lands while alerts wait for their slots, and still every run is alerted exactly once."""
    platform = ReferencePlatform(api_token=PLATFORM_TOKEN, webhook_secret=WEBHOOK_SECRET, seed=5, speed=40)
    await platform.start()
    slack = SlackStandIn(
        bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET, app_token=APP_TOKEN, rates=RateRules().scaled(RATE_SCALE)
    )
    await slack.start()
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'runbot.db'}"
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
            "OPERATORS": "U0SANDBOX",
            "APPROVERS": "U0SANDBOX",
            "DATABASE_URL": database_url,
            "HOST": "127.0.0.1",
            "STORM_THRESHOLD": "100000",
            "TRACK_INTERVAL_SECONDS": "1",
            "OUTBOX_BACKOFF_MAX_SECONDS": "1",
            "OUTBOX_CLAIM_SECONDS": "2",
            "MESSAGE_EDIT_INTERVAL_SECONDS": "0.2",
            "OUTBOX_CHANNEL_RATE_PER_SECOND": str(1.0 * RATE_SCALE),
            "OUTBOX_UPDATE_RATE_PER_MINUTE": str(50.0 * RATE_SCALE),
            "LOG_LEVEL": "INFO",
        }
    )
    bot = BotProcess(env, tmp_path, "bot")
    session = aiohttp.ClientSession()
    engine = create_engine(database_url)
    sessions = sessionmaker(engine)
    run_ids = [f"run_Kill{i:04d}" for i in range(160)]
    events = dict(webhook(r) for r in run_ids)
    acknowledged: set[str] = set()
    try:
        bot.start()
        await bot.ready(session)

        async def sender(ids: list[str]) -> None:
            for msg_id in ids:
                if await deliver(session, bot.url, msg_id, events[msg_id], timeout=5) == 200:
                    acknowledged.add(msg_id)

        async def killer() -> None:
            await wait_for(
                lambda: len(acknowledged) >= 40,
                timeout=60,
                interval=0.01,
                what="a part of the burst to be acknowledged",
            )
            bot.kill()
            at_kill.update(alerts_per_run(slack, run_ids))

        at_kill: dict[str, int] = {}
        ids = list(events)
        await asyncio.gather(killer(), *(sender(ids[i::4]) for i in range(4)))
        assert 40 <= len(acknowledged) < len(ids), f"{len(acknowledged)} acknowledged: the kill missed the burst"
        # The kill came while acknowledged alerts still waited behind the channel's posting rate.
        assert len(at_kill) < len(acknowledged), f"{len(at_kill)} of {len(acknowledged)} posted at the kill"

        # Every acknowledged webhook was committed before its 200.
        async with sessions() as s:
            stored = set((await s.scalars(select(WebhookDelivery.id))).all())
        assert acknowledged <= stored, sorted(acknowledged - stored)[:5]

        bot.start()
        await bot.ready(session)
        # The platform redelivers what was not acknowledged, and some of what was.
        again = [m for m in ids if m not in acknowledged] + sorted(acknowledged)[::3]
        await asyncio.gather(*(deliver_until_acknowledged(session, bot.url, m, events[m]) for m in again))

        await wait_for(lambda: _all_processed(sessions, set(ids)), timeout=60, what="every webhook to be processed")
        async with sessions() as s:
            assert await s.scalar(select(func.count()).select_from(WebhookDelivery)) == len(ids)
            failed = await s.scalar(
                select(func.count()).select_from(Run).where(Run.id.in_(run_ids), Run.status == "failed")
            )
            assert failed == len(run_ids)
        await slack.wait_for(lambda s: len(alerts_per_run(s, run_ids)) == len(run_ids), timeout=60)
        await wait_for(lambda: _outbox_empty(sessions), timeout=60, what="the outbox to hold nothing pending")
        counts = alerts_per_run(slack, run_ids)
        assert set(counts.values()) == {1}, {r: c for r, c in counts.items() if c != 1}
        assert (await outbox_counts(sessions)).get("pending", 0) == 0
    finally:
        bot.stop()
        await engine.dispose()
        await session.close()
        await slack.stop()
        await platform.stop()


async def _outbox_empty(sessions) -> bool:
    return (await outbox_counts(sessions)).get("pending", 0) == 0


async def _all_processed(sessions, ids: set[str]) -> bool:
    return await processed_ids(sessions) >= ids


# PostgreSQL restarted under load ------------------------------------------------------------------------


async def test_postgres_restarted_under_load_loses_no_acknowledged_webhook(pg_cluster, pg_admin_url):
    url = await create_database(pg_admin_url, f"runbot_faults_{os.getpid()}")
    h = await start_harness(database_url=url, STORM_THRESHOLD=100000)
    run_ids = [f"run_PgRestart{i:04d}" for i in range(90)]
    events = dict(webhook(r) for r in run_ids)
    refused = 0
    try:

        async def sender(ids: list[str]) -> None:
            nonlocal refused
            for msg_id in ids:
                refused += await deliver_until_acknowledged(h.http, h.bot_url, msg_id, events[msg_id], within=90)
                await asyncio.sleep(0.05)

        async def restart() -> None:
            await asyncio.sleep(0.5)
            await asyncio.get_running_loop().run_in_executor(None, pg_cluster.restart, 2.0)

        ids = list(events)
        await asyncio.gather(restart(), *(sender(ids[i::3]) for i in range(3)))
        assert refused > 0, "no webhook met the restart: the test did not test it"

        await h.wait_for(
            lambda: _all_processed(h.svc.sessions, set(ids)),
            timeout=60,
            what="every acknowledged webhook to be processed",
        )

        async def ready():
            async with h.http.get(f"{h.bot_url}/readyz") as resp:
                return resp.status == 200

        await h.wait_for(ready, timeout=30, what="the bot to be ready again without a restart")
        async with h.svc.sessions() as s:
            assert await s.scalar(select(func.count()).select_from(WebhookDelivery)) == len(ids)
            assert await s.scalar(select(func.count()).select_from(Run).where(Run.id.in_(run_ids))) == len(ids)
        await h.slack.wait_for(lambda s: len(alerts_per_run(s, run_ids)) == len(run_ids), timeout=60)
        await h.settled()
        assert set(alerts_per_run(h.slack, run_ids).values()) == {1}
    finally:
        await h.stop()


# Slack down, the platform down ---------------------------------------------------------------------------


@pytest.mark.parametrize("settings_overrides", [{"STORM_THRESHOLD": 100000}])
async def test_alerts_wait_for_slack_to_come_back_and_arrive_once(harness):
    h = harness
    h.slack.fail_for(503, 3600)  # until the test lifts it
    run_ids = [f"run_SlackDown{i}" for i in range(4)]
    for run_id in run_ids[:2]:
        msg_id, body = webhook(run_id)
        assert await deliver(h.http, h.bot_url, msg_id, body) == 200
    await h.slack.wait_for(
        lambda s: any(c.method == "chat.postMessage" and c.status == 503 for c in s.calls), timeout=30
    )
    assert alerts_per_run(h.slack, run_ids) == {}
    # Then Slack rate-limits for a while: Retry-After is honoured, nothing is dropped.
    h.slack.clear_faults()
    h.slack.fail_for(429, 3600, retry_after=1)
    for run_id in run_ids[2:]:
        msg_id, body = webhook(run_id)
        assert await deliver(h.http, h.bot_url, msg_id, body) == 200
    await h.slack.wait_for(
        lambda s: any(c.method == "chat.postMessage" and c.status == 429 for c in s.calls), timeout=30
    )
    h.slack.clear_faults()
    await h.slack.wait_for(lambda s: len(alerts_per_run(s, run_ids)) == len(run_ids), timeout=60)
    await h.settled()
    assert set(alerts_per_run(h.slack, run_ids).values()) == {1}
    counts = await outbox_counts(h.svc.sessions)
    assert counts.get("pending", 0) == 0 and counts.get("failed", 0) == 0, counts
    async with h.http.get(f"{h.bot_url}/readyz") as resp:
        assert resp.status == 200


async def test_while_the_platform_is_down_users_are_told_and_nothing_is_lost(harness):
    h = harness
    await h.sim("POST", "/sim/stall", {"seconds": 3600, "status": 503})  # until the test ends it
    answer = await h.slack.send_command("logs --severity error")
    assert answer.status == 200

    def told(words: str):
        return lambda s: [e for e in s.ephemerals(user="U0SANDBOX") if words in (e.text or "")]

    down = await h.slack.wait_for(told("could not be reached"), timeout=15)
    assert "platform" in down[0].text and "Traceback" not in down[0].text
    # Webhooks still come while the API is down: the failure is stored and alerted.
    msg_id, body = webhook("run_PlatformDown1")
    assert await deliver(h.http, h.bot_url, msg_id, body) == 200
    await h.slack.wait_for(lambda s: alerts_per_run(s, ["run_PlatformDown1"]), timeout=15)
    # After the outage the same question is answered, with no restart.
    await h.sim("POST", "/sim/stall", {"seconds": 0})
    before = len(h.slack.ephemerals(user="U0SANDBOX"))
    await h.slack.send_command("logs --severity error")
    # The answer replaces its "Working on it…" notice: one new ephemeral, holding the answer.
    await h.slack.wait_for(
        lambda s: (
            len(s.ephemerals(user="U0SANDBOX")) == before + 1
            and "Working on it" not in (s.ephemerals(user="U0SANDBOX")[-1].text or "")
        ),
        timeout=15,
    )
    latest = h.slack.ephemerals(user="U0SANDBOX")[-1]
    assert "could not be reached" not in (latest.text or ""), latest.text
    assert not told("Working on it")(h.slack), "the error earlier replaced its notice too"
    assert alerts_per_run(h.slack, ["run_PlatformDown1"]) == {"run_PlatformDown1": 1}
