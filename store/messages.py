"""Statements on the Slack messages the bot keeps up to date: alerts, storm cards, digests."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import SlackMessage


async def message_of(session: AsyncSession, kind: str, subject: str, channel: str) -> SlackMessage | None:
    return (
        await session.scalars(
            select(SlackMessage).where(
                SlackMessage.kind == kind, SlackMessage.subject == subject, SlackMessage.channel == channel
            )
        )
    ).first()


async def messages_of(session: AsyncSession, kind: str, subject: str) -> list[SlackMessage]:
    """Every channel's message of one kind about one subject, oldest first."""
    return list(
        (
            await session.scalars(
                select(SlackMessage)
                .where(SlackMessage.kind == kind, SlackMessage.subject == subject)
                .order_by(SlackMessage.id)
            )
        ).all()
    )


async def channels_with(session: AsyncSession, kind: str, subject: str) -> set[str]:
    return set(
        (
            await session.scalars(
                select(SlackMessage.channel).where(SlackMessage.kind == kind, SlackMessage.subject == subject)
            )
        ).all()
    )


async def newest_with_prefix(session: AsyncSession, kind: str, channel: str, prefix: str) -> SlackMessage | None:
    """The channel's newest message of a kind whose subject starts with `prefix` (taken literally)."""
    return (
        await session.scalars(
            select(SlackMessage)
            .where(
                SlackMessage.kind == kind,
                SlackMessage.channel == channel,
                SlackMessage.subject.startswith(prefix, autoescape=True),
            )
            .order_by(SlackMessage.id.desc())
            .limit(1)
        )
    ).first()


async def messages_by_id(session: AsyncSession, ids: list[int]) -> list[SlackMessage]:
    return list((await session.scalars(select(SlackMessage).where(SlackMessage.id.in_(ids))))) if ids else []


async def set_posted(session: AsyncSession, message_id: int, ts: str | None) -> None:
    await session.execute(update(SlackMessage).where(SlackMessage.id == message_id).values(ts=ts))


async def set_edited(session: AsyncSession, message_id: int, at: datetime) -> None:
    await session.execute(update(SlackMessage).where(SlackMessage.id == message_id).values(last_edit_at=at))


async def fresh(session: AsyncSession, message: SlackMessage) -> None:
    """Reload a message's state, locked until the transaction ends (FOR UPDATE on PostgreSQL; SQLite has one
    writer), so two events touching the same message in two transactions never lose one's change."""
    await session.flush()
    await session.refresh(message, with_for_update=True)


async def posted_ts_of(session: AsyncSession, kind: str, channel: str, subjects: list[str]) -> dict[str, str]:
    """The Slack ts of the channel's posted messages of a kind about these subjects, in one statement."""
    if not subjects:
        return {}
    rows = await session.execute(
        select(SlackMessage.subject, SlackMessage.ts).where(
            SlackMessage.kind == kind,
            SlackMessage.channel == channel,
            SlackMessage.subject.in_(subjects),
            SlackMessage.ts.is_not(None),
        )
    )
    return {subject: ts for subject, ts in rows.all()}


async def newest_posted_by_prefix(
    session: AsyncSession, kind: str, channel: str, prefixes: list[str]
) -> dict[str, str]:
    """Per prefix, the Slack ts of the channel's newest posted message of a kind whose subject starts with it
    (taken literally), in one statement."""
    if not prefixes:
        return {}
    rows = await session.execute(
        select(SlackMessage.subject, SlackMessage.ts)
        .where(
            SlackMessage.kind == kind,
            SlackMessage.channel == channel,
            SlackMessage.ts.is_not(None),
            or_(*(SlackMessage.subject.startswith(p, autoescape=True) for p in prefixes)),
        )
        .order_by(SlackMessage.id.desc())
    )
    newest: dict[str, str] = {}
    for subject, ts in rows.all():
        prefix = next((p for p in prefixes if subject.startswith(p)), None)
        if prefix is not None and prefix not in newest:
            newest[prefix] = ts
    return newest
