"""One platform event (from a webhook or found by tracking) becomes a change of state in the store, and
the Slack posts it causes are written to the outbox in the same transaction."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from bot import alerts, watches
from bot.approvals import reactions as approvals
from bot.runs import RunChange, merge_approval, merge_run, merge_step
from bot.services import Services
from store.models import Run

log = logging.getLogger(__name__)


async def on_run(session: AsyncSession, svc: Services, run_data: dict, *, source: str,
                 actor: str | None = None) -> RunChange:
    """A run state arrived: merge it and act on what changed, as if its webhook had come.
    `actor` is the Slack user whose action produced this state (a replay started from Slack)."""
    change = await merge_run(session, run_data, known_workflows=svc.known_workflows)
    change.actor = actor
    await react(session, svc, change, source=source)
    return change


async def react(session: AsyncSession, svc: Services, change: RunChange, *, source: str) -> None:
    if not change.changed:
        return
    await alerts.on_run_change(session, svc, change, source=source)
    await approvals.on_run_change(session, svc, change)
    await watches.on_run_change(session, svc, change)


async def apply_event(session: AsyncSession, svc: Services, event_type: str, data: dict) -> None:
    if event_type == "run.step.updated":
        change = await merge_step(session, data["run"], data["step"],
                                  known_workflows=svc.known_workflows)
        await react(session, svc, change, source="webhook")
    elif event_type.startswith("run."):
        await on_run(session, svc, data["run"], source="webhook")
    elif event_type.startswith("approval."):
        await on_run(session, svc, data["run"], source="webhook")
        await on_approval(session, svc, data["approval"], source="webhook")
    else:
        log.info("ignoring platform event of unknown type %r", event_type)


async def on_approval(session: AsyncSession, svc: Services, task_data: dict, *, source: str) -> None:
    task, old_status = await merge_approval(session, task_data)
    await approvals.on_task_change(session, svc, task, old_status, source=source)


async def on_found_approval(session: AsyncSession, svc: Services, task_data: dict, *, source: str) -> None:
    """A pending task found by listing (tracking, sync): its run is fetched first when the store lacks it."""
    if await session.get(Run, task_data["run_id"]) is None:
        await on_run(session, svc, await svc.platform.get_run(task_data["run_id"]), source=source)
    await on_approval(session, svc, task_data, source=source)
