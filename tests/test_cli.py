"""The `runbot` command: serve's start-up errors, check's verdicts, manifest, db upgrade."""

from __future__ import annotations

import os
import subprocess
import sys

import yaml

from tests.support.harness import BOT_TOKEN, PLATFORM_TOKEN, SIGNING_SECRET, WEBHOOK_SECRET


def runbot(args, env_extra=None, cwd=None, timeout=60):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLACK_", "PLATFORM_", "DATABASE_", "OPERATORS", "APPROVERS", "PUBLIC_URL"))}
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=timeout)


def test_serve_names_each_missing_setting_on_one_line(tmp_path):
    result = runbot(["serve"], {"SLACK_BOT_TOKEN": BOT_TOKEN}, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert [line.split()[1] for line in lines] == ["SLACK_SIGNING_SECRET", "PLATFORM_API_URL", "PLATFORM_API_TOKEN",
                                                   "PLATFORM_WEBHOOK_SECRET"]


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
    env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": h.slack.api_url,
           "PLATFORM_API_URL": h.platform.base_url, "PLATFORM_API_TOKEN": PLATFORM_TOKEN,
           "PLATFORM_WEBHOOK_SECRET": WEBHOOK_SECRET, "OPERATORS": "U0ANA", "APPROVERS": "U0ANA",
           "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/c.db"}
    import asyncio

    ok = await asyncio.to_thread(runbot, ["check"], env, tmp_path)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "OK    slack" in ok.stdout and "OK    platform" in ok.stdout and "OK    database" in ok.stdout
    bad = await asyncio.to_thread(runbot, ["check"], {**env, "PLATFORM_API_TOKEN": "wrong-token",
                                                      "SLACK_BOT_TOKEN": "xoxb-wrong"}, tmp_path)
    assert bad.returncode == 1
    assert "FAIL  slack: auth.test refused: invalid_auth" in bad.stdout
    assert "FAIL  platform: 401" in bad.stdout
    assert "wrong-token" not in bad.stdout


def test_check_warns_on_empty_operators_without_failing_the_configuration(tmp_path):
    result = runbot(["check"], {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/w.db"}, cwd=tmp_path)
    assert "WARN  warning: OPERATORS is empty" in result.stdout
    assert result.returncode == 1  # the required settings are missing
    assert "FAIL  SLACK_BOT_TOKEN: required, not set" in result.stdout
