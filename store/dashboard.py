"""Queries behind one person's App Home dashboard: the runs they watch or triggered, recent failures of the
workflows their channels hear, and who has an App Home to refresh."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import CostRollup, KeyValue, Run, Subscription, Watch


async def watched_runs(session: AsyncSession, user: str, *, limit: int) -> list[Run]:
    query = select(Run).join(Watch, Watch.run_id == Run.id).where(Watch.user_id == user)
    return list((await session.scalars(query.order_by(Run.created_at.desc(), Run.id.desc()).limit(limit))).all())


async def watchers(session: AsyncSession, run_id: str) -> list[str]:
    return list((await session.scalars(select(Watch.user_id).where(Watch.run_id == run_id))).all())


async def triggered_runs(session: AsyncSession, user: str, *, limit: int) -> list[Run]:
    query = select(Run).where(Run.actor_slack_id == user)
    return list((await session.scalars(query.order_by(Run.created_at.desc(), Run.id.desc()).limit(limit))).all())


async def failure_workflows(session: AsyncSession, channels: list[str]) -> set[str]:
    """Workflows whose failures are subscribed in any of these channels."""
    if not channels:
        return set()
    query = select(Subscription.workflow_id).where(Subscription.channel.in_(channels), Subscription.failures)
    return set((await session.scalars(query)).all())


async def recent_failures(
    session: AsyncSession, *, since: datetime, workflows: set[str] | None, limit: int
) -> list[Run]:
    """Failed runs since `since`, newest first; `workflows` None means every workflow."""
    query = select(Run).where(Run.status == "failed", Run.completed_at >= since)
    if workflows is not None:
        if not workflows:
            return []
        query = query.where(Run.workflow_id.in_(sorted(workflows)))
    return list((await session.scalars(query.order_by(Run.completed_at.desc(), Run.id.desc()).limit(limit))).all())


async def recovered(session: AsyncSession, run_ids: list[str]) -> dict[str, str]:
    """Which of these runs a replay has since completed: {run id: the completed replay's id}."""
    if not run_ids:
        return {}
    query = select(Run.replay_of, Run.id).where(Run.replay_of.in_(run_ids), Run.status == "completed")
    return {original: replay for original, replay in (await session.execute(query.order_by(Run.id))).all()}


async def usage_known(session: AsyncSession) -> bool:
    """Whether the platform ever reported a cost (any priced run in the daily rollups)."""
    query = select(CostRollup.day).where(CostRollup.priced_runs > 0).limit(1)
    return (await session.scalar(query)) is not None


async def with_home(session: AsyncSession, users: list[str], key_of) -> list[str]:
    """Those of `users` who have an App Home published by the bot (they opened it once)."""
    if not users:
        return []
    keys = {key_of(u): u for u in users}
    found = (await session.scalars(select(KeyValue.key).where(KeyValue.key.in_(list(keys))))).all()
    return sorted(keys[k] for k in found)
