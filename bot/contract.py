"""The platform's objects and webhook bodies as the contract fixes them: what arrives is validated once, at
the edge, into these models, and the core works on them (timestamps already parsed, timezone-aware).

Validation names the first field that does not match (`data.run.status: ...`); unknown fields are kept,
for forward compatibility, and `as_json` gives a model back as the JSON the store keeps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, ValidationError

RUN_STATUSES = ("pending", "running", "waiting", "paused", "completed", "failed", "cancelled")
ACTIVE = ("pending", "running", "waiting", "paused")
TERMINAL = ("completed", "failed", "cancelled")
STEP_STATUSES = ("pending", "running", "waiting", "completed", "failed", "skipped", "cancelled")
APPROVAL_STATUSES = ("pending", "approved", "rejected", "expired")
RUN_EVENTS = (
    "run.created",
    "run.started",
    "run.paused",
    "run.resumed",
    "run.completed",
    "run.failed",
    "run.cancelled",
    "run.step.updated",
)
APPROVAL_EVENTS = ("approval.requested", "approval.decided", "approval.expired")
KNOWN_EVENTS = RUN_EVENTS + APPROVAL_EVENTS
# What each control action is allowed from (docs/platform-contract.md).
ALLOWED_FROM = {
    "pause": ("running", "waiting"),
    "resume": ("paused",),
    "cancel": ("pending", "running", "waiting", "paused"),
    "replay": ("completed", "failed", "cancelled"),
}
VERBS = {"pause": "paused", "resume": "resumed", "cancel": "cancelled", "replay": "replayed"}


def allowed_actions(status: str) -> list[str]:
    """The control actions a run in this status accepts."""
    return [action for action, sources in ALLOWED_FROM.items() if status in sources]


def status_refusal(run_id: str, status: str, action: str) -> str:
    """ "run_7Kq2 is completed: it can be replayed, not cancelled"."""
    allowed = [VERBS[a] for a in allowed_actions(status)]
    can = f"it can be {' or '.join(allowed)}" if allowed else "nothing can be done with it"
    return f"{run_id} is {status}: {can}, not {VERBS[action]}"


def _rfc3339(value: Any) -> Any:
    """Timestamps are RFC 3339 strings (not Unix numbers, which pydantic would take), read as UTC when they
    carry no offset, and must stay within range once in UTC."""
    if value is None:
        return value
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if not isinstance(value, str):
        raise ValueError("expected an RFC 3339 timestamp string such as 2026-11-25T10:00:00Z")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
        parsed.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise ValueError("expected an RFC 3339 timestamp such as 2026-11-25T10:00:00Z") from None
    return parsed


Timestamp = Annotated[datetime, BeforeValidator(_rfc3339)]
# Integers the store keeps in integer columns: real JSON integers within a 64-bit column's range.
Count = Annotated[int, Strict(), Field(ge=0, le=2**62)]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


# Identifiers are keys in the store: longer ones are refused (400 naming the field) rather than cut.
RunId = Annotated[str, Field(min_length=1, max_length=64)]
StepId = Annotated[str, Field(min_length=1, max_length=64)]
WorkflowId = Annotated[str, Field(min_length=1, max_length=128)]


class WorkflowRef(_Open):
    id: WorkflowId
    name: str


def _cost(value: Any) -> Any:
    """`cost_usd` is a JSON number of US dollars (not a string, not a boolean), finite and at least zero."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("expected a number of US dollars such as 0.0042")
    if not math.isfinite(value) or value < 0 or value > 1e9:
        raise ValueError("expected a number of US dollars from 0 to 1e9")
    return float(value)


class Usage(_Open):
    """Optional usage (contract v1.1): every key may be missing on its own; missing is unknown, not zero."""

    input_tokens: Count | None = None
    output_tokens: Count | None = None
    cost_usd: Annotated[float, BeforeValidator(_cost)] | None = None


class StepError(_Open):
    code: str
    message: str | None = None
    provider: str | None = None
    provider_status: Annotated[int, Strict()] | None = None
    retryable: bool | None = None


class StepModel(_Open):
    id: StepId
    index: Count
    name: str
    type: str | None = None
    status: Literal[STEP_STATUSES]  # type: ignore[valid-type]
    started_at: Timestamp | None = None
    completed_at: Timestamp | None = None
    error: StepError | None = None
    usage: Usage | None = None


class Progress(_Open):
    total_steps: Count
    completed_steps: Count


class Actor(_Open):
    name: str | None = None
    email: str | None = None
    slack_user_id: str | None = None


class Trigger(_Open):
    type: str | None = None
    actor: Actor | None = None


class RunModel(_Open):
    id: RunId
    workflow: WorkflowRef
    status: Literal[RUN_STATUSES]  # type: ignore[valid-type]
    created_at: Timestamp
    updated_at: Timestamp
    started_at: Timestamp | None = None
    completed_at: Timestamp | None = None
    duration_ms: Count | None = None
    trigger: Trigger | None = None
    progress: Progress | None = None
    model: str | None = None
    prompt: str | None = None
    failed_step_id: StepId | None = None
    replay_of: RunId | None = None
    steps: list[StepModel] | None = None
    usage: Usage | None = None


class ApprovalModel(_Open):
    id: RunId
    run_id: RunId
    step_id: StepId | None = None
    workflow: WorkflowRef
    kind: Annotated[str, Field(max_length=64)]
    action: str
    requested_by: str | None = None
    requested_at: Timestamp | None = None
    expires_at: Timestamp | None = None
    status: Literal[APPROVAL_STATUSES]  # type: ignore[valid-type]
    decided_by: str | None = None
    decided_at: Timestamp | None = None
    comment: str | None = None


class Envelope(_Open):
    type: str
    timestamp: Timestamp
    data: dict[str, Any]


class RunData(_Open):
    run: RunModel


class StepData(_Open):
    run: RunModel
    step: StepModel


class ApprovalData(_Open):
    approval: ApprovalModel
    run: RunModel


class ContractError(ValueError):
    """The body does not match the contract; `field` names where."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


def _first_error(exc: ValidationError, prefix: str) -> ContractError:
    err = exc.errors()[0]
    path = ".".join(str(p) for p in (prefix, *err["loc"]) if p != "")
    return ContractError(path or "body", err["msg"])


EventData = Union[RunData, StepData, ApprovalData]
_EVENT_DATA = {
    **{t: RunData for t in RUN_EVENTS},
    "run.step.updated": StepData,
    **{t: ApprovalData for t in APPROVAL_EVENTS},
}


@dataclass(frozen=True)
class Event:
    """A validated webhook: `data` is None for an event type this contract does not know (accepted, ignored)."""

    type: str
    timestamp: datetime
    data: EventData | None


def _validated(model, value: Any, prefix: str):
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise _first_error(exc, prefix) from None


def validate_event(body: Any) -> Event:
    """Check a webhook body against the contract; raises ContractError naming the field."""
    if not isinstance(body, dict):
        raise ContractError("body", "expected a JSON object")
    envelope = _validated(Envelope, body, "")
    return Event(envelope.type, envelope.timestamp, event_data(envelope.type, envelope.data))


def event_data(event_type: str, data: Any) -> EventData | None:
    """An event's `data` for its type (None for an unknown type); raises ContractError naming the field."""
    model = _EVENT_DATA.get(event_type)
    return None if model is None else _validated(model, data, "data")


def run_of(data: RunModel | dict) -> RunModel:
    """A run object the platform's API answered, validated; raises ContractError naming the field."""
    return data if isinstance(data, RunModel) else _validated(RunModel, data, "run")


def approval_of(data: ApprovalModel | dict) -> ApprovalModel:
    """An approval task the platform's API answered, validated; raises ContractError naming the field."""
    return data if isinstance(data, ApprovalModel) else _validated(ApprovalModel, data, "approval")


def as_json(model: BaseModel) -> dict:
    """The model as the JSON it came as (the fields it was given, unknown ones included): the store's copy."""
    return model.model_dump(mode="json", exclude_unset=True)


# Pure helpers over the contract's values, shared by the core and the renderers' views.


def parse_time(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def rfc3339(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def first_failed_step(data: dict) -> dict | None:
    steps = data.get("steps") or []
    wanted = data.get("failed_step_id")
    for step in steps:
        if wanted and step.get("id") == wanted:
            return step
    failed = [s for s in steps if s.get("status") == "failed"]
    return min(failed, key=lambda s: s.get("index", 0)) if failed else None
