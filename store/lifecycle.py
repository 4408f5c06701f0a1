"""Statements on the alert lifecycle of failed runs (who is on it, resolved, recovered) and on mutes and the
failures they kept quiet (issue 16). A lifecycle row exists only while someone or something handles the run:
a run with no row is open."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.db import insert_for, is_postgres
from store.models import AlertLifecycle, Mute, MutedFailure


async def locked_lifecycle(session: AsyncSession, run_id: str) -> AlertLifecycle:
    """The run's lifecycle row, created empty when absent, locked until the transaction ends."""
    await session.execute(
        insert_for(session)(AlertLifecycle)
        .values(run_id=run_id, on_it=[])
        .on_conflict_do_nothing(index_elements=["run_id"])
    )
    return await session.get(
        AlertLifecycle, run_id, with_for_update=is_postgres(session) or None, populate_existing=True
    )


async def drop_if_empty(session: AsyncSession, row: AlertLifecycle) -> None:
    """Nobody on it, not resolved, not recovered: the run is open again (no row)."""
    if not row.on_it and not row.resolved_by and not row.recovered_by:
        await session.delete(row)


async def lifecycles_of(session: AsyncSession, run_ids) -> dict[str, AlertLifecycle]:
    run_ids = list(run_ids)
    if not run_ids:
        return {}
    rows = await session.scalars(select(AlertLifecycle).where(AlertLifecycle.run_id.in_(run_ids)))
    return {r.run_id: r for r in rows}


def is_open():
    """A condition on `Run.id`: nobody handles the run (no lifecycle row)."""
    from store.models import Run

    # Correlated on `Run` only: the page query may join the lifecycle table too (`failed_runs(marked=True)`).
    return (
        ~select(AlertLifecycle.run_id).where(AlertLifecycle.run_id == Run.id).correlate_except(AlertLifecycle).exists()
    )


# Mutes


async def active_mutes(session: AsyncSession, channel: str, workflow_id: str, now: datetime) -> list[Mute]:
    return list(
        (
            await session.scalars(
                select(Mute).where(
                    Mute.channel == channel,
                    Mute.workflow_id == workflow_id,
                    Mute.ended_at.is_(None),
                    or_(Mute.until.is_(None), Mute.until > now),
                )
            )
        ).all()
    )


async def channel_mutes(session: AsyncSession, channel: str, now: datetime) -> list[Mute]:
    return list(
        (
            await session.scalars(
                select(Mute)
                .where(Mute.channel == channel, Mute.ended_at.is_(None), or_(Mute.until.is_(None), Mute.until > now))
                .order_by(Mute.id)
            )
        ).all()
    )


async def end_mute(session: AsyncSession, mute_id: int, now: datetime) -> Mute | None:
    mute = await session.get(Mute, mute_id)
    if mute is None or mute.ended_at is not None or (mute.until is not None and mute.until <= now):
        return None
    mute.ended_at = now
    return mute


async def take_untold(session: AsyncSession, channel: str, workflow_id: str) -> int:
    """How many muted failures of the workflow this channel was not told of yet; marks them told."""
    told = await session.execute(
        update(MutedFailure)
        .where(MutedFailure.channel == channel, MutedFailure.workflow_id == workflow_id, MutedFailure.told.is_(False))
        .values(told=True)
    )
    return told.rowcount or 0


async def muted_count_between(session: AsyncSession, start: datetime, end: datetime) -> int:
    return int(
        await session.scalar(
            select(func.count(func.distinct(MutedFailure.run_id))).where(
                MutedFailure.at >= start, MutedFailure.at < end
            )
        )
        or 0
    )


async def prune(session: AsyncSession, cutoff: datetime) -> int:
    """Past retention: provider failures and muted failures older than `cutoff`, mutes that ended before it,
    and the lifecycle of runs no longer stored. Returns how many rows."""
    from store.models import ProviderFailure, Run

    gone = 0
    for statement in (
        delete(ProviderFailure).where(ProviderFailure.at < cutoff),
        delete(MutedFailure).where(MutedFailure.at < cutoff),
        delete(Mute).where(or_(Mute.ended_at < cutoff, Mute.until < cutoff)),
        delete(AlertLifecycle).where(~select(Run.id).where(Run.id == AlertLifecycle.run_id).exists()),
    ):
        gone += (await session.execute(statement)).rowcount or 0
    return gone
