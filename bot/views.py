"""Plain views of what renderers show: frozen dataclasses built once from a run (a stored row or the platform's
run object), an approval or a storm's state, with times parsed and names, codes, ids and models already made
single-line and bounded. Renderers in `bot/render/` take these, never store rows or platform dicts."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from bot.contract import first_failed_step, parse_time
from bot.render.mrkdwn import is_user_id, single_line

NAME_LIMIT = 120  # workflow and step names, error codes, providers, models, kinds: Slack's blocks are bounded
ID_LIMIT = 128  # ids are bounded by the contract already; this bounds ids read from older state
PERSON_LIMIT = 200
MESSAGE_LIMIT = 200_000  # an error message kept whole for the thread; beyond this it is cut


def _time(value: Any) -> datetime | None:
    try:
        return parse_time(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _int(value: Any, default: int | None = None) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return default
    return value


def _line(value: Any, limit: int = NAME_LIMIT) -> str | None:
    """A single-line field, or None when the platform sent nothing."""
    if value is None or value == "":
        return None
    return single_line(value, limit)


def _text(value: Any, limit: int) -> str | None:
    if value is None or value == "":
        return None
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class ErrorView:
    code: str | None = None
    message: str | None = None  # free text, kept multi-line (escaped where it is shown)
    provider: str | None = None
    provider_status: int | None = None
    retryable: bool | None = None


@dataclass(frozen=True)
class UsageView:
    """Usage as the platform reported it; None in a field is unknown (never shown as zero)."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None


def view_of_usage(usage: Any) -> UsageView | None:
    if not isinstance(usage, dict):
        return None
    cost = usage.get("cost_usd")
    cost_ok = isinstance(cost, (int, float)) and not isinstance(cost, bool) and 0 <= cost < 1e12
    return UsageView(
        _int(usage.get("input_tokens")), _int(usage.get("output_tokens")), float(cost) if cost_ok else None
    )


@dataclass(frozen=True)
class StepView:
    id: str
    index: int
    name: str
    type: str | None = None
    status: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    error: ErrorView | None = None
    usage: UsageView | None = None


@dataclass(frozen=True)
class ActorView:
    name: str | None = None
    email: str | None = None
    slack_user_id: str | None = None  # only an id of Slack's shape; anything else is dropped


@dataclass(frozen=True)
class RunView:
    id: str
    workflow_id: str
    workflow_name: str
    status: str
    created_at: datetime | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    updated_at: datetime | None = None
    duration_ms: int | None = None
    trigger_type: str | None = None
    actor: ActorView | None = None
    total_steps: int = 0
    completed_steps: int = 0
    model: str | None = None
    replay_of: str | None = None
    steps: tuple[StepView, ...] = ()
    failed_step: StepView | None = None
    payload_json: str | None = None  # the trigger payload as indented JSON, when the platform sent one
    usage: UsageView | None = None

    @property
    def error(self) -> ErrorView:
        return (self.failed_step.error if self.failed_step else None) or ErrorView()

    @property
    def error_code(self) -> str | None:
        return self.error.code


def view_of_error(error: Any) -> ErrorView | None:
    if not isinstance(error, dict):
        return None
    retryable = error.get("retryable")
    return ErrorView(
        code=_line(error.get("code")),
        message=_text(error.get("message"), MESSAGE_LIMIT),
        provider=_line(error.get("provider")),
        provider_status=_int(error.get("provider_status")),
        retryable=retryable if isinstance(retryable, bool) else None,
    )


def view_of_step(step: dict) -> StepView:
    return StepView(
        id=single_line(step.get("id") or "", ID_LIMIT),
        index=_int(step.get("index"), 0) or 0,
        name=single_line(step.get("name") or step.get("id") or "", NAME_LIMIT),
        type=_line(step.get("type")),
        status=_line(step.get("status"), 32),
        started_at=_time(step.get("started_at")),
        completed_at=_time(step.get("completed_at")),
        error=view_of_error(step.get("error")),
        usage=view_of_usage(step.get("usage")),
    )


def view_of_actor(actor: Any) -> ActorView | None:
    if not isinstance(actor, dict):
        return None
    slack_user = actor.get("slack_user_id")
    return ActorView(
        name=_line(actor.get("name"), PERSON_LIMIT),
        email=_line(actor.get("email"), PERSON_LIMIT),
        slack_user_id=slack_user if is_user_id(slack_user) else None,
    )


def view_of_run(run: Any) -> RunView:
    """The view of a run from a stored `Run` row (its platform object in `data`) or the platform's run object
    (a one-line listing reads columns instead: `view_of_listed`)."""
    data = run if isinstance(run, dict) else dict(getattr(run, "data", None) or {})
    if not isinstance(run, dict):
        data.setdefault("id", run.id)
        data.setdefault("status", run.status)
        data.setdefault("workflow", {"id": run.workflow_id, "name": run.workflow_name})
    workflow = data.get("workflow") if isinstance(data.get("workflow"), dict) else {}
    trigger = data.get("trigger") if isinstance(data.get("trigger"), dict) else {}
    progress = data.get("progress") if isinstance(data.get("progress"), dict) else {}
    steps_data = [s for s in data.get("steps") or [] if isinstance(s, dict)]
    steps = tuple(sorted((view_of_step(s) for s in steps_data), key=lambda s: s.index))
    failed = first_failed_step({**data, "steps": steps_data})
    workflow_id = single_line(workflow.get("id") or "", ID_LIMIT)
    payload = trigger.get("payload")
    return RunView(
        id=single_line(data.get("id") or "", ID_LIMIT),
        workflow_id=workflow_id,
        workflow_name=single_line(workflow.get("name") or workflow_id or "workflow", NAME_LIMIT),
        status=single_line(data.get("status") or "unknown", 32),
        created_at=_time(data.get("created_at")),
        started_at=_time(data.get("started_at")),
        completed_at=_time(data.get("completed_at")),
        updated_at=_time(data.get("updated_at")),
        duration_ms=_int(data.get("duration_ms")),
        trigger_type=_line(trigger.get("type"), 64),
        actor=view_of_actor(trigger.get("actor")),
        total_steps=_int(progress.get("total_steps")) or len(steps_data),
        completed_steps=_int(progress.get("completed_steps"), 0) or 0,
        model=_line(data.get("model")),
        replay_of=_line(data.get("replay_of"), ID_LIMIT),
        steps=steps,
        failed_step=view_of_step(failed) if failed else None,
        payload_json=None if payload is None else json.dumps(payload, ensure_ascii=False, indent=1, default=str),
        usage=view_of_usage(data.get("usage")),
    )


def view_of_listed(row: Any) -> RunView:
    """What a one-line listing shows (the fields of `view_of_run` a line reads), from the columns of a
    listed row (`store.queries.LISTED`), never the run's JSON: its failed step is the one the alert names, kept in
    columns when the run is stored (`bot.runs`)."""
    failed = None
    if row.failed_step_name is not None or row.failed_step_index is not None:
        failed = StepView(
            id="",
            index=_int(row.failed_step_index, 0) or 0,
            name=single_line(row.failed_step_name or "", NAME_LIMIT),
            status="failed",
            error=ErrorView(code=_line(row.error_code)) if row.error_code else None,
        )
    workflow_id = single_line(row.workflow_id or "", ID_LIMIT)
    return RunView(
        id=single_line(row.id or "", ID_LIMIT),
        workflow_id=workflow_id,
        workflow_name=single_line(row.workflow_name or workflow_id or "workflow", NAME_LIMIT),
        status=single_line(row.status or "unknown", 32),
        created_at=row.created_at,
        started_at=row.started_at,
        completed_at=row.completed_at,
        duration_ms=_int(row.duration_ms),
        total_steps=_int(row.total_steps, 0) or 0,
        completed_steps=_int(row.completed_steps, 0) or 0,
        model=_line(row.model),
        failed_step=failed,
        usage=None if row.cost_micros is None else UsageView(cost_usd=row.cost_micros / 1_000_000),
    )


@dataclass(frozen=True)
class ApprovalView:
    """An approval task as lists show it (`/runs approvals`)."""

    id: str
    run_id: str
    workflow_id: str
    workflow_name: str
    kind: str
    action: str
    status: str
    step_id: str | None = None
    requested_by: str | None = None
    expires_at: datetime | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    comment: str | None = None


def view_of_approval(task: Any) -> ApprovalView:
    """The view of an approval from a stored `Approval` row or the platform's approval object."""
    get = task.get if isinstance(task, dict) else (lambda k, d=None: getattr(task, k, d))
    workflow = get("workflow") if isinstance(get("workflow"), dict) else {}
    workflow_id = get("workflow_id") or workflow.get("id") or ""
    return ApprovalView(
        id=single_line(get("id") or "", ID_LIMIT),
        run_id=single_line(get("run_id") or "", ID_LIMIT),
        workflow_id=single_line(workflow_id, ID_LIMIT),
        workflow_name=single_line(get("workflow_name") or workflow.get("name") or workflow_id, NAME_LIMIT),
        kind=single_line(get("kind") or "", 64),
        action=str(get("action") or ""),
        status=single_line(get("status") or "", 32),
        step_id=_line(get("step_id"), ID_LIMIT),
        requested_by=_text(get("requested_by"), 10_000),
        expires_at=_time(get("expires_at")),
        decided_by=_text(get("decided_by"), 10_000),
        decided_at=_time(get("decided_at")),
        comment=_text(get("comment"), 10_000),
    )


@dataclass(frozen=True)
class TaskView:
    """What an approval card shows about one task: the task, and what the bot knows of it (votes, rules).
    Single-line fields are cleaned when the view is made, whoever makes it."""

    id: str
    run_id: str
    workflow_id: str
    workflow_name: str
    kind: str
    action: str
    requested_by: str | None
    expires_at: datetime | None
    status: str
    fingerprint: str
    run_url: str
    review_url: str
    step_id: str | None = None
    decided_by: str | None = None  # the platform's actor string
    decided_at: datetime | None = None
    comment: str | None = None
    required: int = 1
    votes: tuple[str, ...] = field(default_factory=tuple)  # Slack user IDs that approved, in order
    console_only: bool = False
    confirm: bool = False
    changed: bool = False  # the platform changed the task after the card was first posted

    def __post_init__(self) -> None:
        clean = {
            "id": ID_LIMIT,
            "run_id": ID_LIMIT,
            "workflow_id": ID_LIMIT,
            "workflow_name": NAME_LIMIT,
            "kind": 64,
            "status": 32,
        }
        for name, limit in clean.items():
            object.__setattr__(self, name, single_line(getattr(self, name) or "", limit))
        object.__setattr__(self, "action", str(self.action or ""))
        object.__setattr__(self, "votes", tuple(self.votes or ()))

    def with_fingerprint(self, fingerprint: str) -> TaskView:
        """The same view carrying the fingerprint a person was shown."""
        return replace(self, fingerprint=fingerprint)


@dataclass(frozen=True)
class StormView:
    """A storm card's state: a burst of failures of one workflow with one error code in one channel."""

    workflow_id: str
    workflow_name: str
    error_code: str
    count: int
    first_at: datetime | None
    last_at: datetime | None
    retryable: bool | None
    newest: tuple[str, ...]  # run ids, oldest first
    recovered_run_id: str | None = None
    recovered_at: datetime | None = None
    message_id: int | None = None  # the card's own row, for its lifecycle buttons


def view_of_storm(state: dict) -> StormView:
    recovered = state.get("recovered") if isinstance(state.get("recovered"), dict) else None
    workflow_id = single_line(state.get("workflow_id") or "", ID_LIMIT)
    retryable = state.get("retryable")
    return StormView(
        workflow_id=workflow_id,
        workflow_name=single_line(state.get("workflow_name") or workflow_id, NAME_LIMIT),
        error_code=single_line(state.get("error_code") or "unknown", NAME_LIMIT),
        count=_int(state.get("count"), 0) or 0,
        first_at=_time(state.get("first_at")),
        last_at=_time(state.get("last_at")),
        retryable=retryable if isinstance(retryable, bool) else None,
        newest=tuple(single_line(r, ID_LIMIT) for r in state.get("newest") or []),
        recovered_run_id=single_line(recovered["run_id"], ID_LIMIT) if recovered else None,
        recovered_at=_time(recovered.get("at")) if recovered else None,
        message_id=state.get("message_id") if isinstance(state.get("message_id"), int) else None,
    )
