"""Housekeeping: prune old deliveries, finished runs and sent outbox rows past RETENTION_DAYS; the daily
digest of yesterday's failures."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from bot import outbox
from bot.contract import TERMINAL
from bot.render.digest import digest_message
from bot.render.spend import digest_spend_line, with_spend_line
from bot.services import Services
from store import deliveries, messages, rollups, runs
from store import lifecycle as lifecycle_rows
from store import outbox as outbox_rows
from store.models import utcnow
from store.queries import failure_channels

log = logging.getLogger(__name__)


async def prune(svc: Services) -> dict:
    cutoff = utcnow() - timedelta(days=svc.settings.RETENTION_DAYS)
    async with svc.sessions.begin() as session:
        summary = {
            "deliveries": await deliveries.prune_processed(session, cutoff),
            "runs": await runs.prune_runs(session, statuses=TERMINAL, cutoff=cutoff),
            "outbox": await outbox_rows.prune_sent(session, cutoff),
            "cost_rollup_rows": await rollups.prune(
                session, before=(utcnow() - timedelta(days=svc.settings.COST_ROLLUP_RETENTION_DAYS)).date()
            ),
            "handling": await lifecycle_rows.prune(session, cutoff),
        }
    log.info("housekeeping pruned %s", summary)
    return summary


async def daily_digest(svc: Services, *, now: datetime | None = None) -> int:
    """Yesterday's failures (UTC) per workflow and the top error codes, to each channel that receives
    failure alerts (ALERT_CHANNEL and the channels subscribed to failures). Returns the posts queued."""
    now = now or utcnow()
    end = now.replace(hour=0, minute=0, second=0, microsecond=0)
    start = end - timedelta(days=1)
    posts = 0
    async with svc.sessions.begin() as session:
        by_channel: dict[str, list] = {}
        for workflow_id, workflow_name, code, count in await runs.failure_counts(session, start, end):
            for channel in await failure_channels(session, svc.settings, workflow_id):
                by_channel.setdefault(channel, []).append((workflow_id, workflow_name, code or "unknown", count))
        subject = start.date().isoformat()
        done = await messages.channels_with(session, "digest", subject)
        spend = await rollups.day_rows(session, start.date())
        for channel, entries in by_channel.items():
            if channel in done:
                continue  # the digest job ran already today (a restart, or another replica)
            mine = {e[0] for e in entries}
            rows = spend if channel == svc.settings.ALERT_CHANNEL else [r for r in spend if r[0] in mine]
            payload = with_spend_line(digest_message(entries, start), digest_spend_line(rows))
            await outbox.post(session, channel=channel, payload=payload, kind="digest", subject=subject)
            posts += 1
    log.info("daily digest for %s: %d channel(s)", start.date(), posts)
    return posts
