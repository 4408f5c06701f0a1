"""Statements on the scheduler's job leases: one holder per job across replicas until the lease expires."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, or_
from sqlalchemy.ext.asyncio import AsyncSession

from store.db import insert_for
from store.models import Lease


async def take_lease(session: AsyncSession, name: str, holder: str, *, now: datetime, until: datetime) -> bool:
    """Take or renew a lease until `until`: True unless another holder's lease is still live at `now`."""
    insert = insert_for(session)(Lease).values(name=name, holder=holder, expires_at=until)
    upsert = insert.on_conflict_do_update(
        index_elements=["name"],
        set_={"holder": insert.excluded.holder, "expires_at": insert.excluded.expires_at},
        where=or_(Lease.holder == insert.excluded.holder, Lease.expires_at < now),
    )
    return (await session.execute(upsert.returning(Lease.holder))).first() is not None


async def release_leases(session: AsyncSession, holder: str) -> None:
    await session.execute(delete(Lease).where(Lease.holder == holder))
