"""Housekeeping: prune old deliveries and finished runs; the daily digest."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import delete

from bot.contract import TERMINAL
from bot.services import Services
from store.models import OutboxItem, Run, Step, WebhookDelivery, utcnow

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


async def daily_digest(svc: Services) -> None:
    return None
