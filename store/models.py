"""The bot's store: typed SQLAlchemy 2 models of runs, steps, approvals, deliveries, Slack messages,
subscriptions, the audit trail, the outbox of Slack posts, and scheduler leases."""

from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import JSON, BigInteger, Boolean, Date, DateTime, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Timestamps stored as UTC and always read back timezone-aware, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict: JSON, list: JSON}


class Run(Base):
    """The newest known state of a platform run; `data` keeps the platform's whole run object."""

    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(128))
    workflow_name: Mapped[str] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    duration_ms: Mapped[int | None] = mapped_column(BigInteger)
    trigger_type: Mapped[str | None] = mapped_column(String(16))
    actor_slack_id: Mapped[str | None] = mapped_column(String(32))
    total_steps: Mapped[int] = mapped_column(Integer, default=0)
    completed_steps: Mapped[int] = mapped_column(Integer, default=0)
    model: Mapped[str | None] = mapped_column(String(128))
    failed_step_id: Mapped[str | None] = mapped_column(String(64))
    # The failed step's index and name as a list line shows them (from the step `failed_step_id` names, else the
    # first failed one), so lists read columns, never `data`.
    failed_step_index: Mapped[int | None] = mapped_column(Integer)
    failed_step_name: Mapped[str | None] = mapped_column(String(256))
    error_code: Mapped[str | None] = mapped_column(String(64))
    replay_of: Mapped[str | None] = mapped_column(String(64))
    alerted: Mapped[bool] = mapped_column(Boolean, default=False)
    # Usage the platform reported for the run (contract v1.1); NULL is unknown, never zero. Micro-dollars.
    cost_micros: Mapped[int | None] = mapped_column(BigInteger)
    input_tokens: Mapped[int | None] = mapped_column(BigInteger)
    output_tokens: Mapped[int | None] = mapped_column(BigInteger)
    data: Mapped[dict] = mapped_column(JSON, default=dict)

    __table_args__ = (
        Index("ix_runs_status_created", "status", "created_at"),
        Index("ix_runs_status_cost", "status", "cost_micros"),
        Index("ix_runs_cost", "cost_micros"),
        # Carries the cost: `--min-cost` on failed runs filters on the index, reading only its page's rows.
        Index("ix_runs_status_completed_cost", "status", "completed_at", "cost_micros"),
        Index("ix_runs_workflow_status_completed", "workflow_id", "status", "completed_at"),
        Index("ix_runs_workflow_created", "workflow_id", "created_at"),
        Index("ix_runs_code_completed", "error_code", "completed_at"),
        Index("ix_runs_model_created", "model", "created_at"),
        Index("ix_runs_replay_of", "replay_of"),
        Index("ix_runs_created", "created_at"),
        Index("ix_runs_status_updated", "status", "updated_at"),
        # The alert's context line (issue 16): earlier failures of one kind, counted from the index alone.
        Index(
            "ix_runs_workflow_code_step_completed",
            "workflow_id",
            "error_code",
            "failed_step_id",
            "status",
            "completed_at",
        ),
    )


class CostRollup(Base):
    """Runs and their spend per UTC day of creation, workflow, model and status, kept up to date as runs
    change (the ingest path), and kept longer than runs (`COST_ROLLUP_RETENTION_DAYS`)."""

    __tablename__ = "cost_rollups"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    model: Mapped[str] = mapped_column(String(128), primary_key=True)  # "" when the run named none
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    runs: Mapped[int] = mapped_column(BigInteger, default=0)
    priced_runs: Mapped[int] = mapped_column(BigInteger, default=0)  # runs whose cost is known
    cost_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)

    __table_args__ = (
        # `/runs cost` sums a day by status and by workflow: each from an index holding what it sums, read in
        # index order (no sort, no row lookups).
        Index("ix_cost_rollups_day_status", "day", "status", "runs", "priced_runs", "cost_micros"),
        Index("ix_cost_rollups_day_workflow", "day", "workflow_id", "runs", "priced_runs", "cost_micros"),
    )


class Step(Base):
    __tablename__ = "steps"

    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    index: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(256))
    type: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    error: Mapped[dict | None] = mapped_column(JSON)


class Workflow(Base):
    __tablename__ = "workflows"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(256))

    __table_args__ = (Index("ix_workflows_name", "name"),)


class Approval(Base):
    __tablename__ = "approvals"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(64))
    step_id: Mapped[str | None] = mapped_column(String(64))
    workflow_id: Mapped[str] = mapped_column(String(128))
    workflow_name: Mapped[str] = mapped_column(String(256))
    kind: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[str | None] = mapped_column(Text)
    requested_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16))
    decided_by: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None]
    comment: Mapped[str | None] = mapped_column(Text)
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    # Who claimed the final decision from Slack: set once, atomically, so one decision reaches the platform.
    deciding_by: Mapped[str | None] = mapped_column(String(64))
    reminded: Mapped[bool] = mapped_column(Boolean, default=False)
    data: Mapped[dict] = mapped_column(JSON, default=dict)

    __table_args__ = (Index("ix_approvals_status_expires", "status", "expires_at"), Index("ix_approvals_run", "run_id"))


class ApprovalVote(Base):
    """One approver's approval of a task that needs a quorum; the same person counts once."""

    __tablename__ = "approval_votes"

    approval_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_name: Mapped[str | None] = mapped_column(String(256))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """A platform webhook, stored before it is acknowledged; processed once per webhook-id."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]
    body: Mapped[dict] = mapped_column(JSON)

    __table_args__ = (
        Index("ix_deliveries_pending", "processed_at", "received_at"),
        Index("ix_deliveries_pending_type", "processed_at", "type", "received_at"),
    )


class SlackMessage(Base):
    """A Slack message that shows a run, an approval or a storm, to update it in place."""

    __tablename__ = "slack_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # alert, approval, storm, watch
    subject: Mapped[str] = mapped_column(String(256))  # run id, approval id, storm key
    channel: Mapped[str] = mapped_column(String(32))
    ts: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_edit_at: Mapped[datetime | None]
    state: Mapped[dict] = mapped_column(JSON, default=dict)

    __table_args__ = (UniqueConstraint("kind", "subject", "channel", name="uq_slack_message"),)


class Subscription(Base):
    __tablename__ = "subscriptions"

    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    failures: Mapped[bool] = mapped_column(Boolean, default=True)
    approvals: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Watch(Base):
    __tablename__ = "watches"

    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_status: Mapped[str | None] = mapped_column(String(16))


class AuditEntry(Base):
    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    user_id: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(128))
    detail: Mapped[str | None] = mapped_column(Text)
    result: Mapped[str] = mapped_column(String(32))  # ok, refused, error
    message: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_audit_at", "at"), Index("ix_audit_target", "target", "at"))


class OutboxItem(Base):
    """A Slack call not yet delivered, written in the same transaction as the change that caused it."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    method: Mapped[str] = mapped_column(String(32))  # post, update, thread, ephemeral, dm, publish
    channel: Mapped[str | None] = mapped_column(String(32))
    message_id: Mapped[int | None] = mapped_column(Integer)  # SlackMessage posted/updated, or the thread's parent
    payload: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending, sent, failed, held
    in_flight: Mapped[bool] = mapped_column(Boolean, default=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_ts: Mapped[str | None] = mapped_column(String(32))
    sent_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        Index("ix_outbox_message", "message_id", "status"),
    )


class Lease(Base):
    """A scheduler job's lease across replicas."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime]


class KeyValue(Base):
    """Small durable facts: the tracker's last cycle, the first sync's completion."""

    __tablename__ = "kv"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict] = mapped_column(JSON)


class StormCounter(Base):
    """Failures of one workflow with one error code in one channel, for storm grouping."""

    __tablename__ = "storm_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(32))
    workflow_id: Mapped[str] = mapped_column(String(128))
    error_code: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    score: Mapped[float] = mapped_column(Float, default=0.0)

    __table_args__ = (Index("ix_storm_key", "channel", "workflow_id", "error_code", "at"),)


class RequestReceipt(Base):
    """A Slack request already acted on: the hash of a signed body, or an Events API `event_id`. A request
    delivered again (a proxy or client retry, a double submit, Slack's own event redelivery) finds its
    receipt and does nothing; any replica finds it, since the store decides."""

    __tablename__ = "request_receipts"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(index=True)


class OperationClaim(Base):
    """A non-idempotent operation on one subject (a replay of one run), done once within a window whoever
    asks: who did it, when, and what it gave (the new run's id), to tell the second person."""

    __tablename__ = "operation_claims"

    subject: Mapped[str] = mapped_column(String(160), primary_key=True)
    actor: Mapped[str] = mapped_column(String(32))
    claimed_at: Mapped[datetime]
    result: Mapped[str | None] = mapped_column(String(160))


class AlertLifecycle(Base):
    """Who handles a failed run (issue 16): people on it, a resolution with its note, or the replay that
    recovered it (following `replay_of` through replays of replays)."""

    __tablename__ = "alert_lifecycle"

    run_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    on_it: Mapped[list] = mapped_column(JSON, default=list)  # [{"user": "U…", "since": iso time}]
    resolved_by: Mapped[str | None] = mapped_column(String(32))
    resolved_at: Mapped[datetime | None]
    resolved_note: Mapped[str | None] = mapped_column(Text)
    recovered_by: Mapped[str | None] = mapped_column(String(64))  # the replay that completed
    recovered_at: Mapped[datetime | None]


class Mute(Base):
    """A channel's mute of one workflow's alerts (or of one workflow and error code), until a time or unmuted."""

    __tablename__ = "mutes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(32))
    workflow_id: Mapped[str] = mapped_column(String(128))
    error_code: Mapped[str | None] = mapped_column(String(64))  # None: every error code
    until: Mapped[datetime | None]  # None: until unmuted
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]  # unmuted by hand

    __table_args__ = (Index("ix_mutes_channel_workflow", "channel", "workflow_id"),)


class ProviderFailure(Base):
    """A failure with a provider error (`provider_*` codes, or HTTP 429/5xx from a provider), for incidents."""

    __tablename__ = "provider_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    provider: Mapped[str] = mapped_column(String(64))
    workflow_id: Mapped[str] = mapped_column(String(128))
    step_name: Mapped[str] = mapped_column(String(256))
    run_id: Mapped[str] = mapped_column(String(64))
    error_code: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]

    __table_args__ = (Index("ix_provider_failures_provider_at", "provider", "at"),)


class MutedFailure(Base):
    """A failure a mute kept out of a channel: still stored and listed, and told on the next unmuted alert."""

    __tablename__ = "muted_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(32))
    run_id: Mapped[str] = mapped_column(String(64))
    workflow_id: Mapped[str] = mapped_column(String(128))
    mute_id: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    told: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        Index("ix_muted_failures_channel_told", "channel", "told"),
        Index("ix_muted_failures_run", "run_id"),
    )
