"""Run links unfurl: console run pages (`PLATFORM_UI_URL/{workspace}/monitoring/workflow-runs/{id}`, with or
without `#step-…`) shared in a conversation become compact run cards through `chat.unfurl`, keyed by each URL
exactly as shared. The same link in one conversation within UNFURL_DEDUPE_SECONDS is unfurled once; a message
with many run links unfurls the first UNFURL_MAX_PER_MESSAGE."""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import timedelta

from slack_sdk.errors import SlackApiError

from bot.config import Settings
from bot.platform import PlatformError, PlatformUnreachable
from bot.render.unfurl import run_unfurl
from bot.services import Services
from bot.views import view_of_run
from store.receipts import first_receipt

log = logging.getLogger(__name__)

RUN_ID = r"[A-Za-z0-9_-]{1,128}"


def run_link_pattern(settings: Settings) -> re.Pattern:
    base = re.escape(settings.ui_url)
    workspace = re.escape(settings.PLATFORM_WORKSPACE)
    return re.compile(rf"^{base}/{workspace}/monitoring/workflow-runs/({RUN_ID})/?(?:[?#]\S*)?$", re.IGNORECASE)


def run_links(settings: Settings, urls: list[str]) -> list[tuple[str, str]]:
    """(url as shared, run id) of each run-page link among `urls`, in order, each URL once."""
    pattern = run_link_pattern(settings)
    found: list[tuple[str, str]] = []
    for url in urls:
        match = pattern.match(url) if isinstance(url, str) else None
        if match and url not in [u for u, _ in found]:
            found.append((url, match.group(1)))
    return found


def _dedupe_key(channel: str, url: str) -> str:
    return "unfurl:" + hashlib.sha256(f"{channel}\n{url}".encode()).hexdigest()[:64]


async def unfurl_links(svc: Services, event: dict) -> int:
    """Answer one `link_shared` event; returns the number of links unfurled."""
    s = svc.settings
    channel, ts = event.get("channel"), event.get("message_ts")
    urls = [link.get("url") for link in event.get("links") or [] if isinstance(link, dict)]
    links = run_links(s, urls)[: s.UNFURL_MAX_PER_MESSAGE]
    if not links or not isinstance(channel, str) or not isinstance(ts, str):
        return 0
    fresh: list[tuple[str, str]] = []
    async with svc.sessions.begin() as session:
        for url, run_id in links:
            if await first_receipt(
                session, _dedupe_key(channel, url), window=timedelta(seconds=s.UNFURL_DEDUPE_SECONDS)
            ):
                fresh.append((url, run_id))
    if not fresh:
        log.info("run links in %s/%s were unfurled there within the window; not again", channel, ts)
        return 0
    try:
        runs = {r.get("id"): r for r in await svc.platform.runs_by_id(sorted({rid for _, rid in fresh}))}
    except (PlatformError, PlatformUnreachable) as exc:
        log.warning("could not read runs to unfurl in %s/%s: %s", channel, ts, exc)
        return 0
    unfurls = {url: run_unfurl(view_of_run(runs[rid]), s.run_url) for url, rid in fresh if rid in runs}
    if not unfurls:
        return 0
    target = {"channel": channel, "ts": ts}
    if event.get("source") == "composer" and event.get("unfurl_id"):
        target = {"unfurl_id": event["unfurl_id"], "source": "composer"}
    try:
        await svc.slack.chat_unfurl(**target, unfurls=unfurls)
    except SlackApiError as exc:
        svc.metrics.slack_calls.labels("unfurl", "failed").inc()
        log.warning("Slack refused the unfurl of %d run link(s) in %s/%s: %s", len(unfurls), channel, ts, exc)
        return 0
    svc.metrics.slack_calls.labels("unfurl", "ok").inc()
    log.info("unfurled %d run link(s) in %s/%s", len(unfurls), channel, ts)
    return len(unfurls)
