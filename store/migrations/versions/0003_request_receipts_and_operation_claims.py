"""request receipts (a Slack request delivered again is acted on once) and operation claims (a replay of one
run within a window is done once, whoever clicks)

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "request_receipts",
        sa.Column("key", sa.String(80), primary_key=True),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_request_receipts_seen_at", "request_receipts", ["seen_at"])
    op.create_table(
        "operation_claims",
        sa.Column("subject", sa.String(160), primary_key=True),
        sa.Column("actor", sa.String(32), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("result", sa.String(160), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("operation_claims")
    op.drop_index("ix_request_receipts_seen_at", table_name="request_receipts")
    op.drop_table("request_receipts")
