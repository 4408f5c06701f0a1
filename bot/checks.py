"""`runbot check`: each part of the configuration, and whether Slack, the platform and the database answer."""

from __future__ import annotations

import asyncio

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.platform import PlatformClient, PlatformError, PlatformUnreachable
from bot.reach import check_rows
from store.db import create_engine, ping


async def run_checks(settings: Settings) -> list[tuple[str, str, str]]:
    results: list[tuple[str, str, str]] = [("configuration", "OK", f"{settings.mode} mode")]
    for name in settings.missing_for_serve():
        results.append((name, "FAIL", "required, not set"))
    for warning in settings.warnings():
        results.append(("warning", "WARN", warning))

    if settings.SLACK_BOT_TOKEN:
        client = AsyncWebClient(token=settings.SLACK_BOT_TOKEN, base_url=settings.slack_api_url, timeout=10)
        try:
            auth = await client.auth_test()
            team = auth.get("team_id")
            if settings.SLACK_TEAM_ID and team != settings.SLACK_TEAM_ID:
                results.append(("slack", "FAIL", f"token belongs to workspace {team}, not SLACK_TEAM_ID"))
            else:
                results.append(("slack", "OK", f"auth.test: bot {auth.get('user')} in {auth.get('team')} ({team})"))
                results.extend(await check_rows(settings, client))
        except SlackApiError as exc:
            results.append(("slack", "FAIL", f"auth.test refused: {exc.response.get('error')}"))
        except Exception as exc:  # network errors name no secret
            results.append(("slack", "FAIL", f"cannot reach Slack at {settings.slack_api_url}: {type(exc).__name__}"))
        finally:
            if client.session and not client.session.closed:
                await client.session.close()

    if settings.PLATFORM_API_URL:
        platform = PlatformClient(
            settings.PLATFORM_API_URL, settings.PLATFORM_API_TOKEN or "", timeout=5, read_retries=0
        )
        try:
            workflows = await platform.workflows()
            results.append(("platform", "OK", f"{settings.PLATFORM_API_URL}: {len(workflows)} workflows"))
        except PlatformError as exc:
            results.append(("platform", "FAIL", f"{exc.status} {exc.code}: {exc.message}"))
        except PlatformUnreachable as exc:
            results.append(("platform", "FAIL", str(exc)))
        finally:
            await platform.close()

    engine = create_engine(settings.DATABASE_URL)
    try:
        await asyncio.wait_for(ping(engine), timeout=5)
        results.append(("database", "OK", engine.url.render_as_string(hide_password=True)))
    except Exception as exc:
        results.append(("database", "FAIL", f"{engine.url.render_as_string(hide_password=True)}: {type(exc).__name__}"))
    finally:
        await engine.dispose()
    return results
