"""Statements on runs, their steps, workflows and watches: the writes that merging platform state needs, and
the reads of tracking, alerts, storms and housekeeping."""

from __future__ import annotations

import functools
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.db import insert_for, is_postgres
from store.models import Run, Step, Watch, Workflow


async def locked_run(session: AsyncSession, run_id: str) -> Run | None:
    """The stored run, locked for this transaction (FOR UPDATE on PostgreSQL; SQLite has one writer, and its
    identity map may already hold the run: a batch preloads its runs)."""
    if is_postgres(session):
        return await session.get(Run, run_id, with_for_update=True, populate_existing=True)
    return await session.get(Run, run_id)


@functools.cache
def _run_insert(insert):
    """INSERT … ON CONFLICT DO NOTHING on the runs table, built once per dialect (the values are parameters)."""
    return insert(Run.__table__).on_conflict_do_nothing(index_elements=["id"])


async def insert_run_if_absent(session: AsyncSession, values: dict) -> tuple[Run, bool]:
    """Insert a run row unless one exists, then read it locked; True when this transaction inserted it. Two
    transactions inserting the same new run both succeed: the second waits for the first and sees its row."""
    result = await session.execute(_run_insert(insert_for(session)), values)
    run = await session.get(Run, values["id"], with_for_update=True, populate_existing=True)
    return run, result.rowcount == 1


async def save_workflow(session: AsyncSession, workflow_id: str, name: str) -> None:
    upsert = insert_for(session)(Workflow).values(id=workflow_id, name=name)
    await session.execute(upsert.on_conflict_do_update(index_elements=["id"], set_={"name": name}))


@functools.cache
def _step_upsert(insert):
    """INSERT … ON CONFLICT DO UPDATE on the steps table, built once per dialect: a core statement (no ORM bulk
    path), so a run merged twice in one transaction never collides in the identity map."""
    table = Step.__table__
    upsert = insert(table)
    return upsert.on_conflict_do_update(
        index_elements=["run_id", "id"],
        set_={
            c: upsert.excluded[c] for c in ("index", "name", "type", "status", "started_at", "completed_at", "error")
        },
    )


async def save_steps(session: AsyncSession, rows: list[dict]) -> None:
    """Insert or replace step rows (each a dict of the steps table's columns)."""
    if rows:
        await session.execute(_step_upsert(insert_for(session)), rows)


async def delete_steps(session: AsyncSession, run_id: str, step_ids: set[str]) -> None:
    if step_ids:
        await session.execute(delete(Step).where(Step.run_id == run_id, Step.id.in_(step_ids)))


async def run_ids_with_status(session: AsyncSession, statuses) -> list[str]:
    return list((await session.scalars(select(Run.id).where(Run.status.in_(statuses)))).all())


async def updated_at_of(session: AsyncSession, run_ids: list[str]) -> dict[str, datetime]:
    """The stored `updated_at` of those runs the store knows, in one query."""
    return dict((await session.execute(select(Run.id, Run.updated_at).where(Run.id.in_(run_ids)))).all())


async def runs_by_id(session: AsyncSession, run_ids) -> list[Run]:
    run_ids = list(run_ids)
    return list((await session.scalars(select(Run).where(Run.id.in_(run_ids))))) if run_ids else []


async def claim_alert(session: AsyncSession, run_id: str) -> bool:
    """Mark the run alerted unless it already is: True for exactly one of two transactions racing to alert it
    (the other waits on the row, then sees it taken)."""
    claimed = await session.execute(update(Run).where(Run.id == run_id, Run.alerted.is_(False)).values(alerted=True))
    return claimed.rowcount == 1


async def failure_counts(
    session: AsyncSession, start: datetime, end: datetime
) -> list[tuple[str, str, str | None, int]]:
    """(workflow id, workflow name, error code, count) of the runs that failed in [start, end)."""
    return [
        tuple(row)
        for row in (
            await session.execute(
                select(Run.workflow_id, Run.workflow_name, Run.error_code, func.count())
                .where(Run.status == "failed", Run.completed_at >= start, Run.completed_at < end)
                .group_by(Run.workflow_id, Run.workflow_name, Run.error_code)
            )
        ).all()
    ]


async def prune_runs(session: AsyncSession, *, statuses, cutoff: datetime) -> int:
    """Delete the runs in those statuses last updated before `cutoff`, and their steps; returns how many runs."""
    old = Run.__table__.c
    runs = (
        (await session.execute(delete(Run).where(old.status.in_(statuses), old.updated_at < cutoff).returning(Run.id)))
        .scalars()
        .all()
    )
    if runs:
        await session.execute(delete(Step).where(Step.run_id.in_(runs)))
    return len(runs)


async def watches_of(session: AsyncSession, run_id: str) -> list[Watch]:
    return list((await session.scalars(select(Watch).where(Watch.run_id == run_id))).all())
