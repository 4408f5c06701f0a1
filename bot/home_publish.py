"""Sending one queued App Home (`views.publish`) for the outbox's deliverer, with the `hash` of the view the bot
last published: when Slack answers `hash_conflict` (the home changed since, say by a publish that raced this
one), the stored hash is dropped and the deliverer's `on_home_conflict(user)` re-renders it from the store and
queues it again, so the newest state always ends on screen."""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError

from store import kv
from store.models import KeyValue

log = logging.getLogger(__name__)


def home_key(user: str) -> str:
    """The fact of one person's App Home: versions taken and published, and the hash of the view on screen."""
    return f"home.version:{user}"


async def _set_hash(sessions, user: str, view_hash: str | None) -> None:
    async with sessions.begin() as session:
        row = await kv.locked(session, home_key(user))
        if row is not None:
            row.value = {**(row.value or {}), "hash": view_hash}


async def send(deliverer, user: str, view: dict) -> None:
    async with deliverer.sessions() as session:
        row = await session.get(KeyValue, home_key(user))
    known = ((row.value or {}) if row else {}).get("hash")
    try:
        resp = await deliverer.client.views_publish(user_id=user, view=view, **({"hash": known} if known else {}))
    except SlackApiError as exc:
        if exc.response.get("error") != "hash_conflict":
            raise
        log.info("App Home of %s changed since the bot last published it: rendering it again from the store", user)
        await _set_hash(deliverer.sessions, user, None)
        if deliverer.on_home_conflict is not None:
            deliverer.on_home_conflict(user)
        return
    await _set_hash(deliverer.sessions, user, ((resp.get("view") or {}).get("hash")))
