"""The platform's objects and webhook bodies as the contract fixes them, for validating what arrives.

Validation names the first field that does not match (`data.run.status: ...`); unknown fields are kept,
for forward compatibility.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

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


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class WorkflowRef(_Open):
    id: str
    name: str


class StepError(_Open):
    code: str
    message: str | None = None
    provider: str | None = None
    provider_status: int | None = None
    retryable: bool | None = None


class StepModel(_Open):
    id: str
    index: int
    name: str
    type: str | None = None
    status: Literal[STEP_STATUSES]  # type: ignore[valid-type]
    started_at: datetime | None = None
    completed_at: datetime | None = None
    error: StepError | None = None


class Progress(_Open):
    total_steps: int
    completed_steps: int


class RunModel(_Open):
    id: str
    workflow: WorkflowRef
    status: Literal[RUN_STATUSES]  # type: ignore[valid-type]
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    duration_ms: int | None = None
    trigger: dict[str, Any] | None = None
    progress: Progress | None = None
    model: str | None = None
    prompt: str | None = None
    failed_step_id: str | None = None
    replay_of: str | None = None
    steps: list[StepModel] | None = None


class ApprovalModel(_Open):
    id: str
    run_id: str
    step_id: str | None = None
    workflow: WorkflowRef
    kind: str
    action: str
    requested_by: str | None = None
    requested_at: datetime | None = None
    expires_at: datetime | None = None
    status: Literal[APPROVAL_STATUSES]  # type: ignore[valid-type]
    decided_by: str | None = None
    decided_at: datetime | None = None
    comment: str | None = None


class Envelope(_Open):
    type: str
    timestamp: datetime
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
