"""`runbot manifest`: every scope, event, command, shortcut and unfurl domain the code uses, and nothing it does
not; the request URLs from PUBLIC_URL, or none in Socket Mode; a warning for an unfurl domain Slack cannot use."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from bot.config import load_settings
from bot.manifest import SCOPES_BY_EVENT, SCOPES_BY_FEATURE, SCOPES_BY_METHOD, render_manifest
from handlers import register_listeners
from tests.test_cli import runbot

ROOT = Path(__file__).resolve().parent.parent
# Web API calls through slack_sdk's client, however the client is named (svc.slack, client, self.client).
CALL = re.compile(r"\b(?:slack|client)\.((?:chat|views|conversations|users|usergroups|auth|reactions|apps)_\w+)\(")


def manifest_for(**values) -> tuple[dict, list[str]]:
    text, warnings = render_manifest(load_settings(_env_file=None, **values))
    return yaml.safe_load(text), warnings


class RecordingApp:
    """Stands where Bolt's AsyncApp stands in `register_listeners`, recording what each listener listens to."""

    def __init__(self):
        self.listened: dict[str, set[str]] = {}

    def _record(self, kind: str, key):
        self.listened.setdefault(kind, set()).add(key if isinstance(key, str) else key.pattern)
        return lambda func: func

    def event(self, event, *args, **kwargs):
        return self._record("event", event if isinstance(event, str) else event["type"])

    def command(self, command, *args, **kwargs):
        return self._record("command", command)

    def shortcut(self, constraints, *args, **kwargs):
        return self._record("shortcut", constraints if isinstance(constraints, str) else constraints["callback_id"])

    def action(self, constraints, *args, **kwargs):
        return self._record("action", constraints if not isinstance(constraints, dict) else constraints["action_id"])

    def view(self, constraints, *args, **kwargs):
        return self._record("view", constraints if not isinstance(constraints, dict) else constraints["callback_id"])

    def options(self, constraints, *args, **kwargs):
        return self._record("options", constraints)

    def middleware(self, func):
        return func

    def error(self, func):
        return func

    def use(self, func):
        return func


def test_the_manifest_names_every_event_command_and_shortcut_the_app_listens_to_and_no_other(tmp_path):
    app = RecordingApp()
    register_listeners(app, _FakeServices())
    manifest, _ = manifest_for(PUBLIC_URL="https://bot.acme.test", PLATFORM_API_URL="https://console.acme.test")
    assert set(manifest["settings"]["event_subscriptions"]["bot_events"]) == app.listened.get("event", set())
    assert {c["command"] for c in manifest["features"]["slash_commands"]} == app.listened.get("command", set())
    shortcuts = {s["callback_id"] for s in manifest["features"].get("shortcuts") or []}
    assert shortcuts == app.listened.get("shortcut", set())


def test_the_manifest_asks_for_exactly_the_scopes_the_code_needs():
    called = set()
    for path in [*ROOT.glob("bot/**/*.py"), *ROOT.glob("handlers/**/*.py")]:
        called |= set(CALL.findall(path.read_text()))
    assert "chat_unfurl" in called and "chat_postMessage" in called  # the scan sees the calls
    unknown = called - SCOPES_BY_METHOD.keys()
    assert not unknown, f"Web API methods with no scopes listed in bot/manifest.py: {unknown}"
    manifest, _ = manifest_for(PUBLIC_URL="https://bot.acme.test", PLATFORM_API_URL="https://console.acme.test")
    needed = set().union(*(SCOPES_BY_METHOD[m] for m in called))
    needed |= set().union(*(SCOPES_BY_EVENT[e] for e in manifest["settings"]["event_subscriptions"]["bot_events"]))
    needed |= set().union(*(SCOPES_BY_FEATURE[f] for f in manifest["features"] if f in SCOPES_BY_FEATURE))
    assert set(manifest["oauth_config"]["scopes"]["bot"]) == needed


def test_request_urls_come_from_public_url_and_the_unfurl_domain_from_the_console_url():
    manifest, warnings = manifest_for(
        PUBLIC_URL="https://bot.acme.test",
        PLATFORM_API_URL="http://platform:8080",
        PLATFORM_UI_URL="https://console.acme.test/",
    )
    assert warnings == []
    assert manifest["features"]["unfurl_domains"] == ["console.acme.test"]
    assert manifest["settings"]["event_subscriptions"]["request_url"] == "https://bot.acme.test/slack/events"
    assert manifest["settings"]["interactivity"]["request_url"] == "https://bot.acme.test/slack/events"
    assert manifest["settings"]["socket_mode_enabled"] is False
    assert {"links:read", "links:write"} <= set(manifest["oauth_config"]["scopes"]["bot"])
    assert "link_shared" in manifest["settings"]["event_subscriptions"]["bot_events"]


def test_socket_mode_needs_no_request_urls():
    manifest, _ = manifest_for(
        SLACK_APP_TOKEN="xapp-1-A0-1-abc",
        PUBLIC_URL="https://bot.acme.test",
        PLATFORM_UI_URL="https://console.acme.test",
    )
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert "request_url" not in manifest["settings"]["event_subscriptions"]
    assert "request_url" not in manifest["settings"]["interactivity"]
    assert all("url" not in c for c in manifest["features"]["slash_commands"])
    assert manifest["settings"]["event_subscriptions"]["bot_events"]  # the events are still subscribed


def test_a_loopback_console_url_is_warned_about(tmp_path):
    result = runbot(["manifest"], {"PLATFORM_UI_URL": "http://127.0.0.1:8080"}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "warning: PLATFORM_UI_URL's host 127.0.0.1 is a loopback address Slack cannot unfurl" in result.stderr
    assert yaml.safe_load(result.stdout)["features"]["unfurl_domains"] == ["127.0.0.1"]


class _FakeServices:
    """`register` reads settings from the services it is given; nothing here is called."""

    def __init__(self):
        self.settings = load_settings(_env_file=None)
