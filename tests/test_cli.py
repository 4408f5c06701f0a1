"""The `runbot` command: serve's start-up errors, check's verdicts, manifest, db upgrade; serve without the
reference servers installed, and what `runbot start` says it simulates."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys

import aiohttp
import pytest
import yaml

from reference.platform import ReferencePlatform
from reference.slack import SlackStandIn
from tests.support.harness import BOT_TOKEN, PLATFORM_TOKEN, SIGNING_SECRET, WEBHOOK_SECRET, free_port, wait_for

# A `sitecustomize` for a child Python: its import system refuses the `reference` package as if it were not
# installed, and notes each attempt in REFUSED_IMPORTS_LOG.
REFUSE_REFERENCE = """
import os
import sys


class RefuseReference:
    def find_spec(self, name, path=None, target=None):
        if name == "reference" or name.startswith("reference."):
            with open(os.environ["REFUSED_IMPORTS_LOG"], "a") as log:
                log.write(name + "\\n")
            raise ModuleNotFoundError(f"No module named {name!r} (refused by the test)", name=name)
        return None


sys.meta_path.insert(0, RefuseReference())
"""
COMMANDS = ("serve", "start", "demo", "db", "sync", "manifest", "platform", "check")


def clean_env(env_extra=None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("SLACK_", "PLATFORM_", "DATABASE_", "OPERATORS", "APPROVERS", "PUBLIC_URL", "PORT", "HOST", "LOG_")
        )
    }
    env.update(env_extra or {})
    return env


def runbot(args, env_extra=None, cwd=None, timeout=60):
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        env=clean_env(env_extra),
        cwd=cwd,
        timeout=timeout,
    )


async def start_runbot(args, env_extra, cwd) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=cwd,
        env=clean_env(env_extra),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def stop_runbot(proc: asyncio.subprocess.Process) -> int:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 30)
        except TimeoutError:
            proc.kill()
            await proc.wait()
    return proc.returncode


@pytest.fixture
async def http():
    async with aiohttp.ClientSession() as session:
        yield session


def test_serve_names_each_missing_setting_on_one_line(tmp_path):
    result = runbot(["serve"], {"SLACK_BOT_TOKEN": BOT_TOKEN}, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert [line.split()[1] for line in lines] == [
        "SLACK_SIGNING_SECRET",
        "PLATFORM_API_URL",
        "PLATFORM_API_TOKEN",
        "PLATFORM_WEBHOOK_SECRET",
    ]


def test_socket_mode_does_not_require_a_signing_secret(tmp_path):
    result = runbot(["serve"], {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": "xapp-1"}, cwd=tmp_path)
    assert "SLACK_SIGNING_SECRET" not in result.stderr and "PLATFORM_API_URL" in result.stderr


def test_a_malformed_setting_stops_start_up_with_one_line_naming_it(tmp_path):
    result = runbot(["serve"], {"TRACK_INTERVAL_SECONDS": "often"}, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("runbot: TRACK_INTERVAL_SECONDS:")
    result = runbot(["serve"], {"WORKFLOW_OWNERS": "wf_a"}, cwd=tmp_path)
    assert "WORKFLOW_OWNERS" in result.stderr and "workflow_id=U1,S2" in result.stderr
    result = runbot(["serve"], {"PLATFORM_WEBHOOK_SECRET": "hunter2-value"}, cwd=tmp_path)
    assert "PLATFORM_WEBHOOK_SECRET: expected whsec_" in result.stderr
    assert "hunter2-value" not in result.stderr  # a malformed secret is named, never shown


def test_settings_are_read_from_a_dotenv_file(tmp_path):
    (tmp_path / ".env").write_text("PUBLIC_URL=https://bot.acme.test\n")
    result = runbot(["manifest"], cwd=tmp_path)
    assert result.returncode == 0
    manifest = yaml.safe_load(result.stdout)
    assert manifest["settings"]["interactivity"]["request_url"] == "https://bot.acme.test/slack/events"
    assert manifest["features"]["slash_commands"][0]["url"] == "https://bot.acme.test/slack/events"
    assert manifest["features"]["slash_commands"][0]["command"] == "/runs"
    assert "commands" in manifest["oauth_config"]["scopes"]["bot"]


def test_db_upgrade_creates_the_schema(tmp_path):
    db = tmp_path / "x.db"
    result = runbot(["db", "upgrade"], {"DATABASE_URL": f"sqlite+aiosqlite:///{db}"}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    import sqlite3

    tables = {r[0] for r in sqlite3.connect(db).execute("select name from sqlite_master where type='table'")}
    assert {"runs", "approvals", "webhook_deliveries", "outbox", "audit", "subscriptions"} <= tables


async def test_check_passes_against_reachable_slack_and_platform(harness, tmp_path):
    h = harness
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": h.slack.api_url,
        "PLATFORM_API_URL": h.platform.base_url,
        "PLATFORM_API_TOKEN": PLATFORM_TOKEN,
        "PLATFORM_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "OPERATORS": "U0ANA",
        "APPROVERS": "U0ANA",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/c.db",
    }
    fresh = await asyncio.to_thread(runbot, ["check"], env, tmp_path)
    assert "WARN  database: " in fresh.stdout and "does not exist yet" in fresh.stdout
    assert (await asyncio.to_thread(runbot, ["db", "upgrade"], env, tmp_path)).returncode == 0
    ok = await asyncio.to_thread(runbot, ["check"], env, tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    for item in ("slack", "slack scopes", "platform", "PLATFORM_WEBHOOK_SECRET", "database"):
        assert f"OK    {item}: " in ok.stdout, ok.stdout
    bad = await asyncio.to_thread(
        runbot, ["check"], {**env, "PLATFORM_API_TOKEN": "wrong-token", "SLACK_BOT_TOKEN": "xoxb-wrong"}, tmp_path
    )
    assert bad.returncode == 1
    assert "FAIL  slack: auth.test refused the bot token: invalid_auth" in bad.stdout
    assert "FAIL  platform: 401" in bad.stdout
    assert "wrong-token" not in bad.stdout


def test_check_with_no_settings_is_the_demo_and_leaves_no_database_behind(tmp_path):
    result = runbot(["check"], cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    assert result.stdout.startswith("OK    mode: demo") and "FAIL" not in result.stdout
    assert "WARN  database: ./runbot.db does not exist yet" in result.stdout
    assert list(tmp_path.iterdir()) == [], "check must not create the database it checks"


def test_check_reports_every_item_even_after_a_malformed_setting(tmp_path):
    env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "OPERATORS": "U1"}
    env |= {"SLACK_API_URL": "http://runbot-check.invalid/api/", "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/w.db"}
    result = runbot(["check"], env, cwd=tmp_path)
    assert result.returncode == 1
    out = result.stdout
    assert "FAIL  OPERATORS: not a Slack user or group ID: U1 (too short" in out
    assert "WARN  OPERATORS" not in out, "a malformed setting is not also called empty"
    assert "WARN  APPROVERS: is empty" in out and "WARN  ALERT_CHANNEL: is not set" in out
    assert "WARN  APPROVAL_CHANNEL: is not set" in out
    # Slack's settings alone are the README's "real Slack, reference platform" mode: no PLATFORM_* is required.
    assert "FAIL  PLATFORM_" not in out and "with the reference platform" in out
    assert "FAIL  slack: cannot reach Slack at http://runbot-check.invalid/api/: the host name does not resolve" in out
    assert "DNSError" not in out and "ssl:" not in out
    assert "WARN  database:" in out, "the database is still checked"


async def test_check_names_missing_scopes_unknown_channels_and_socket_mode(harness, tmp_path):
    h = harness
    h.slack.scopes.remove("channels:history")
    h.slack.kick("C0GENERAL")  # the bot left #general
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_APP_TOKEN": "xapp-not-the-app-token",
        "SLACK_API_URL": h.slack.api_url,
        "ALERT_CHANNEL": "C0ALERTS",
        "APPROVAL_CHANNEL": "C0NOSUCH",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/s.db",
    }
    outside = (await asyncio.to_thread(runbot, ["check"], {**env, "ALERT_CHANNEL": "C0GENERAL"}, tmp_path)).stdout
    assert (
        "WARN  ALERT_CHANNEL: the bot is not in #general yet: it joins it when it starts (channels:join), "
        "or invite it (/invite @runbot)" in outside
    )
    out = (await asyncio.to_thread(runbot, ["check"], env, tmp_path)).stdout
    assert "FAIL  slack scopes: the token lacks channels:history" in out
    # Without channels:history Slack refuses the read itself (the strict stand-in checks scopes as Slack does).
    assert "FAIL  ALERT_CHANNEL: the bot cannot read #run-alerts: missing_scope" in out
    assert "FAIL  APPROVAL_CHANNEL: C0NOSUCH not found" in out
    assert "FAIL  SLACK_APP_TOKEN: apps.connections.open refused the app token: invalid_auth" in out
    assert "xapp-not-the-app-token" not in out


def test_every_command_has_a_one_line_description_and_platform_has_its_own_help():
    overview = runbot(["--help"])
    assert overview.returncode == 0, overview.stderr
    described = dict(re.findall(r"^    (\w+) +(\S.*)$", overview.stdout, re.M))
    assert set(described) == set(COMMANDS), overview.stdout
    start = runbot(["start", "--help"])
    assert start.returncode == 0 and re.search(r"--port PORT +\S", start.stdout), start.stdout
    platform = runbot(["platform", "--help"])
    assert platform.returncode == 0, platform.stderr
    assert platform.stdout.startswith("usage: runbot platform") and "--webhook-url" in platform.stdout
    assert runbot(["serve", "--no-such-option"]).returncode == 2, "other commands still refuse unknown options"


@pytest.mark.parametrize("command", ["serve", "start"])
async def test_the_bot_serves_where_the_reference_package_is_not_installed(command, tmp_path, http):
    refusing = tmp_path / "refuse-reference"
    refusing.mkdir()
    (refusing / "sitecustomize.py").write_text(REFUSE_REFERENCE)
    attempts = tmp_path / "refused-imports.log"
    isolation = {"PYTHONPATH": str(refusing), "REFUSED_IMPORTS_LOG": str(attempts)}
    probe = runbot(["platform", "--help"], isolation, cwd=tmp_path)
    assert probe.returncode != 0 and "No module named 'reference'" in probe.stderr, "the isolation works"
    attempts.unlink()

    slack = SlackStandIn(bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET)
    platform = ReferencePlatform(api_token=PLATFORM_TOKEN, webhook_secret=WEBHOOK_SECRET)
    await slack.start()
    await platform.start()
    port = free_port()
    env = {
        **isolation,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "PLATFORM_API_URL": platform.base_url,
        "PLATFORM_API_TOKEN": PLATFORM_TOKEN,
        "PLATFORM_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/serve.db",
        "HOST": "127.0.0.1",
        "LOG_LEVEL": "INFO",
    }
    if command == "serve":
        proc = await start_runbot(["serve"], {**env, "PORT": str(port)}, tmp_path)
    else:
        proc = await start_runbot(["start", "--port", str(port)], env, tmp_path)
    try:

        async def healthy():
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    return resp.status == 200 and (await resp.json())["ok"] is True
            except aiohttp.ClientConnectionError:
                assert proc.returncode is None, "runbot exited before it served"
                return False

        await wait_for(healthy, timeout=60, what=f"`runbot {command}` to answer /healthz")
        await wait_for(lambda: platform._stats["GET /v1/runs"] > 0, timeout=30, what="the bot's first sync")
    finally:
        assert await stop_runbot(proc) == 0
        await platform.stop()
        await slack.stop()
    stderr = (await proc.stderr.read()).decode()
    assert not attempts.exists(), f"`runbot {command}` tried to import {attempts.read_text().split()}"
    if command == "start":
        assert stderr.splitlines()[0].endswith("runbot start: nothing simulated: real Slack and the real platform")


async def test_runbot_start_first_says_that_the_platform_and_slack_are_simulated(tmp_path):
    proc = await start_runbot(["start"], {"PORT": str(free_port()), "LOG_LEVEL": "INFO"}, tmp_path)
    try:
        first = (await asyncio.wait_for(proc.stderr.readline(), 60)).decode()
        banner = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
    finally:
        assert await stop_runbot(proc) == 0
    assert "runbot start: SIMULATED platform (reference" in first and "SIMULATED Slack (stand-in" in first, first
    assert "open http://127.0.0.1:" in banner and "/sandbox/" in banner, "and it is the sandbox"


async def test_runbot_start_with_slack_settings_and_no_platform_says_only_the_platform_is_simulated(tmp_path):
    their_slack = SlackStandIn(bot_token="xoxb-their-workspace", signing_secret="their-signing-secret")
    await their_slack.start()
    env = {
        "SLACK_BOT_TOKEN": "xoxb-their-workspace",
        "SLACK_SIGNING_SECRET": "their-signing-secret",
        "SLACK_API_URL": their_slack.api_url,
        "ALERT_CHANNEL": "C0ALERTS",
        "HOST": "127.0.0.1",
        "PORT": str(free_port()),
        "LOG_LEVEL": "INFO",
    }
    proc = await start_runbot(["start"], env, tmp_path)
    try:
        first = (await asyncio.wait_for(proc.stderr.readline(), 60)).decode()
        banner = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
    finally:
        assert await stop_runbot(proc) == 0
        await their_slack.stop()
    assert "runbot start: SIMULATED platform (reference" in first and "REAL Slack" in first, first
    assert "SIMULATED Slack" not in first
    assert "connected to your Slack" in banner and "reference platform" in banner


def test_manifest_enables_socket_mode_with_an_app_token_and_warns_without_a_public_url(tmp_path):
    http_mode = runbot(["manifest"], cwd=tmp_path)
    assert yaml.safe_load(http_mode.stdout)["settings"]["socket_mode_enabled"] is False
    assert "PUBLIC_URL is not set" in http_mode.stderr and "Slack refuses" in http_mode.stderr
    socket = runbot(["manifest"], {"SLACK_APP_TOKEN": "xapp-1-A0-1-abc"}, cwd=tmp_path)
    assert yaml.safe_load(socket.stdout)["settings"]["socket_mode_enabled"] is True
    assert socket.stderr == ""
    assert "xapp-1-A0-1-abc" not in socket.stdout


def test_serve_without_settings_does_not_call_itself_demo_mode(tmp_path):
    result = runbot(["serve"], cwd=tmp_path)
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN is required for `runbot serve` (see" in result.stderr
    assert "demo mode" not in result.stderr


async def test_check_gives_up_on_a_platform_slower_than_check_timeout_seconds(harness, tmp_path):
    h = harness
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": h.slack.api_url,
        "PLATFORM_API_URL": h.platform.base_url,
        "PLATFORM_API_TOKEN": PLATFORM_TOKEN,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/c.db",
    }
    await h.sim("POST", "/sim/stall", {"seconds": 8})  # /v1 calls hang until 8 s from now, then are answered
    try:
        quick = await asyncio.to_thread(runbot, ["check"], {**env, "CHECK_TIMEOUT_SECONDS": "1"}, tmp_path)
        assert "FAIL  platform: cannot reach" in quick.stdout, quick.stdout
        await h.sim("POST", "/sim/stall", {"seconds": 6})
        patient = await asyncio.to_thread(runbot, ["check"], env, tmp_path)  # the default waits 10 s
        assert "OK    platform: " in patient.stdout, patient.stdout
    finally:
        await h.sim("POST", "/sim/stall", {"seconds": 0})
