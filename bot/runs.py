"""Runs in the store: merge what the platform says (a webhook or a poll) by the run's own `updated_at`,
so a late or reordered event never rolls the state back, and report what changed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.contract import (
    ACTIVE,
    ApprovalModel,
    RunModel,
    StepData,
    StepModel,
    WorkflowRef,
    as_json,
    first_failed_step,
)
from store import approvals as stored_tasks
from store import rollups
from store import runs as stored
from store.models import Approval, Run


@dataclass
class RunChange:
    run: Run
    old_status: str | None  # None: the store did not know the run
    new_status: str
    changed: bool  # False when the incoming state was not newer than the stored one
    actor: str | None = None  # the Slack user whose action caused this state, when known

    @property
    def is_new(self) -> bool:
        return self.old_status is None

    @property
    def status_changed(self) -> bool:
        return self.changed and self.old_status != self.new_status


_UNREAD = object()  # merge_run reads the stored run itself
SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,30}$")


def _cut(value: Any, limit: int) -> Any:
    """Descriptive text the platform sends may be of any length; the store's columns are not."""
    return value[:limit] if isinstance(value, str) else value


def _workflow_name(workflow: WorkflowRef) -> str:
    return _cut(workflow.name or workflow.id, 256)


def _failed_step(data: dict) -> dict[str, Any]:
    """The columns of the step a failed run's alert and list line name (None: no step failed, or none known)."""
    failed = first_failed_step(data)
    if not failed:
        return {"error_code": None, "failed_step_index": None, "failed_step_name": None}
    index = failed.get("index")
    return {
        "error_code": _cut((failed.get("error") or {}).get("code"), 64),
        "failed_step_index": index if isinstance(index, int) and not isinstance(index, bool) else None,
        "failed_step_name": _cut(failed.get("name") or failed.get("id"), 256),
    }


def _steps_changed(run: Run, steps: list) -> None:
    """The stored run's steps are now `steps` (its state unchanged): its failed step's columns follow them."""
    run.data = {**run.data, "steps": steps}
    for column, value in _failed_step(run.data).items():
        setattr(run, column, value)


def _values(model: RunModel, data: dict) -> dict[str, Any]:
    """The run row's columns from the validated run; `data` is its JSON, with the steps the store keeps."""
    trigger = model.trigger
    actor_id = trigger.actor.slack_user_id if trigger and trigger.actor else None
    usage = model.usage
    completed_at = model.completed_at
    if model.status == "failed" and completed_at is None:
        completed_at = model.updated_at
    return {
        "workflow_id": model.workflow.id,
        "workflow_name": _workflow_name(model.workflow),
        "status": model.status,
        "created_at": model.created_at,
        "started_at": model.started_at,
        "completed_at": completed_at,
        "updated_at": model.updated_at,
        "duration_ms": model.duration_ms,
        "trigger_type": _cut(trigger.type if trigger else None, 16),
        "actor_slack_id": actor_id if actor_id and SLACK_USER.match(actor_id) else None,
        "total_steps": model.progress.total_steps if model.progress else 0,
        "completed_steps": model.progress.completed_steps if model.progress else 0,
        "model": _cut(model.model, 128),
        "failed_step_id": model.failed_step_id,
        "replay_of": model.replay_of,
        **_failed_step(data),
        "cost_micros": round(usage.cost_usd * 1_000_000) if usage and usage.cost_usd is not None else None,
        "input_tokens": usage.input_tokens if usage else None,
        "output_tokens": usage.output_tokens if usage else None,
        "data": data,
    }


def _apply(run: Run, model: RunModel, data: dict) -> None:
    for column, value in _values(model, data).items():
        setattr(run, column, value)


def _fold(steps: list[dict], step: dict) -> list[dict]:
    folded = [s for s in steps if s.get("id") != step.get("id")] + [step]
    folded.sort(key=lambda s: s.get("index", 0))
    return folded


async def merge_run(
    session: AsyncSession,
    model: RunModel,
    *,
    known_workflows: set[str] | None = None,
    step: StepModel | None = None,
    folded: tuple[StepModel, ...] = (),
    late: tuple[StepModel, ...] = (),
    existing: Run | None | object = _UNREAD,
) -> RunChange:
    """Store the platform's run unless the store already holds a state as new or newer.
    `step` (a `run.step.updated` event's step) is folded into the run's steps, the stored ones when the
    event's run carries none; `folded` are the steps of earlier step events of the same run merged in the
    same call (`merge_steps`), folded in before `step`, and `late` those of its events that were not newer (kept
    only when the steps lack them); `existing` the stored run when the caller read it
    locked already (None: the store lacks it)."""
    data = as_json(model)
    if "steps" in data and data["steps"] is None:
        del data["steps"]  # `"steps": null` says no more than no steps
    incoming = model.updated_at
    steps = {s.id: s for s in model.steps or []}
    run = await stored.locked_run(session, model.id) if existing is _UNREAD else existing
    created = False
    if run is None:
        # A new run: its whole row in one INSERT. A webhook and a poll (or a replay's answer) merging the same new
        # run at once both succeed: the second waits for the first's row, then merges onto it as below.
        new = _with_steps(data, [], steps, folded, step)
        run, created = await stored.insert_run_if_absent(
            session, {"id": model.id, "alerted": False, **_values(model, new)}
        )
        if created:
            await rollups.shift(session, None, rollups.contribution(run))
            if "steps" in new:
                await _store_steps(session, run.id, new["steps"], None, steps)
            await _save_workflow(session, model.workflow, known_workflows)
            return RunChange(run, None, run.status, changed=True)
    if step is not None:
        data = _with_steps(data, (run.data or {}).get("steps"), steps, folded, step)
    if not created and incoming <= run.updated_at:
        if "steps" in data and "steps" not in (run.data or {}) and incoming == run.updated_at:
            _steps_changed(run, data["steps"])
            await _store_steps(session, run.id, data["steps"], None, steps)
        elif step is not None:
            # An older state says nothing new of the run, but a step the store does not know is kept (the newer
            # state came without it): the steps end the same whichever of the two came first.
            known = (run.data or {}).get("steps")
            added = _with_missing(known, (*late, *folded, step), steps)
            if added is not None:
                _steps_changed(run, added)
                await _store_steps(session, run.id, added, known, steps)
        return RunChange(run, run.status, run.status, changed=False)
    old_status = None if created else run.status
    old_steps = None if created else (run.data or {}).get("steps")
    if not created and "steps" not in data and "steps" in (run.data or {}):
        # Lists may omit steps: keep the ones we know.
        data = {**data, "steps": run.data["steps"]}
    if late and "steps" in data:
        data = {**data, "steps": _with_missing(data["steps"], late, steps) or data["steps"]}
    before = None if created else rollups.contribution(run)
    _apply(run, model, data)
    await rollups.shift(session, before, rollups.contribution(run))
    if "steps" in data:
        await _store_steps(session, run.id, data["steps"], old_steps, steps)
    await _save_workflow(session, model.workflow, known_workflows)
    return RunChange(run, old_status, run.status, changed=True)


def _with_missing(known: list[dict] | None, candidates: tuple, models: dict) -> list[dict] | None:
    """`known` with those of the steps whose id it lacks folded in (the first of each id), or None: none lacked."""
    folded = list(known or [])
    ids = {s.get("id") for s in folded}
    for s in candidates:
        if s.id not in ids:
            ids.add(s.id)
            models[s.id] = s
            folded = _fold(folded, as_json(s))
    return folded if len(folded) > len(known or []) else None


def _with_steps(data: dict, stored_steps, models: dict, folded: tuple, step: StepModel | None) -> dict:
    """`data` with the step events' steps folded in (into the run's own steps, else the stored ones)."""
    if step is None:
        return data
    known = list(data.get("steps") or stored_steps or [])
    for s in (*folded, step):
        models[s.id] = s
        known = _fold(known, as_json(s))
    return {**data, "steps": known}


async def _save_workflow(session: AsyncSession, workflow: WorkflowRef, known_workflows: set[str] | None) -> None:
    if known_workflows is None or workflow.id not in known_workflows:
        await stored.save_workflow(session, workflow.id, _workflow_name(workflow))
        if known_workflows is not None:
            known_workflows.add(workflow.id)


async def merge_step(session: AsyncSession, run: RunModel, step: StepModel, **kw: Any) -> RunChange:
    """A `run.step.updated` event: the run state, with the step folded into its steps."""
    return await merge_run(session, run, step=step, **kw)


async def merge_steps(session: AsyncSession, events: list[StepData], **kw: Any) -> RunChange | None:
    """Several `run.step.updated` events of one run (in arrival order, runs without `steps`, one status) merged
    in one call, ending in the state `merge_step` called on each in turn ends in: the run is the newest state
    that is newer than the one before it (stored, or accepted earlier in the list), and every such state's step
    is folded into the steps in turn; a state not newer adds its step only when the steps lack it. None (nothing written) when a state
    is exactly as new as the one before it: the caller then merges each on its own."""
    run = await stored.locked_run(session, events[0].run.id)
    newest = None if run is None else run.updated_at
    accepted: list[StepData] = []
    late: list[StepModel] = []
    for e in events:
        if newest is not None and e.run.updated_at == newest:
            return None  # `merge_run` has a case of its own for an equal state: keep it
        if newest is None or e.run.updated_at > newest:
            accepted.append(e)
            newest = e.run.updated_at
        else:
            late.append(e.step)
    if not accepted:  # each older than the stored state: only steps the store lacks are kept
        last = events[-1]
        folded = tuple(e.step for e in events[:-1])
        return await merge_run(session, last.run, step=last.step, folded=folded, existing=run, **kw)
    last = accepted[-1]
    folded = tuple(e.step for e in accepted[:-1])
    return await merge_run(session, last.run, step=last.step, folded=folded, late=tuple(late), existing=run, **kw)


async def _store_steps(
    session: AsyncSession, run_id: str, steps: list[dict], old: list[dict] | None, models: dict[str, StepModel]
) -> None:
    """Write the steps that changed since `old` (a step event touches one row, not the run's every step).
    `steps` is the JSON the run keeps; `models` the validated steps that came with this state (a step kept
    from an earlier state is validated again only when its row must be written)."""
    before = {s.get("id"): s for s in (old or [])}
    changed = [s for s in steps if before.get(s["id"]) != s]
    gone = set(before) - {s["id"] for s in steps}
    await stored.delete_steps(session, run_id, gone - {None})
    rows = []
    for s in changed:
        m = models.get(s["id"]) or StepModel.model_validate(s)
        rows.append(
            {
                "run_id": run_id,
                "id": m.id,
                "index": m.index,
                "name": _cut(m.name or m.id, 256),
                "type": _cut(m.type, 32),
                "status": m.status,
                "started_at": m.started_at,
                "completed_at": m.completed_at,
                "error": s.get("error"),
            }
        )
    await stored.save_steps(session, rows)


def _task_values(model: ApprovalModel) -> dict:
    return {
        "id": model.id,
        "run_id": model.run_id,
        "step_id": model.step_id,
        "workflow_id": model.workflow.id,
        "workflow_name": _workflow_name(model.workflow),
        "kind": model.kind,
        "action": model.action,
        "requested_by": model.requested_by,
        "requested_at": model.requested_at,
        "expires_at": model.expires_at,
        "status": model.status,
        "decided_by": model.decided_by,
        "decided_at": model.decided_at,
        "comment": model.comment,
        "reminded": False,
        "data": as_json(model),
    }


async def merge_approval(session: AsyncSession, model: ApprovalModel) -> tuple[Approval, str | None]:
    """Store the platform's approval task; returns it and the status the store had (None: new)."""
    task = await session.get(Approval, model.id)
    if task is None:
        task, inserted = await stored_tasks.insert_task_if_absent(session, _task_values(model))
        if inserted:
            return task, None
    old = task.status
    if old != "pending" and model.status == "pending":
        return task, old  # a decision or expiry is final: a late "requested" never reopens it
    for field, value in _task_values(model).items():
        if field not in ("id", "reminded"):  # the key, and the bot's own reminder flag, are not the platform's
            setattr(task, field, value)
    return task, old


async def active_run_ids(session: AsyncSession) -> list[str]:
    return await stored.run_ids_with_status(session, ACTIVE)
