"""Statements on stored platform webhooks: stored before they are acknowledged, claimed in arrival order,
marked processed once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.db import insert_for, is_postgres
from store.models import WebhookDelivery


async def store_new(session: AsyncSession, rows: list[dict]) -> set[str]:
    """Insert deliveries whose webhook-id is not stored yet; returns the ids inserted."""
    result = await session.execute(
        insert_for(session)(WebhookDelivery)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(WebhookDelivery.id)
    )
    return set(result.scalars().all())


async def claim_unprocessed(session: AsyncSession, limit: int, *, types: tuple[str, ...] = ()) -> list[WebhookDelivery]:
    """Unprocessed deliveries (of `types` only, when given) in arrival order, locked for this transaction
    (others skip them on PostgreSQL)."""
    query = select(WebhookDelivery).where(WebhookDelivery.processed_at.is_(None))
    if types:
        query = query.where(WebhookDelivery.type.in_(types))
    query = query.order_by(WebhookDelivery.received_at, WebhookDelivery.id).limit(limit)
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    return list((await session.scalars(query)).all())


async def mark_processed(session: AsyncSession, ids: list[str], at: datetime) -> None:
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id.in_(ids))
        .values(processed_at=at)
        .execution_options(synchronize_session=False)
    )


async def prune_processed(session: AsyncSession, cutoff: datetime) -> int:
    """Delete processed deliveries received before `cutoff`; returns how many."""
    return (
        await session.execute(
            delete(WebhookDelivery).where(
                WebhookDelivery.received_at < cutoff, WebhookDelivery.processed_at.is_not(None)
            )
        )
    ).rowcount
