"""Live log tails are Slack messages of kind `tail` (active) or `tailed` (ended); their state holds where the
log stream is and the lines shown."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from store.models import OutboxItem, SlackMessage

ACTIVE = "tail"
ENDED = "tailed"
# Slack's refusals that no later edit can get past: the tail's channel or its message is out of the bot's reach.
OUT_OF_REACH = (
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "restricted_action",
    "message_not_found",
    "cant_update_message",
)


async def active_tails(session: AsyncSession, *, limit: int) -> list[SlackMessage]:
    query = select(SlackMessage).where(SlackMessage.kind == ACTIVE).order_by(SlackMessage.id).limit(limit)
    return list((await session.scalars(query)).all())


async def active_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(SlackMessage).where(SlackMessage.kind == ACTIVE)))


async def tails_of(session: AsyncSession, run_id: str) -> list[SlackMessage]:
    query = select(SlackMessage).where(SlackMessage.kind == ACTIVE, SlackMessage.subject == run_id)
    return list((await session.scalars(query.with_for_update())).all())


async def forget_ended(session: AsyncSession, run_id: str, channel: str) -> None:
    """An ended tail of this run in this channel makes way for a new one (one row per kind, run and channel)."""
    await session.execute(
        delete(SlackMessage).where(
            SlackMessage.kind == ENDED, SlackMessage.subject == run_id, SlackMessage.channel == channel
        )
    )


async def refusal(session: AsyncSession, message_id: int) -> str | None:
    """Why Slack refused the tail's post or one of its edits for good (the channel is out of reach), if it did."""
    query = (
        select(OutboxItem.last_error)
        .where(
            OutboxItem.message_id == message_id,
            OutboxItem.status == "failed",
            OutboxItem.method.in_(("post", "update")),
            OutboxItem.last_error.in_(OUT_OF_REACH),
        )
        .limit(1)
    )
    return await session.scalar(query)
