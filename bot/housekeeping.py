"""Housekeeping: prune old deliveries, finished runs and sent outbox rows past RETENTION_DAYS; the daily
digest of yesterday's failures."""

from __future__ import annotations

import logging
from datetime import timedelta

from datetime import datetime

from slack_sdk.models.blocks import ContextBlock, HeaderBlock, MarkdownTextObject, SectionBlock
from sqlalchemy import delete, func, select

from bot import outbox
from bot.render.common import escape
from store.queries import failure_channels

from bot.contract import TERMINAL
from bot.services import Services
from store.models import OutboxItem, Run, SlackMessage, Step, WebhookDelivery, utcnow

log = logging.getLogger(__name__)


async def prune(svc: Services) -> dict:
    cutoff = utcnow() - timedelta(days=svc.settings.RETENTION_DAYS)
    async with svc.sessions.begin() as session:
        deliveries = (await session.execute(delete(WebhookDelivery).where(
            WebhookDelivery.received_at < cutoff, WebhookDelivery.processed_at.is_not(None)))).rowcount
        old = Run.__table__.c
        runs = (await session.execute(delete(Run).where(old.status.in_(TERMINAL), old.updated_at < cutoff)
                                      .returning(Run.id))).scalars().all()
        if runs:
            await session.execute(delete(Step).where(Step.run_id.in_(runs)))
        outbox = (await session.execute(delete(OutboxItem).where(OutboxItem.status == "sent",
                                                                  OutboxItem.sent_at < cutoff))).rowcount
    summary = {"deliveries": deliveries, "runs": len(runs), "outbox": outbox}
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
        rows = (await session.execute(
            select(Run.workflow_id, Run.workflow_name, Run.error_code, func.count())
            .where(Run.status == "failed", Run.completed_at >= start, Run.completed_at < end)
            .group_by(Run.workflow_id, Run.workflow_name, Run.error_code))).all()
        by_channel: dict[str, list] = {}
        for workflow_id, workflow_name, code, count in rows:
            for channel in await failure_channels(session, svc.settings, workflow_id):
                by_channel.setdefault(channel, []).append((workflow_id, workflow_name, code or "unknown", count))
        subject = start.date().isoformat()
        done = set((await session.scalars(select(SlackMessage.channel).where(
            SlackMessage.kind == "digest", SlackMessage.subject == subject))).all())
        for channel, entries in by_channel.items():
            if channel in done:
                continue  # the digest job ran already today (a restart, or another replica)
            payload = render_digest(entries, start, svc.settings)
            await outbox.post(session, channel=channel, payload=payload, kind="digest",
                              subject=subject)
            posts += 1
    if posts:
        svc.deliverer.kick()
    log.info("daily digest for %s: %d channel(s)", start.date(), posts)
    return posts


def render_digest(entries: list[tuple[str, str, str, int]], day: datetime, settings) -> dict:
    per_workflow: dict[tuple[str, str], int] = {}
    per_code: dict[str, int] = {}
    for workflow_id, name, code, count in entries:
        per_workflow[(workflow_id, name)] = per_workflow.get((workflow_id, name), 0) + count
        per_code[code] = per_code.get(code, 0) + count
    total = sum(per_code.values())
    workflows = sorted(per_workflow.items(), key=lambda kv: (-kv[1], kv[0][1]))[:15]
    codes = sorted(per_code.items(), key=lambda kv: (-kv[1], kv[0]))[:5]
    lines = "\n".join(f"• *{escape(name)}* (`{wid}`): {n} failure{'s' if n != 1 else ''}" for (wid, name), n in workflows)
    top = ", ".join(f"`{code}` ×{n}" for code, n in codes)
    title = f"Daily digest for {day.date().isoformat()}: {total} failed run{'s' if total != 1 else ''}"
    blocks = [
        HeaderBlock(text=title[:150]).to_dict(),
        SectionBlock(text=MarkdownTextObject(text=lines[:3000] or "No failures.")).to_dict(),
        ContextBlock(elements=[MarkdownTextObject(text=f"Top error codes: {top}"[:2000])]).to_dict(),
        ContextBlock(elements=[MarkdownTextObject(text="Find them with `/runs failed --since 2d`")]).to_dict(),
    ]
    return {"text": f"{title}. Top error codes: {top}", "blocks": blocks}
