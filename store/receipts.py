"""Once-only bookkeeping for requests from Slack: receipts of requests already acted on, and claims of
non-idempotent operations (a replay) on one subject within a window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import OperationClaim, RequestReceipt, utcnow


def _insert(session: AsyncSession):
    return pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert


async def first_receipt(session: AsyncSession, key: str, *, window: timedelta) -> bool:
    """Record that the request `key` was seen; False when it was already seen within `window`."""
    now = utcnow()
    stmt = (
        _insert(session)(RequestReceipt)
        .values(key=key, seen_at=now)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(RequestReceipt.key)
    )
    if (await session.execute(stmt)).first() is not None:
        return True
    # Seen before: a receipt older than the window no longer counts (it is pruned on the same rule).
    renewed = await session.execute(
        update(RequestReceipt)
        .where(RequestReceipt.key == key, RequestReceipt.seen_at < now - window)
        .values(seen_at=now)
    )
    return renewed.rowcount == 1


async def first_receipts(session: AsyncSession, keys: list[str], *, window: timedelta) -> set[str]:
    """`first_receipt` for many distinct keys in two statements: the keys seen for the first time (or last
    seen longer than `window` ago), recorded as seen now."""
    if not keys:
        return set()
    now = utcnow()
    stmt = (
        _insert(session)(RequestReceipt)
        .values([{"key": key, "seen_at": now} for key in keys])
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(RequestReceipt.key)
    )
    first = set((await session.execute(stmt)).scalars().all())
    seen = [key for key in keys if key not in first]
    if seen:
        renewed = await session.execute(
            update(RequestReceipt)
            .where(RequestReceipt.key.in_(seen), RequestReceipt.seen_at < now - window)
            .values(seen_at=now)
            .returning(RequestReceipt.key)
        )
        first.update(renewed.scalars().all())
    return first


async def prune_receipts(session: AsyncSession, *, window: timedelta) -> int:
    result = await session.execute(delete(RequestReceipt).where(RequestReceipt.seen_at < utcnow() - window))
    return result.rowcount or 0


@dataclass(frozen=True)
class Claim:
    actor: str
    claimed_at: datetime
    result: str | None


async def claim_operation(session: AsyncSession, subject: str, actor: str, *, window: timedelta) -> Claim | None:
    """Claim `subject` for `actor`: None when the claim is theirs (go ahead), else the claim that holds it
    (someone did it within the window). A claim older than the window is taken over, atomically."""
    now = utcnow()
    stmt = (
        _insert(session)(OperationClaim)
        .values(subject=subject, actor=actor, claimed_at=now, result=None)
        .on_conflict_do_nothing(index_elements=["subject"])
        .returning(OperationClaim.subject)
    )
    if (await session.execute(stmt)).first() is not None:
        return None
    taken = await session.execute(
        update(OperationClaim)
        .where(OperationClaim.subject == subject, OperationClaim.claimed_at < now - window)
        .values(actor=actor, claimed_at=now, result=None)
    )
    if taken.rowcount == 1:
        return None
    row = (await session.execute(select(OperationClaim).where(OperationClaim.subject == subject))).scalar_one()
    return Claim(actor=row.actor, claimed_at=row.claimed_at, result=row.result)


async def settle_operation(session: AsyncSession, subject: str, actor: str, result: str | None) -> None:
    """Record what the claimed operation gave; with result None (it failed) the claim is released."""
    if result is None:
        await session.execute(
            delete(OperationClaim).where(OperationClaim.subject == subject, OperationClaim.actor == actor)
        )
    else:
        await session.execute(
            update(OperationClaim)
            .where(OperationClaim.subject == subject, OperationClaim.actor == actor)
            .values(result=result)
        )
