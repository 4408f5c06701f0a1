"""Statements on the failure counts that storm grouping keeps per channel, workflow and error code."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from store.db import is_postgres
from store.models import StormCounter


def _kind(channel: str, workflow_id: str, code: str):
    return (StormCounter.channel == channel, StormCounter.workflow_id == workflow_id, StormCounter.error_code == code)


async def lock_kind(session: AsyncSession, channel: str, workflow_id: str, code: str) -> None:
    """Serialise, until this transaction ends, the transactions counting failures of one kind in one channel
    (an advisory lock on PostgreSQL; SQLite has one writer already)."""
    if is_postgres(session):
        key = int.from_bytes(
            hashlib.sha256(f"storm|{channel}|{workflow_id}|{code}".encode()).digest()[:8], "big", signed=True
        )
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


async def count_failure(
    session: AsyncSession,
    channel: str,
    workflow_id: str,
    code: str,
    run_id: str,
    *,
    at: datetime,
    window_start: datetime,
) -> None:
    """Count a failure, and forget the ones of its kind before the window."""
    await session.execute(
        delete(StormCounter).where(*_kind(channel, workflow_id, code), StormCounter.at < window_start)
    )
    session.add(StormCounter(channel=channel, workflow_id=workflow_id, error_code=code, run_id=run_id, at=at))
    await session.flush()


async def failures_since(
    session: AsyncSession, channel: str, workflow_id: str, code: str, since: datetime
) -> list[tuple[str, datetime]]:
    """The (run id, at) of the counted failures of one kind since `since`, oldest first."""
    return [
        (row.run_id, row.at)
        for row in (
            await session.execute(
                select(StormCounter.run_id, StormCounter.at)
                .where(*_kind(channel, workflow_id, code), StormCounter.at >= since)
                .order_by(StormCounter.at, StormCounter.id)
            )
        ).all()
    ]


async def forget_failures(session: AsyncSession, workflow_id: str) -> None:
    await session.execute(delete(StormCounter).where(StormCounter.workflow_id == workflow_id))
