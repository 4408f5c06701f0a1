"""The audit trail: every action taken from Slack, allowed or refused, with who, what, when and the result."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.audit import add_entry


async def record(
    session: AsyncSession,
    *,
    user_id: str,
    action: str,
    target: str | None = None,
    detail: str | None = None,
    result: str = "ok",
    message: str | None = None,
) -> None:
    add_entry(session, user_id=user_id, action=action, target=target, detail=detail, result=result, message=message)


async def record_now(sessions: async_sessionmaker[AsyncSession], **kw) -> None:
    """Audit in a transaction of its own (for refusals, where nothing else is written)."""
    async with sessions.begin() as session:
        await record(session, **kw)
