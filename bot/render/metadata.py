"""Message metadata other apps read (Workflow Builder, event subscriptions to `message_metadata_*`): one object per
message, built from the same plain views as the blocks. The schema is in docs/message-metadata.md; the outbox adds
its own `outbox_id` to the payload when it posts, so crash recovery finds the post by it."""

from __future__ import annotations

from bot.render.mrkdwn import single_line
from bot.views import RunView, StormView, TaskView

RUN_FAILED = "runbot_run_failed"
RUN_RECOVERED = "runbot_run_recovered"
APPROVAL_REQUESTED = "runbot_approval_requested"
APPROVAL_DECIDED = "runbot_approval_decided"
EVENT_TYPES = (RUN_FAILED, RUN_RECOVERED, APPROVAL_REQUESTED, APPROVAL_DECIDED)
OUTBOX_ID = "outbox_id"
VALUE_LIMIT = 256  # a value from the platform, bounded; Slack caps the whole metadata object too


def _clean(value):
    """Platform text made one bounded line without control or format (bidi) characters: data for other apps."""
    if isinstance(value, str):
        return single_line(value, VALUE_LIMIT)
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _metadata(event_type: str, payload: dict) -> dict:
    # Slack drops null values from event_payload on some surfaces: absent keys say "unknown" the same way everywhere.
    return {"event_type": event_type, "event_payload": {k: _clean(v) for k, v in payload.items() if v is not None}}


def alert_metadata(run: RunView, replays: list[dict] | None = None) -> dict:
    """A failure alert: `runbot_run_failed`, or `runbot_run_recovered` once one of its replays completed."""
    payload = {
        "run_id": run.id,
        "workflow_id": run.workflow_id,
        "workflow_name": run.workflow_name,
        "status": run.status,
        "error_code": run.error_code,
        "failed_step_id": run.failed_step.id if run.failed_step else None,
    }
    recovered_by = next((r.get("run_id") for r in replays or [] if r.get("status") == "completed"), None)
    if recovered_by:
        return _metadata(RUN_RECOVERED, {**payload, "recovered_by_run_id": recovered_by})
    return _metadata(RUN_FAILED, payload)


def storm_metadata(storm: StormView) -> dict:
    """A storm card: the failures of one workflow with one error code, until the workflow's next success."""
    payload = {
        "workflow_id": storm.workflow_id,
        "workflow_name": storm.workflow_name,
        "error_code": storm.error_code,
        "status": "recovered" if storm.recovered_run_id else "failed",
        "failure_count": storm.count,
        "run_ids": list(storm.newest),
    }
    if storm.recovered_run_id:
        return _metadata(RUN_RECOVERED, {**payload, "recovered_by_run_id": storm.recovered_run_id})
    return _metadata(RUN_FAILED, payload)


def approval_metadata(task: TaskView) -> dict:
    """An approval card: `runbot_approval_requested` while pending, `runbot_approval_decided` after."""
    payload = {
        "approval_id": task.id,
        "run_id": task.run_id,
        "step_id": task.step_id,
        "workflow_id": task.workflow_id,
        "workflow_name": task.workflow_name,
        "kind": task.kind,
        "status": task.status,
        "expires_at": task.expires_at.isoformat() if task.expires_at else None,
        "decided_by": task.decided_by if task.status != "pending" else None,
    }
    return _metadata(APPROVAL_REQUESTED if task.status == "pending" else APPROVAL_DECIDED, payload)


def with_outbox_id(metadata: dict | None, outbox_id: int, fallback_event: str) -> dict:
    """The metadata a post carries: its own, or `fallback_event`'s, with the outbox id inside the public payload."""
    if not metadata:
        return {"event_type": fallback_event, "event_payload": {OUTBOX_ID: outbox_id}}
    return {**metadata, "event_payload": {**(metadata.get("event_payload") or {}), OUTBOX_ID: outbox_id}}


def outbox_id_of(metadata: dict | None) -> object:
    """The outbox id a posted message carries, whatever its event type."""
    return ((metadata or {}).get("event_payload") or {}).get(OUTBOX_ID)
