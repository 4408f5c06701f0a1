"""The reads behind an alert's failure context line (issue 16): earlier failures of the same kind, the
workflow's last success, and its newest runs. Each uses an index of the runs table and a LIMIT, so an alert
on a store of a million runs stays quick (`make bench` measures it)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import Run


async def same_failures_since(session: AsyncSession, run: Run, since: datetime, *, until: datetime, cap: int) -> int:
    """Failures of the run's workflow with its error code at its step in [since, until], itself included, up
    to `cap` (ix_runs_workflow_status_completed)."""
    inner = (
        select(Run.id)
        .where(
            Run.workflow_id == run.workflow_id,
            Run.status == "failed",
            Run.completed_at >= since,
            Run.completed_at <= until,
            Run.error_code == run.error_code,
            Run.failed_step_id == run.failed_step_id,
        )
        .limit(cap)
        .subquery()
    )
    return int(await session.scalar(select(func.count()).select_from(inner)) or 0)


async def last_success(session: AsyncSession, workflow_id: str, before: datetime) -> tuple[str, datetime] | None:
    row = (
        await session.execute(
            select(Run.id, Run.completed_at)
            .where(Run.workflow_id == workflow_id, Run.status == "completed", Run.completed_at <= before)
            .order_by(Run.completed_at.desc())
            .limit(1)
        )
    ).first()
    return (row[0], row[1]) if row else None


async def newest_outcomes(session: AsyncSession, workflow_id: str, before: datetime, n: int) -> list[tuple]:
    """(status, failed step id) of the workflow's newest `n` finished runs created before `before`."""
    rows = await session.execute(
        select(Run.status, Run.failed_step_id)
        .where(Run.workflow_id == workflow_id, Run.created_at <= before)
        .order_by(Run.created_at.desc())
        .limit(n)
    )
    return [tuple(r) for r in rows.all() if r[0] in ("completed", "failed")]
