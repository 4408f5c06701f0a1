"""Who follows what: channels subscribed to a workflow's failure alerts and approval cards, and people
watching one run by direct message."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import Subscription, Watch, Workflow


async def subscribe(
    session: AsyncSession, channel: str, workflow_id: str, *, failures: bool, approvals: bool, by: str
) -> tuple[bool, bool]:
    """Add failures and/or approvals to what the channel receives; returns what it receives now."""
    sub = await session.get(Subscription, (channel, workflow_id))
    if sub is None:
        sub = Subscription(channel=channel, workflow_id=workflow_id, failures=False, approvals=False, created_by=by)
        session.add(sub)
    sub.failures = sub.failures or failures
    sub.approvals = sub.approvals or approvals
    return sub.failures, sub.approvals


async def unsubscribe(
    session: AsyncSession, channel: str, workflow_id: str, *, failures: bool, approvals: bool
) -> tuple[bool, bool]:
    """Take failures and/or approvals away; a subscription left with neither is removed. Returns what the
    channel receives now."""
    sub = await session.get(Subscription, (channel, workflow_id))
    if sub is None:
        return False, False
    sub.failures = sub.failures and not failures
    sub.approvals = sub.approvals and not approvals
    now = (sub.failures, sub.approvals)
    if not any(now):
        await session.delete(sub)
    return now


async def remember_workflow(session: AsyncSession, workflow_id: str, name: str) -> None:
    """A workflow the store did not know, found on the platform while subscribing to it."""
    await session.merge(Workflow(id=workflow_id, name=name))


async def watch(session: AsyncSession, run_id: str, user_id: str, status: str) -> bool:
    """Follow a run; False when this person already follows it."""
    if await session.get(Watch, (run_id, user_id)) is not None:
        return False
    session.add(Watch(run_id=run_id, user_id=user_id, last_status=status))
    return True


async def unwatch(session: AsyncSession, run_id: str, user_id: str) -> bool:
    """Stop following a run; False when this person was not following it."""
    watch = await session.get(Watch, (run_id, user_id))
    if watch is None:
        return False
    await session.delete(watch)
    return True


async def subscribed_channels(session: AsyncSession) -> list[str]:
    """Every channel some workflow's alerts or approval cards go to."""
    return list((await session.scalars(select(Subscription.channel).distinct())).all())
