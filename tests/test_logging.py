"""Logs of a real `runbot serve`: `LOG_FORMAT=json` gives one JSON object a line, and every configured secret,
the Socket Mode app token included, is masked wherever it would appear."""

from __future__ import annotations

import json

import pytest

from reference.slack import SlackStandIn
from tests.support.harness import APP_TOKEN, BOT_TOKEN, PLATFORM_TOKEN, SIGNING_SECRET, WEBHOOK_SECRET, free_port
from tests.support.processes import Process, clean_env

SECRETS = [BOT_TOKEN, APP_TOKEN, SIGNING_SECRET, PLATFORM_TOKEN, WEBHOOK_SECRET, WEBHOOK_SECRET.removeprefix("whsec_")]


@pytest.fixture
async def slack():
    s = SlackStandIn(bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET, app_token=APP_TOKEN)
    await s.start()
    yield s
    await s.stop()


async def test_json_logs_with_every_secret_masked(tmp_path, slack):
    # A platform URL that carries the app token and answers nothing: tracking logs its failure, URL and all.
    platform_url = f"http://127.0.0.1:{free_port()}/{APP_TOKEN}"
    env = clean_env(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_APP_TOKEN=APP_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack.api_url,
        PLATFORM_API_URL=platform_url,
        PLATFORM_API_TOKEN=PLATFORM_TOKEN,
        PLATFORM_WEBHOOK_SECRET=WEBHOOK_SECRET,
        ALERT_CHANNEL="C0ALERTS",
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'logs.db'}",
        HOST="127.0.0.1",
        PORT=str(free_port()),
        TRACK_INTERVAL_SECONDS="0.5",
        TRACK_BACKOFF_MAX_SECONDS="0.5",
        LOG_FORMAT="json",
        LOG_LEVEL="DEBUG",
    )
    proc = Process(["-m", "bot", "serve"], env=env, cwd=tmp_path, name="serve")
    try:
        await slack.wait_for_socket(timeout=60)
        await proc.wait_output(r"tracking cycle failed", timeout=60)
    finally:
        proc.stop()
    output = proc.output()
    for secret in SECRETS:
        assert secret not in output, f"{secret[:8]}… appears in the log"
    entries = [json.loads(line) for line in output.splitlines() if line.strip()]
    assert entries and all({"time", "level", "logger", "message"} <= set(e) for e in entries)
    failures = [e for e in entries if "tracking cycle failed" in e["message"]]
    assert failures and all(e["level"] == "WARNING" and e["logger"] == "bot.scheduler" for e in failures)
    assert "127.0.0.1" in failures[0]["message"] and "/***" in failures[0]["message"], failures[0]
    assert any("runbot serving on 127.0.0.1" in e["message"] for e in entries)
