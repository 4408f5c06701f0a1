"""index runs by (status, updated_at), so housekeeping's prune of old finished runs does not scan the table

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_runs_status_updated", "runs", ["status", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_runs_status_updated", table_name="runs")
