"""Statements on small durable facts kept by key (App Home versions, the tracker's last cycle, open storms)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from store.db import insert_for
from store.models import KeyValue


async def locked_value(session: AsyncSession, key: str, default: dict) -> KeyValue:
    """The fact under `key`, created with `default` when absent, locked until the transaction ends (a row lock
    on PostgreSQL; on SQLite the INSERT's write lock)."""
    await session.execute(
        insert_for(session)(KeyValue).values(key=key, value=default).on_conflict_do_nothing(index_elements=["key"])
    )
    return await session.get(KeyValue, key, with_for_update=True, populate_existing=True)


async def put(session: AsyncSession, key: str, value: dict) -> None:
    """Set the fact under `key`, whether or not another transaction wrote it meanwhile."""
    insert = insert_for(session)(KeyValue).values(key=key, value=value)
    await session.execute(insert.on_conflict_do_update(index_elements=["key"], set_={"value": insert.excluded.value}))


async def locked(session: AsyncSession, key: str) -> KeyValue | None:
    """The fact under `key`, if any, locked until the transaction ends."""
    return await session.get(KeyValue, key, with_for_update=True)
