"""Statements on the outbox's rows: coalescing queued posts, claiming due rows for delivery, and recording
each delivery's outcome."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.db import is_postgres
from store.models import OutboxItem


async def queued_edit(session: AsyncSession, message_id: int) -> OutboxItem | None:
    """The newest post or edit of a message still queued and not being sent, to coalesce a new edit into."""
    return (
        await session.scalars(
            select(OutboxItem)
            .where(
                OutboxItem.message_id == message_id,
                OutboxItem.status == "pending",
                OutboxItem.method.in_(("post", "update")),
                OutboxItem.in_flight.is_(False),
            )
            .order_by(OutboxItem.id.desc())
            .limit(1)
        )
    ).first()


async def queued_publish(session: AsyncSession, user: str) -> OutboxItem | None:
    """A person's App Home publish still queued and not being sent."""
    return (
        await session.scalars(
            select(OutboxItem)
            .where(
                OutboxItem.method == "publish",
                OutboxItem.status == "pending",
                OutboxItem.channel == user,
                OutboxItem.in_flight.is_(False),
            )
            .limit(1)
        )
    ).first()


async def replace_queued_payload(session: AsyncSession, item_id: int, payload: dict, *, untried: bool = False) -> bool:
    """Replace a queued row's payload only while the deliverer has not started sending it (`untried`: nor ever
    tried it): the deliverer reads the payload in the transaction that marks the row in flight, and this UPDATE
    re-checks that flag. True when replaced."""
    query = update(OutboxItem).where(
        OutboxItem.id == item_id, OutboxItem.status == "pending", OutboxItem.in_flight.is_(False)
    )
    if untried:
        query = query.where(OutboxItem.attempts == 0)
    result = await session.execute(query.values(payload=payload))
    return result.rowcount == 1


async def claim_due(session: AsyncSession, now: datetime, *, limit: int, claim_until: datetime) -> list[OutboxItem]:
    """Due rows, oldest first, made invisible to other replicas until `claim_until` (skipping rows another
    replica is claiming on PostgreSQL); due again then if this process dies."""
    query = (
        select(OutboxItem)
        .where(OutboxItem.status == "pending", OutboxItem.next_attempt_at <= now)
        .order_by(OutboxItem.id)
        .limit(limit)
    )
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    items = list((await session.scalars(query)).all())
    for item in items:
        item.next_attempt_at = claim_until
    return items


async def refused_post_error(session: AsyncSession, message_id: int) -> str | None:
    """Why the post of a message was refused for good, if it was."""
    return await session.scalar(
        select(OutboxItem.last_error).where(
            OutboxItem.message_id == message_id, OutboxItem.method == "post", OutboxItem.status == "failed"
        )
    )


async def newer_edit_queued(session: AsyncSession, item: OutboxItem) -> bool:
    return bool(
        await session.scalar(
            select(func.count()).where(
                OutboxItem.message_id == item.message_id,
                OutboxItem.method == "update",
                OutboxItem.status == "pending",
                OutboxItem.id > item.id,
            )
        )
    )


async def begin_try(session: AsyncSession, item_id: int) -> dict:
    """Count a try and mark the row in flight; returns its payload as it is now."""
    await session.execute(
        update(OutboxItem).where(OutboxItem.id == item_id).values(in_flight=True, attempts=OutboxItem.attempts + 1)
    )
    return await session.scalar(select(OutboxItem.payload).where(OutboxItem.id == item_id))


async def newer_edit_exists(session: AsyncSession, item: OutboxItem) -> bool:
    """An edit of the same message queued or sent after this one: this one is stale (a 429 or a crash sent it
    back to the queue after a newer state was written), and sending it would put the older state on screen."""
    if item.method != "update" or item.message_id is None:
        return False
    newer = await session.scalar(
        select(OutboxItem.id)
        .where(
            OutboxItem.message_id == item.message_id,
            OutboxItem.method == "update",
            OutboxItem.id > item.id,
            OutboxItem.status.in_(("pending", "sent")),
        )
        .limit(1)
    )
    return newer is not None


async def mark_sent(
    session: AsyncSession, item_id: int, *, at: datetime, ts: str | None = None, note: str | None = None
) -> None:
    """Delivered (or, with a `note`, no longer worth delivering)."""
    await session.execute(
        update(OutboxItem)
        .where(OutboxItem.id == item_id)
        .values(status="sent", sent_ts=ts, sent_at=at, in_flight=False, last_error=note)
    )


async def mark_failed(session: AsyncSession, item_id: int, error: str) -> None:
    await session.execute(
        update(OutboxItem).where(OutboxItem.id == item_id).values(status="failed", last_error=error, in_flight=False)
    )


async def reschedule(
    session: AsyncSession, item_id: int, *, at: datetime, last_error: str | None, release: bool
) -> None:
    """Due again `at`; `release` ends the try's in-flight mark."""
    values = {"next_attempt_at": at, "last_error": last_error}
    if release:
        values["in_flight"] = False
    await session.execute(update(OutboxItem).where(OutboxItem.id == item_id).values(**values))


async def status_counts(session: AsyncSession, statuses: tuple[str, ...] | None = None) -> dict[str, int]:
    query = select(OutboxItem.status, func.count())
    if statuses is not None:
        query = query.where(OutboxItem.status.in_(statuses))
    return dict((await session.execute(query.group_by(OutboxItem.status))).all())


async def prune_sent(session: AsyncSession, cutoff: datetime) -> int:
    """Delete rows sent before `cutoff`; returns how many."""
    return (
        await session.execute(delete(OutboxItem).where(OutboxItem.status == "sent", OutboxItem.sent_at < cutoff))
    ).rowcount
