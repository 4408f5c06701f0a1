"""run lists read columns, not the run's JSON: the failed step's index and name beside its id (a list line shows
"step 2 of 5: Extract fields"), filled for the failed runs already stored; and the failed-runs index carries each
run's cost, so `/runs failed --min-cost` filters on the index and reads only its page's rows (1,000,000 runs,
2% over $0.50: 1.8 ms to 0.08 ms in SQLite), where it read the row of every failed run it passed:
(status, completed_at, cost_micros) replaces (status, completed_at), whose reads it serves as before; and
`/runs cost` sums a day by status and by workflow from two covering indexes on the rollups (no sort, no row
lookups: today's 1,295 rollup rows of the benchmark store, 0.98 to 0.51 ms in SQLite)

Revision ID: 0008
Revises: 0007
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BATCH = 2000


def _first_failed_step(data: dict) -> dict | None:
    """The step a failed run's alert names (bot/contract.py `first_failed_step`, as it is at this revision)."""
    steps = [s for s in data.get("steps") or [] if isinstance(s, dict)]
    wanted = data.get("failed_step_id")
    for step in steps:
        if wanted and step.get("id") == wanted:
            return step
    failed = [s for s in steps if s.get("status") == "failed"]
    return min(failed, key=lambda s: s.get("index", 0) if isinstance(s.get("index", 0), int) else 0) if failed else None


def _fill(bind) -> None:
    runs = sa.table(
        "runs",
        sa.column("id", sa.String),
        sa.column("status", sa.String),
        sa.column("data", sa.JSON),
        sa.column("failed_step_index", sa.Integer),
        sa.column("failed_step_name", sa.String),
    )
    after = ""
    while True:
        rows = bind.execute(
            sa.select(runs.c.id, runs.c.data)
            .where(runs.c.status == "failed", runs.c.id > after)
            .order_by(runs.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        updates = []
        for run_id, data in rows:
            if isinstance(data, str):
                data = json.loads(data)
            step = _first_failed_step(data) if isinstance(data, dict) else None
            if step is not None:
                index, name = step.get("index"), step.get("name") or step.get("id")
                updates.append(
                    {
                        "run_id": run_id,
                        "index": index if isinstance(index, int) and not isinstance(index, bool) else None,
                        "name": name[:256] if isinstance(name, str) else None,
                    }
                )
        if updates:
            bind.execute(
                runs.update()
                .where(runs.c.id == sa.bindparam("run_id"))
                .values(failed_step_index=sa.bindparam("index"), failed_step_name=sa.bindparam("name")),
                updates,
            )
        after = rows[-1][0]


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("failed_step_index", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("failed_step_name", sa.String(256), nullable=True))
    _fill(op.get_bind())
    op.create_index("ix_runs_status_completed_cost", "runs", ["status", "completed_at", "cost_micros"])
    op.drop_index("ix_runs_status_completed", table_name="runs")
    for name, column in (("ix_cost_rollups_day_status", "status"), ("ix_cost_rollups_day_workflow", "workflow_id")):
        op.create_index(name, "cost_rollups", ["day", column, "runs", "priced_runs", "cost_micros"])


def downgrade() -> None:
    op.drop_index("ix_cost_rollups_day_workflow", table_name="cost_rollups")
    op.drop_index("ix_cost_rollups_day_status", table_name="cost_rollups")
    op.create_index("ix_runs_status_completed", "runs", ["status", "completed_at"])
    op.drop_index("ix_runs_status_completed_cost", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("failed_step_name")
        batch.drop_column("failed_step_index")
