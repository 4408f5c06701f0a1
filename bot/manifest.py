"""The Slack app manifest `runbot manifest` prints: the shipped `bot/manifest.yml` with the request URLs from
PUBLIC_URL, the unfurl domain from PLATFORM_UI_URL, and the Socket Mode variant when SLACK_APP_TOKEN is set.
`SCOPES_BY_METHOD` and `SCOPES_BY_EVENT` say why each scope is there (tests hold the manifest to them)."""

from __future__ import annotations

import ipaddress
import re
from importlib import resources
from urllib.parse import urlsplit

from bot.config import Settings

MANIFEST = "manifest.yml"  # shipped inside the `bot` package; the repository's top-level file links to it
TEMPLATE_URL = "https://runbot.example.com"
TEMPLATE_UNFURL_DOMAIN = "console.example.com"

# The scopes each Web API method the bot calls needs (slack_sdk method names).
SCOPES_BY_METHOD: dict[str, set[str]] = {
    "auth_test": set(),
    "apps_connections_open": set(),  # with the app-level token (connections:write), not a bot scope
    "chat_postMessage": {"chat:write", "chat:write.public"},
    "chat_update": {"chat:write"},
    "chat_postEphemeral": {"chat:write"},
    "chat_unfurl": {"links:write"},
    "conversations_history": {"channels:history", "groups:history", "im:history"},
    "conversations_replies": {"channels:history", "groups:history", "im:history"},
    "conversations_open": {"im:write"},
    "conversations_join": {"channels:join"},
    "conversations_info": {"channels:read", "groups:read"},
    "users_info": {"users:read"},
    "users_conversations": {"channels:read", "groups:read"},
    "usergroups_users_list": {"usergroups:read"},
    "views_open": set(),
    "views_update": set(),
    "views_push": set(),
    "views_publish": set(),
}
SCOPES_BY_EVENT: dict[str, set[str]] = {
    "app_home_opened": set(),
    "link_shared": {"links:read"},
    "member_joined_channel": {"channels:read", "groups:read"},
}
SCOPES_BY_FEATURE: dict[str, set[str]] = {"slash_commands": {"commands"}, "shortcuts": {"commands"}}


def unfurl_domain(settings: Settings) -> str | None:
    """The host Slack unfurls for the app (the manifest's `unfurl_domains`): the console's host."""
    return (urlsplit(settings.ui_url).hostname or "").lower() or None


def is_loopback(domain: str | None) -> bool:
    """Slack cannot unfurl a loopback or unqualified host."""
    if not domain:
        return True
    try:
        return ipaddress.ip_address(domain).is_loopback
    except ValueError:
        return domain == "localhost" or domain.endswith(".localhost") or "." not in domain


def render_manifest(settings: Settings) -> tuple[str, list[str]]:
    """The manifest for these settings, and the warnings to print beside it."""
    text = resources.files("bot").joinpath(MANIFEST).read_text()
    warnings: list[str] = []
    domain = unfurl_domain(settings)
    if domain and is_loopback(domain):
        warnings.append(
            f"PLATFORM_UI_URL's host {domain} is a loopback address Slack cannot unfurl: "
            "set PLATFORM_UI_URL to the console's public URL for run links to unfurl"
        )
    if domain:
        text = text.replace(TEMPLATE_UNFURL_DOMAIN, domain)
    else:
        text = re.sub(r"(?m)^  unfurl_domains:\n(    - .*\n)+", "", text)
    if settings.SLACK_APP_TOKEN:
        # Socket Mode: Slack sends every request over the socket; no request URL is needed.
        text = re.sub(rf"(?m)^\s+(url|request_url): {re.escape(TEMPLATE_URL)}/slack/events\n", "", text)
        text = text.replace("socket_mode_enabled: false", "socket_mode_enabled: true")
    return text.replace(TEMPLATE_URL, settings.public_url), warnings
