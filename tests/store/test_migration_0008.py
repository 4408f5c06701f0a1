"""Migration 0008 fills the failed step's columns of the failed runs already stored (run lists read them, never
the run's JSON), as the bot fills them for a run it stores now: the step `failed_step_id` names, else the first
failed step; nothing for a run with no failed step or not failed. Then down and up again. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import command
from sqlalchemy import text

from store.db import alembic_config, create_engine

RUNS = [
    # id, status, data
    ("run_mig01", "failed", {"failed_step_id": "s2", "steps": [
        {"id": "s1", "index": 0, "name": "Fetch", "status": "failed"},
        {"id": "s2", "index": 1, "name": "Summarise", "status": "failed"},
    ]}),
    ("run_mig02", "failed", {"steps": [
        {"id": "s3", "index": 2, "name": "", "status": "failed"},
        {"id": "s1", "index": 0, "name": "Fetch", "status": "completed"},
    ]}),
    ("run_mig03", "failed", {}),
    ("run_mig04", "completed", {"steps": [{"id": "s1", "index": 0, "name": "Fetch", "status": "failed"}]}),
]  # fmt: skip


AT = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
RUNS_TABLE = sa.table(  # the table as revision 0007 leaves it (the models are the newest revision's)
    "runs",
    *(sa.column(c, sa.String) for c in ("id", "workflow_id", "workflow_name", "status")),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
    sa.column("total_steps", sa.Integer),
    sa.column("completed_steps", sa.Integer),
    sa.column("alerted", sa.Boolean),
    sa.column("data", sa.JSON),
)


def _migrate(revision: str, down: bool = False):
    def run(connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(cfg, revision)

    return run


async def test_0008_fills_the_failed_step_of_stored_failed_runs(db_url):
    engine = create_engine(db_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_migrate("0007"))
            await conn.execute(
                RUNS_TABLE.insert(),
                [
                    {"id": run_id, "workflow_id": "wf", "workflow_name": "Wf", "status": status, "created_at": AT,
                     "updated_at": AT, "total_steps": 2, "completed_steps": 0, "alerted": False, "data": data}
                    for run_id, status, data in RUNS
                ],
            )  # fmt: skip
        for _ in range(2):  # up, then down and up again
            async with engine.begin() as conn:
                await conn.run_sync(_migrate("head"))
            async with engine.connect() as conn:
                rows = (
                    await conn.execute(text("SELECT id, failed_step_index, failed_step_name FROM runs ORDER BY id"))
                ).all()
            assert [tuple(r) for r in rows] == [
                ("run_mig01", 1, "Summarise"),
                ("run_mig02", 2, "s3"),
                ("run_mig03", None, None),
                ("run_mig04", None, None),
            ]
            async with engine.begin() as conn:
                await conn.run_sync(_migrate("0007", down=True))
    finally:
        await engine.dispose()
