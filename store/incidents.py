"""Statements for provider incident cards (issue 16): provider failures within a window, and which affected
runs are still failed and not replayed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from store.models import ProviderFailure, Run


async def failures_since(session: AsyncSession, provider: str, since: datetime) -> list[ProviderFailure]:
    return list(
        (
            await session.scalars(
                select(ProviderFailure)
                .where(ProviderFailure.provider == provider, ProviderFailure.at >= since)
                .order_by(ProviderFailure.at)
            )
        ).all()
    )


async def replayable(session: AsyncSession, run_ids: list[str]) -> list[str]:
    """Those of the runs still failed, with no replay of their own, oldest first."""
    if not run_ids:
        return []
    replay = aliased(Run)
    rows = await session.scalars(
        select(Run.id)
        .where(
            Run.id.in_(run_ids), Run.status == "failed", ~select(replay.id).where(replay.replay_of == Run.id).exists()
        )
        .order_by(Run.completed_at, Run.id)
    )
    return list(rows.all())
