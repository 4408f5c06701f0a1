"""alert lifecycle (on it, resolved, recovered), mutes and the failures they kept quiet, provider failures for
incident cards, and an index of runs for the alert's context line (issue 16)

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The alert's context line counts earlier failures of one workflow, error code and step from this index alone.
    op.create_index(
        "ix_runs_workflow_code_step_completed",
        "runs",
        ["workflow_id", "error_code", "failed_step_id", "status", "completed_at"],
    )
    op.create_table(
        "alert_lifecycle",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("on_it", sa.JSON(), nullable=False),
        sa.Column("resolved_by", sa.String(32), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_note", sa.Text(), nullable=True),
        sa.Column("recovered_by", sa.String(64), nullable=True),
        sa.Column("recovered_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "mutes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("workflow_id", sa.String(128), nullable=False),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_mutes_channel_workflow", "mutes", ["channel", "workflow_id"])
    op.create_table(
        "muted_failures",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("workflow_id", sa.String(128), nullable=False),
        sa.Column("mute_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("told", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_muted_failures_channel_told", "muted_failures", ["channel", "told"])
    op.create_index("ix_muted_failures_run", "muted_failures", ["run_id"])
    op.create_table(
        "provider_failures",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("workflow_id", sa.String(128), nullable=False),
        sa.Column("step_name", sa.String(256), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("error_code", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_provider_failures_provider_at", "provider_failures", ["provider", "at"])


def downgrade() -> None:
    op.drop_index("ix_provider_failures_provider_at", table_name="provider_failures")
    op.drop_table("provider_failures")
    op.drop_index("ix_muted_failures_run", table_name="muted_failures")
    op.drop_index("ix_muted_failures_channel_told", table_name="muted_failures")
    op.drop_table("muted_failures")
    op.drop_index("ix_mutes_channel_workflow", table_name="mutes")
    op.drop_table("mutes")
    op.drop_table("alert_lifecycle")
    op.drop_index("ix_runs_workflow_code_step_completed", table_name="runs")
