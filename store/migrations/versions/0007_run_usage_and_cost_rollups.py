"""usage on runs (cost in micro-dollars and tokens, NULL when unknown), indexed for `--min-cost` and
`--sort cost`, and daily cost rollups per workflow, model and status for `/runs cost`

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("cost_micros", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("input_tokens", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("output_tokens", sa.BigInteger(), nullable=True))
    op.create_index("ix_runs_status_cost", "runs", ["status", "cost_micros"])
    op.create_index("ix_runs_cost", "runs", ["cost_micros"])
    op.create_table(
        "cost_rollups",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("workflow_id", sa.String(128), primary_key=True),
        sa.Column("model", sa.String(128), primary_key=True),
        sa.Column("status", sa.String(16), primary_key=True),
        sa.Column("runs", sa.BigInteger(), nullable=False),
        sa.Column("priced_runs", sa.BigInteger(), nullable=False),
        sa.Column("cost_micros", sa.BigInteger(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("cost_rollups")
    op.drop_index("ix_runs_cost", table_name="runs")
    op.drop_index("ix_runs_status_cost", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("output_tokens")
        batch.drop_column("input_tokens")
        batch.drop_column("cost_micros")
