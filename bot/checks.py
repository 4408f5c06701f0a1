"""`runbot check`: every setting, then whether Slack, the channels, Socket Mode, the platform and the database
answer as the bot needs, item by item. One failure never hides the other checks: each runs every time.

Each result is (verdict, subject, detail) with verdict OK, WARN or FAIL; `runbot check` exits 1 on any FAIL.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from importlib import resources
from pathlib import Path

import yaml
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings, SettingsError, load_settings
from bot.platform import PlatformClient, PlatformError, PlatformUnreachable, network_reason
from bot.reach import check_rows

Result = tuple[str, str, str]


def load_for_check() -> tuple[Settings, list[Result]]:
    """The settings, with each malformed one reported and replaced by its default so the other checks run."""
    replaced: dict[str, object] = {}
    failures: list[Result] = []
    for _ in range(len(Settings.model_fields) + 1):
        try:
            return load_settings(**replaced), failures
        except SettingsError as exc:
            progress = False
            for line in str(exc).splitlines():
                name, _, detail = line.partition(": ")
                field = Settings.model_fields.get(name)
                if field is None or name in replaced:
                    failures.append(("FAIL", "configuration", line))
                    continue
                failures.append(("FAIL", name, detail))
                replaced[name] = field.get_default(call_default_factory=True)
                progress = True
            if not progress:
                break
    # Unreachable in practice (each round replaces a setting); the defaults still let the other checks run.
    return Settings.model_construct(), failures


def mode_line(settings: Settings) -> Result:
    if settings.mode == "demo":
        return (
            "OK",
            "mode",
            "demo (no SLACK_BOT_TOKEN): `runbot start` runs the sandbox with the reference platform; "
            "`runbot serve` needs the Slack and platform settings (docs/configuration.md)",
        )
    platform = "your platform" if settings.PLATFORM_API_URL else "the reference platform (no PLATFORM_API_URL)"
    how = "Socket Mode" if settings.mode == "socket" else "HTTP (Slack calls PUBLIC_URL)"
    return ("OK", "mode", f"real Slack over {how}, with {platform}")


def required_missing(settings: Settings) -> list[str]:
    """What the chosen mode needs: nothing for the demo; Slack's settings with the reference platform; all else."""
    if settings.mode == "demo":
        return []
    if not settings.PLATFORM_API_URL:
        return [n for n in settings.missing_for_serve() if not n.startswith("PLATFORM_")]
    return settings.missing_for_serve()


def manifest_scopes() -> set[str]:
    manifest = yaml.safe_load(resources.files("bot").joinpath("manifest.yml").read_text())
    return set(manifest["oauth_config"]["scopes"]["bot"])


async def check_slack(settings: Settings) -> list[Result]:
    out: list[Result] = []
    client = AsyncWebClient(
        token=settings.SLACK_BOT_TOKEN, base_url=settings.slack_api_url, timeout=settings.CHECK_TIMEOUT_SECONDS
    )
    try:
        try:
            auth = await client.auth_test()
        except SlackApiError as exc:
            return [("FAIL", "slack", f"auth.test refused the bot token: {exc.response.get('error')}")]
        except Exception as exc:  # noqa: BLE001 - reported in plain words, and the other checks still run
            return [("FAIL", "slack", f"cannot reach Slack at {settings.slack_api_url}: {network_reason(exc)}")]
        team = auth.get("team_id")
        if settings.SLACK_TEAM_ID and team != settings.SLACK_TEAM_ID:
            out.append(("FAIL", "slack", f"the token belongs to workspace {team}, not SLACK_TEAM_ID"))
        else:
            out.append(("OK", "slack", f"bot @{auth.get('user')} in {auth.get('team')} ({team})"))
        out.append(_scopes(auth.headers))
        for name in ("ALERT_CHANNEL", "APPROVAL_CHANNEL"):
            channel = getattr(settings, name)
            if channel and (name == "ALERT_CHANNEL" or channel != settings.ALERT_CHANNEL):
                out.append(await _channel(client, name, channel))
        if settings.SLACK_APP_TOKEN:
            out.append(await _socket_mode(settings))
        # Every channel it posts to (subscriptions too) and what the outbox holds back (bot/reach.py).
        out.extend((status, name, detail) for name, status, detail in await check_rows(settings, client))
    finally:
        if client.session and not client.session.closed:
            await client.session.close()
    return out


def _scopes(headers: dict) -> Result:
    granted_text = next((v for k, v in headers.items() if k.lower() == "x-oauth-scopes"), None)
    if granted_text is None:
        return ("WARN", "slack scopes", "Slack did not name the token's scopes (no X-OAuth-Scopes header)")
    granted = {s.strip() for s in granted_text.split(",") if s.strip()}
    missing = sorted(manifest_scopes() - granted)
    if missing:
        return (
            "FAIL",
            "slack scopes",
            f"the token lacks {', '.join(missing)}: add them from `runbot manifest` and reinstall the app",
        )
    return ("OK", "slack scopes", "the token has every scope the manifest asks for")


async def _channel(client: AsyncWebClient, name: str, channel: str) -> Result:
    try:
        info = (await client.conversations_info(channel=channel))["channel"]
    except SlackApiError as exc:
        error = exc.response.get("error")
        if error == "channel_not_found":
            return ("FAIL", name, f"{channel} not found (or it is private and the bot is not in it)")
        return ("FAIL", name, f"conversations.info refused {channel}: {error}")
    except Exception as exc:  # noqa: BLE001
        return ("FAIL", name, f"cannot ask Slack about {channel}: {network_reason(exc)}")
    label = f"#{info.get('name') or channel}"
    if not info.get("is_member", False):
        if info.get("is_private"):
            return ("FAIL", name, f"the bot is not in the private {label}: invite it (/invite @runbot) to post there")
        return (
            "WARN",
            name,
            f"the bot is not in {label} yet: it joins it when it starts (channels:join), or invite it "
            "(/invite @runbot)",
        )
    try:
        await client.conversations_history(channel=channel, limit=1)
    except SlackApiError as exc:
        return ("FAIL", name, f"the bot cannot read {label}: {exc.response.get('error')}")
    return ("OK", name, f"the bot is in {label} and can post and read there")


async def _socket_mode(settings: Settings) -> Result:
    client = AsyncWebClient(base_url=settings.slack_api_url, timeout=settings.CHECK_TIMEOUT_SECONDS)
    try:
        await client.apps_connections_open(app_token=settings.SLACK_APP_TOKEN)
        return ("OK", "SLACK_APP_TOKEN", "Socket Mode: the app token may open a connection")
    except SlackApiError as exc:
        return ("FAIL", "SLACK_APP_TOKEN", f"apps.connections.open refused the app token: {exc.response.get('error')}")
    except Exception as exc:  # noqa: BLE001
        return ("FAIL", "SLACK_APP_TOKEN", f"cannot reach Slack: {network_reason(exc)}")
    finally:
        if client.session and not client.session.closed:
            await client.session.close()


async def check_platform(settings: Settings) -> list[Result]:
    out: list[Result] = []
    platform = PlatformClient(
        settings.PLATFORM_API_URL,
        settings.PLATFORM_API_TOKEN or "",
        timeout=settings.CHECK_TIMEOUT_SECONDS,
        read_retries=0,
    )
    try:
        workflows = await platform.workflows()
        out.append(("OK", "platform", f"{settings.PLATFORM_API_URL} answers: {len(workflows)} workflows"))
    except PlatformError as exc:
        out.append(("FAIL", "platform", f"{exc.status} {exc.code}: {exc.message}"))
    except PlatformUnreachable as exc:
        cause = exc.__cause__
        reason = network_reason(cause) if cause is not None else str(exc)
        out.append(("FAIL", "platform", f"cannot reach {settings.PLATFORM_API_URL}: {reason}"))
    finally:
        await platform.close()
    if settings.PLATFORM_WEBHOOK_SECRET:
        out.append(webhook_secret_shape(settings.webhook_secrets))
    return out


def webhook_secret_shape(secrets: list[str]) -> Result:
    """Standard Webhooks secrets: whsec_ and the base64 of 24 to 64 random bytes (the value is never shown)."""
    sizes = []
    for secret in secrets:
        try:
            sizes.append(len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)))
        except (binascii.Error, ValueError):
            return ("FAIL", "PLATFORM_WEBHOOK_SECRET", "after whsec_ comes base64, and this is not valid base64")
    if any(not 24 <= n <= 64 for n in sizes):
        return ("FAIL", "PLATFORM_WEBHOOK_SECRET", f"a secret should hold 24 to 64 bytes, not {sizes}")
    return ("OK", "PLATFORM_WEBHOOK_SECRET", f"{len(sizes)} secret(s) of the right shape")


async def check_database(settings: Settings) -> Result:
    from store.db import create_engine, migration_state

    url = settings.DATABASE_URL
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[-1].split("?", 1)[0]
        if path and path != ":memory:" and not Path(path).exists():
            return ("WARN", "database", f"{path} does not exist yet: `runbot db upgrade` or the first start creates it")
    engine = create_engine(url)
    shown = engine.url.render_as_string(hide_password=True)
    try:
        current, head = await asyncio.wait_for(migration_state(engine), timeout=settings.CHECK_TIMEOUT_SECONDS)
    except Exception as exc:  # noqa: BLE001
        reason = network_reason(exc) if isinstance(exc, (OSError, asyncio.TimeoutError)) else type(exc).__name__
        return ("FAIL", "database", f"{shown}: cannot connect ({reason})")
    finally:
        await engine.dispose()
    if current is None:
        return ("WARN", "database", f"{shown}: empty; `runbot db upgrade` or the first start creates the schema")
    if current != head:
        return ("WARN", "database", f"{shown}: at migration {current}, {head} is newer: run `runbot db upgrade`")
    return ("OK", "database", f"{shown}: schema up to date (migration {head})")


async def run_checks(settings: Settings, failures: list[Result] | None = None) -> list[Result]:
    results: list[Result] = list(failures or [])
    results.append(mode_line(settings))
    for name in required_missing(settings):
        results.append(("FAIL", name, "required in this mode, not set"))
    if settings.mode != "demo":
        malformed = {name for _, name, _ in results}
        for name, note in settings.warnings_by_setting():
            if name not in malformed:
                results.append(("WARN", name, note))
        if settings.SLACK_BOT_TOKEN:
            results.extend(await check_slack(settings))
        if settings.PLATFORM_API_URL:
            results.extend(await check_platform(settings))
    results.append(await check_database(settings))
    return results
