"""One platform event (from a webhook or found by tracking) becomes a change of state in the store, and
the Slack posts it causes are written to the outbox in the same transaction. Events arrive validated
(`bot/contract.py`); answers of the platform's API that callers hold as JSON are validated here, once."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from bot import alerts, budgets, watches
from bot.approvals import reactions as approvals
from bot.contract import ApprovalData, ApprovalModel, EventData, RunModel, StepData, approval_of, run_of
from bot.runs import RunChange, merge_approval, merge_run, merge_step, merge_steps
from bot.services import Services
from store.models import Run

log = logging.getLogger(__name__)


async def on_run(
    session: AsyncSession, svc: Services, run: RunModel | dict, *, source: str, actor: str | None = None
) -> RunChange:
    """A run state arrived: merge it and act on what changed, as if its webhook had come.
    `actor` is the Slack user whose action produced this state (a replay started from Slack)."""
    change = await merge_run(session, run_of(run), known_workflows=svc.known_workflows)
    change.actor = actor
    await react(session, svc, change, source=source)
    return change


async def react(session: AsyncSession, svc: Services, change: RunChange, *, source: str) -> None:
    if not change.changed:
        return
    await alerts.on_run_change(session, svc, change, source=source)
    await approvals.on_run_change(session, svc, change)
    await approvals.refresh_homes(session, svc, change)  # before watches: a finished run's watchers are dropped
    await watches.on_run_change(session, svc, change)
    await budgets.on_run_change(session, svc, change)


async def apply_event(session: AsyncSession, svc: Services, event_type: str, data: EventData | None) -> None:
    """A stored webhook's event, its `data` validated for its type (None: a type this bot does not know)."""
    if isinstance(data, StepData):
        change = await merge_step(session, data.run, data.step, known_workflows=svc.known_workflows)
        await react(session, svc, change, source="webhook")
    elif isinstance(data, ApprovalData):
        await on_run(session, svc, data.run, source="webhook")
        await on_approval(session, svc, data.approval, source="webhook")
    elif data is not None:
        await on_run(session, svc, data.run, source="webhook")
    else:
        log.info("ignoring platform event of unknown type %r", event_type)


async def apply_steps(session: AsyncSession, svc: Services, events: list[StepData]) -> None:
    """Step updates of one run, one status, in arrival order (a batch of stored webhooks): one merge and one
    reaction to the state they end in, the same state and reactions as applying each in turn (the status
    changes at most once; the alert, budget and App Home reactions act on the state the run ends in)."""
    change = await merge_steps(session, events, known_workflows=svc.known_workflows)
    if change is None:
        for data in events:
            await apply_event(session, svc, "run.step.updated", data)
        return
    await react(session, svc, change, source="webhook")


async def on_approval(session: AsyncSession, svc: Services, task: ApprovalModel | dict, *, source: str) -> None:
    stored, old_status = await merge_approval(session, approval_of(task))
    await approvals.on_task_change(session, svc, stored, old_status, source=source)


async def on_found_approval(session: AsyncSession, svc: Services, task: ApprovalModel, *, source: str) -> None:
    """A pending task found by listing (tracking, sync): its run is fetched first when the store lacks it."""
    if await session.get(Run, task.run_id) is None:
        await on_run(session, svc, await svc.platform.get_run(task.run_id), source=source)
    await on_approval(session, svc, task, source=source)
