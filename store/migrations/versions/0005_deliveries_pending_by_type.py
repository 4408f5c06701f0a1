"""index pending webhook deliveries by type, so the processor finds a `run.failed` among thousands of pending
step updates without scanning them (failures are processed first)

Revision ID: 0005
Revises: 0003
"""

from alembic import op

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_deliveries_pending_type", "webhook_deliveries", ["processed_at", "type", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_pending_type", table_name="webhook_deliveries")
