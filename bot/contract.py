"""The platform's objects and webhook bodies as the contract fixes them, for validating what arrives.

Validation names the first field that does not match (`data.run.status: ...`); unknown fields are kept,
for forward compatibility.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, ValidationError

RUN_STATUSES = ("pending", "running", "waiting", "paused", "completed", "failed", "cancelled")
ACTIVE = ("pending", "running", "waiting", "paused")
TERMINAL = ("completed", "failed", "cancelled")
STEP_STATUSES = ("pending", "running", "waiting", "completed", "failed", "skipped", "cancelled")
APPROVAL_STATUSES = ("pending", "approved", "rejected", "expired")
RUN_EVENTS = ("run.created", "run.started", "run.paused", "run.resumed", "run.completed", "run.failed",
              "run.cancelled", "run.step.updated")
APPROVAL_EVENTS = ("approval.requested", "approval.decided", "approval.expired")
KNOWN_EVENTS = RUN_EVENTS + APPROVAL_EVENTS
# What each control action is allowed from (shared/platform-api.md).
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
    """"run_7Kq2 is completed: it can be replayed, not cancelled"."""
    allowed = [VERBS[a] for a in allowed_actions(status)]
    can = f"it can be {' or '.join(allowed)}" if allowed else "nothing can be done with it"
    return f"{run_id} is {status}: {can}, not {VERBS[action]}"


def _rfc3339(value: Any) -> Any:
    """Timestamps are RFC 3339 strings, read as the store reads them (not Unix numbers, which pydantic would
    take), and must stay within range once in UTC."""
    if isinstance(value, datetime) or value is None:
        return value
    if not isinstance(value, str):
        raise ValueError("expected an RFC 3339 timestamp string such as 2026-11-25T10:00:00Z")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        (parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
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


def validate_event(body: Any) -> Envelope:
    """Check a webhook body against the contract; raises ContractError naming the field."""
    if not isinstance(body, dict):
        raise ContractError("body", "expected a JSON object")
    try:
        envelope = Envelope.model_validate(body)
    except ValidationError as exc:
        raise _first_error(exc, "") from None
    model = {**{t: RunData for t in RUN_EVENTS}, "run.step.updated": StepData,
             **{t: ApprovalData for t in APPROVAL_EVENTS}}.get(envelope.type)
    if model is not None:
        try:
            model.model_validate(envelope.data)
        except ValidationError as exc:
            raise _first_error(exc, "data") from None
    return envelope
