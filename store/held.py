"""Outbox rows held back because Slack refused them for a cause a person must fix (a channel the bot cannot
reach, a revoked token, a missing scope): kept with status "held" and given back to the deliverer, in their
original order, when the cause is fixed (bot/reach.py)."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import OutboxItem, utcnow


async def hold(session: AsyncSession, item_id: int, error: str, *, posted_for_sure_not: bool) -> None:
    """Hold a row. `posted_for_sure_not`: Slack refused the post itself, so it is not in Slack and needs no
    look-up later; otherwise an earlier try's in-flight mark is kept (it is looked up when released)."""
    values: dict = {"status": "held", "last_error": error}
    if posted_for_sure_not:
        values["in_flight"] = False
    await session.execute(
        update(OutboxItem).where(OutboxItem.id == item_id, OutboxItem.status == "pending").values(**values)
    )


async def release(session: AsyncSession, channel: str | None = None, *, methods: tuple[str, ...] = ()) -> int:
    """Make held rows (of one channel, or all; of some methods, or any) due now; returns how many."""
    query = update(OutboxItem).where(OutboxItem.status == "held")
    if channel is not None:
        query = query.where(OutboxItem.channel == channel)
    if methods:
        query = query.where(OutboxItem.method.in_(methods))
    return (await session.execute(query.values(status="pending", next_attempt_at=utcnow()))).rowcount


async def held_by_channel(session: AsyncSession) -> dict[str, tuple[int, str | None]]:
    """Held rows per channel (a DM or a publish: the person), with the latest refusal."""
    rows = await session.execute(
        select(OutboxItem.channel, func.count(), func.max(OutboxItem.last_error))
        .where(OutboxItem.status == "held")
        .group_by(OutboxItem.channel)
    )
    return {str(channel): (count, error) for channel, count, error in rows.all()}
