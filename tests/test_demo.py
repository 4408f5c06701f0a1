"""`runbot demo` / `make run` wiring, without a browser: the reference platform, the bot and the Slack
stand-in with its sandbox, started together; and real Slack with the reference platform beside the bot."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from bot.config import SettingsError, load_settings
from bot.demo import start_demo
from reference.slack import SlackStandIn
from tests.support.harness import free_port, wait_for

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def demo(tmp_path):
    pieces = await start_demo(
        load_settings(_env_file=None),
        fixed_ports=False,
        speed=10.0,
        seed=5,
        demo_interval_seconds=4.0,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}",
        TRACK_INTERVAL_SECONDS=1.0,
        MESSAGE_EDIT_INTERVAL_SECONDS=0.2,
    )
    try:
        yield pieces
    finally:
        await pieces.stop()


async def get_json(http, url: str) -> dict:
    async with http.get(url) as resp:
        assert resp.status == 200, f"GET {url} -> {resp.status}"
        return await resp.json()


async def test_the_demo_serves_the_bot_and_the_sandbox_shows_a_bot_alert_in_run_alerts(demo, http):
    assert (await get_json(http, f"{demo.bot_url}/healthz"))["ok"] is True

    s = demo.settings
    assert s.mode == "http" and s.SLACK_API_URL == demo.slack.api_url
    assert s.PLATFORM_API_URL == demo.platform.base_url == s.PLATFORM_UI_URL
    assert demo.platform.webhook_url == f"{demo.bot_url}/webhooks/platform"
    assert demo.slack.bot_url == demo.bot_url
    assert (s.ALERT_CHANNEL, s.APPROVAL_CHANNEL) == ("C0ALERTS", "C0APPROVALS")
    assert "U0SANDBOX" in s.OPERATORS and "U0SANDBOX" in s.APPROVERS
    assert demo.banner() == f"runbot sandbox ready: open {demo.slack.base_url}/sandbox/  (Ctrl-C to stop)"

    async def alert_in_run_alerts():
        state = await get_json(http, f"{demo.slack.base_url}/sandbox/api/state")
        alerts = next(c for c in state["channels"] if c["name"] == "run-alerts")
        return [m for m in alerts["messages"] if m.get("bot_id")]

    messages = await wait_for(alert_in_run_alerts, timeout=30, what="a bot message in #run-alerts")
    assert messages[0]["blocks"], "the alert is Block Kit, rendered by the sandbox"


async def test_the_demo_asks_to_confirm_approving_the_sample_spend(demo):
    def payout_card(s):
        return next((m for m in s.messages("C0APPROVALS") if "Pay 3 vendors" in json.dumps(m.blocks or [])), None)

    card = await demo.slack.wait_for(payout_card, timeout=30)
    buttons = [e for b in card.blocks if b["type"] == "actions" for e in b["elements"]]
    approve = next(e for e in buttons if e.get("action_id") == "approval_approve")
    assert "$18,250" in approve["confirm"]["text"]["text"], "a spend approval asks once more"


async def test_the_sandbox_page_and_its_permalinks_are_served_by_the_stand_in(demo, http):
    base = demo.slack.base_url
    async with http.get(f"{base}/sandbox", allow_redirects=False) as resp:
        assert resp.status == 302 and resp.headers["Location"] == "/sandbox/"
    for path in ("/sandbox/", "/sandbox/archives/C0ALERTS/p1700000000123456"):
        async with http.get(base + path) as resp:
            assert resp.status == 200
            page = await resp.text()
            assert "/sandbox/static/app.js" in page and "<title>runbot sandbox</title>" in page
    for asset in ("app.js", "app.css"):
        async with http.get(f"{base}/sandbox/static/{asset}") as resp:
            assert resp.status == 200 and len(await resp.read()) > 1000
    async with http.post(
        f"{demo.slack.api_url}auth.test", headers={"Authorization": f"Bearer {demo.settings.SLACK_BOT_TOKEN}"}
    ) as resp:
        assert (await resp.json())["url"] == f"{base}/sandbox/"


async def test_the_sandbox_event_stream_announces_changes(demo, http):
    async with http.get(f"{demo.slack.base_url}/sandbox/api/events") as resp:
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        first = await asyncio.wait_for(resp.content.readuntil(b"\n\n"), 10)
        version = int(re.search(rb"data: (\d+)", first).group(1))
        demo.slack.add_message("C0GENERAL", "hello from a test")
        while True:
            chunk = await asyncio.wait_for(resp.content.readuntil(b"\n\n"), 10)
            found = re.search(rb"event: version\ndata: (\d+)", chunk)
            if found and int(found.group(1)) > version:
                break


async def test_a_slash_command_typed_in_the_sandbox_reaches_the_bot_signed(demo, http):
    async with http.post(
        f"{demo.slack.base_url}/sandbox/api/command", json={"text": "/runs help", "channel": "C0GENERAL"}
    ) as resp:
        assert (await resp.json())["ok"] is True
    command = next(i for i in demo.slack.interactions if i.kind == "slash_command")
    assert command.status == 200 and command.payload["text"] == "help" and command.payload["user_id"] == "U0SANDBOX"
    async with http.post(f"{demo.slack.base_url}/sandbox/api/command", json={"text": "runs help"}) as resp:
        assert resp.status == 400 and "starts with /" in (await resp.json())["message"]
    sent = len(demo.slack.interactions)
    async with http.post(f"{demo.slack.base_url}/sandbox/api/command", json={"text": "/run failed"}) as resp:
        body = await resp.json()
    assert body["error"] == "invalid_command" and body["message"].startswith("/run is not a valid command.")
    assert len(demo.slack.interactions) == sent, "Slack answers a command the app does not have; the bot never sees it"


async def test_with_slack_settings_and_no_platform_the_reference_platform_starts_beside_the_bot(tmp_path, http):
    their_slack = SlackStandIn(bot_token="xoxb-their-workspace", signing_secret="their-signing-secret")
    await their_slack.start()
    settings = load_settings(
        _env_file=None,
        SLACK_BOT_TOKEN="xoxb-their-workspace",
        SLACK_SIGNING_SECRET="their-signing-secret",
        SLACK_API_URL=their_slack.api_url,
        ALERT_CHANNEL="C0ALERTS",
        HOST="127.0.0.1",
    )
    pieces = await start_demo(
        settings,
        fixed_ports=False,
        speed=10.0,
        seed=5,
        demo_interval_seconds=4.0,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'real.db'}",
        TRACK_INTERVAL_SECONDS=1.0,
    )
    try:
        assert pieces.slack is None and pieces.sandbox_url is None
        assert pieces.settings.SLACK_BOT_TOKEN == "xoxb-their-workspace"
        assert pieces.settings.PLATFORM_API_URL == pieces.platform.base_url
        assert pieces.settings.PLATFORM_WEBHOOK_SECRET.startswith("whsec_")
        assert pieces.platform.webhook_url == f"{pieces.bot_url}/webhooks/platform"
        assert "reference platform" in pieces.banner() and pieces.platform.base_url in pieces.banner()
        async with http.post(f"{pieces.bot_url}/slack/events", data="{}") as resp:
            assert resp.status == 401, "the bot serves Slack's requests, signed with their signing secret"
        await their_slack.wait_for(lambda s: [m for m in s.messages("C0ALERTS") if m.is_bot], timeout=30)
    finally:
        await pieces.stop()
        await their_slack.stop()


async def test_slack_settings_without_a_way_in_are_refused(tmp_path):
    settings = load_settings(_env_file=None, SLACK_BOT_TOKEN="xoxb-their-workspace")
    with pytest.raises(SettingsError, match="SLACK_APP_TOKEN .* or SLACK_SIGNING_SECRET"):
        await start_demo(settings, fixed_ports=False, database_url=f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")


async def test_runbot_demo_prints_one_line_with_the_url_and_stops_cleanly_on_sigterm(tmp_path, http):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "PLATFORM_", "DATABASE_URL"))}
    port = free_port()
    env.update(PORT=str(port), PYTHONPATH=str(ROOT), LOG_LEVEL="WARNING")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "demo",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        url = re.search(r"open (http://127\.0\.0\.1:\d+/sandbox/)", line)
        assert url, f"expected the sandbox URL, got {line!r}"
        async with http.get(url.group(1)) as resp:
            assert resp.status == 200
        async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
            assert resp.status == 200, "the bot listens on PORT"
        assert (tmp_path / "demo.db").exists(), "the demo keeps its store in ./demo.db"
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
        rest = (await proc.stdout.read()).decode()
        assert rest.strip() == "", f"only one line is printed, then: {rest!r}"
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


def test_sandbox_state_is_json_serialisable_without_message_metadata():
    from reference.sandbox import Sandbox

    stand_in = SlackStandIn(bot_token="xoxb-x", signing_secret="s")
    stand_in.base_url = "http://127.0.0.1:9"
    stand_in.add_message("C0ALERTS", "hi", metadata={"event_type": "runbot_outbox", "event_payload": {"id": 1}})
    state = Sandbox(stand_in).state()
    json.dumps(state)
    alerts = next(c for c in state["channels"] if c["id"] == "C0ALERTS")
    assert alerts["messages"][0]["text"] == "hi" and "metadata" not in alerts["messages"][0]
    assert [c["id"] for c in state["channels"] if c["is_app_dm"]] == ["D0SANDBOX"]
