"""Budgets (off by default): a run whose cost crosses `BUDGET_RUN_USD`, or a workflow whose runs started on one
UTC day cross `BUDGET_WORKFLOW_DAILY_USD` together, gets one notification in `ALERT_CHANNEL`, in the
transaction of the change that crossed it. "Once" is a claim in the store, so a redelivered event, a poll and
a second replica all find it taken."""

from __future__ import annotations

import hashlib

from sqlalchemy import func, select

from bot import outbox
from bot.render.budget import run_budget_message, workflow_budget_message
from bot.services import Services
from store import rollups
from store.db import insert_for
from store.models import CostRollup, KeyValue


def micros(dollars: float | None) -> int | None:
    return None if dollars is None else round(dollars * 1_000_000)


async def _claim(session, subject: str) -> bool:
    """True for the one transaction that first notifies about `subject`."""
    key = "budget:" + hashlib.sha256(subject.encode()).hexdigest()[:48]
    insert = insert_for(session)(KeyValue).values(key=key, value={"subject": subject[:200]})
    result = await session.execute(insert.on_conflict_do_nothing(index_elements=["key"]))
    return result.rowcount == 1


async def on_run_change(session, svc: Services, change) -> None:
    s = svc.settings
    run = change.run
    channel = s.ALERT_CHANNEL
    if not change.changed or run.cost_micros is None or not channel:
        return
    run_budget = micros(s.BUDGET_RUN_USD)
    if run_budget is not None and run.cost_micros >= run_budget and await _claim(session, f"run:{run.id}"):
        payload = run_budget_message(
            run_id=run.id,
            workflow=run.workflow_name,
            status=run.status,
            cost_micros=run.cost_micros,
            budget_micros=run_budget,
            run_url=s.run_url,
        )
        await outbox.post(session, channel=channel, payload=payload, kind="budget", subject=f"run:{run.id}"[:256])
    daily = micros(s.BUDGET_WORKFLOW_DAILY_USD)
    if daily is None:
        return
    day = run.created_at.date()
    await rollups.flush(session)  # a batch's held shifts count (bot/ingest.py)
    spent = await session.scalar(
        select(func.coalesce(func.sum(CostRollup.cost_micros), 0)).where(
            CostRollup.day == day, CostRollup.workflow_id == run.workflow_id
        )
    )
    subject = f"wf:{run.workflow_id}:{day.isoformat()}"
    if int(spent or 0) >= daily and await _claim(session, subject):
        payload = workflow_budget_message(
            workflow=run.workflow_name,
            day=day.isoformat(),
            spent_micros=int(spent),
            budget_micros=daily,
            run_id=run.id,
            status=run.status,
            run_url=s.run_url,
        )
        await outbox.post(session, channel=channel, payload=payload, kind="budget", subject=subject[:256])
