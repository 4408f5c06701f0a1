"""`runbot sync` and `runbot start` as an operator runs them: real processes, real HTTP."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import pytest
from sqlalchemy import select

from reference.platform import ReferencePlatform
from reference.slack import SlackStandIn
from store.db import create_engine
from store.models import Approval, Run
from tests.support.harness import BOT_TOKEN, PLATFORM_TOKEN, SIGNING_SECRET, WEBHOOK_SECRET, free_port
from tests.support.processes import Process, clean_env


@pytest.fixture
async def platform():
    p = ReferencePlatform(api_token=PLATFORM_TOKEN, webhook_secret=WEBHOOK_SECRET, seed=5, speed=40)
    await p.start()
    yield p
    await p.stop()


@pytest.fixture
async def slack():
    s = SlackStandIn(bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET)
    await s.start()
    yield s
    await s.stop()


async def test_runbot_sync_fills_an_empty_store_from_the_platform(tmp_path, platform, slack):
    failed = platform.create_run(workflow="wf_invoices", outcome="fail", frozen=True, status="failed")
    waiting = platform.create_run(workflow="wf_refunds", frozen=True, status="waiting")
    database = tmp_path / "synced.db"
    # In a thread: the reference platform answering the process runs on this test's event loop.
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bot", "sync"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        env=clean_env(
            PLATFORM_API_URL=platform.base_url,
            PLATFORM_API_TOKEN=PLATFORM_TOKEN,
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_API_URL=slack.api_url,
            ALERT_CHANNEL="C0ALERTS",
            APPROVAL_CHANNEL="C0APPROVALS",
            DATABASE_URL=f"sqlite+aiosqlite:///{database}",
        ),
    )
    assert result.returncode == 0, result.stderr
    assert "synced 2 runs and 1 pending approvals" in result.stdout, result.stdout
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    try:
        async with engine.connect() as conn:
            runs = dict((await conn.execute(select(Run.id, Run.status))).all())
            approvals = (await conn.execute(select(Approval.run_id, Approval.status))).all()
    finally:
        await engine.dispose()
    assert runs == {failed.id: "failed", waiting.id: "waiting"}
    assert approvals == [(waiting.id, "pending")]


async def test_runbot_sync_without_the_platform_names_what_is_missing(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "bot", "sync"], capture_output=True, text=True, cwd=tmp_path, timeout=60, env=clean_env()
    )
    assert result.returncode == 2
    assert "PLATFORM_API_URL, PLATFORM_API_TOKEN, SLACK_BOT_TOKEN required for `runbot sync`" in result.stderr
    assert "Traceback" not in result.stderr


async def test_runbot_start_serves_when_slack_and_the_platform_are_configured(tmp_path, platform):
    port = free_port()
    env = clean_env(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL="http://127.0.0.1:9/api/",
        PLATFORM_API_URL=platform.base_url,
        PLATFORM_API_TOKEN=PLATFORM_TOKEN,
        PLATFORM_WEBHOOK_SECRET=WEBHOOK_SECRET,
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'start.db'}",
        HOST="127.0.0.1",
        PORT=str(port),
    )
    proc = Process(["-m", "bot", "start"], env=env, cwd=tmp_path, name="start")
    try:
        ready = await proc.wait_http(f"http://127.0.0.1:{port}/readyz")
        assert ready["ready"] is True and ready["checks"]["database"]["dialect"] == "sqlite"
        assert "runbot serving on 127.0.0.1" in proc.output()
        assert "sandbox" not in proc.output()
    finally:
        proc.stop()


async def test_runbot_start_without_settings_starts_the_sandbox(tmp_path):
    port = free_port()
    proc = Process(
        ["-m", "bot", "start", "--port", str(port)],
        env=clean_env(DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"),
        cwd=tmp_path,
        name="demo",
    )
    try:
        url = (await proc.wait_output(r"runbot sandbox ready: open (\S+)")).group(1)
        page = await proc.wait_http(url)
        assert "<html" in page.lower()
        assert "alembic" not in proc.output(), "the migrations' setup lines do not bury the URL line"
    finally:
        proc.stop()
