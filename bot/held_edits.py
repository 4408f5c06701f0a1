"""Edits held for the end of a batch of events: a card that each failure of a burst changes (a provider
incident, a storm) is rendered and queued once, from its newest state, instead of once per failure."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.outbox import update_message
from store.models import SlackMessage

# session.info: {message id: (message, render)}; `update_message` drops a message's held edit by this key.
HELD_EDITS = "outbox:held_edits"


def hold(session: AsyncSession) -> None:
    """Until `flush`, `update_later` keeps only each message's newest rendering; an `update_message` of the
    message meanwhile is newer and drops it."""
    session.info[HELD_EDITS] = {}


async def update_later(session: AsyncSession, message: SlackMessage, render: Callable[[], Any]) -> None:
    """`update_message` with the payload `render()` gives (a dict or an awaitable of one): now, or at `flush`
    when edits are held, where only the newest call's rendering of the message is made."""
    held = session.info.get(HELD_EDITS)
    if held is None:
        await update_message(session, message, await _rendered(render))
    else:
        held[message.id] = (message, render)


async def flush(session: AsyncSession) -> None:
    """Queue the edits held since `hold`; later edits are queued at once."""
    held = session.info.pop(HELD_EDITS, None) or {}
    for message, render in held.values():
        await update_message(session, message, await _rendered(render))


async def _rendered(render: Callable[[], Any]) -> dict:
    payload = render()
    return await payload if inspect.isawaitable(payload) else payload
