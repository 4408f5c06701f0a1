"""The Slack calls behind one outbox delivery: a post (sent again as plain text when Slack refuses its blocks),
an edit (cut to what chat.update accepts, the rest in the message's thread), and the lookup that tells
whether a post whose answer never came was made."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta, timezone

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.pacing import UPDATES, Pacer, channel_key
from bot.render.metadata import outbox_id_of
from store.models import OutboxItem

log = logging.getLogger(__name__)

METADATA_EVENT = "runbot_outbox"
# Errors about the message's formatting: the post is sent again as plain text.
FORMAT = {
    "invalid_blocks",
    "invalid_blocks_format",
    "msg_too_long",
    "too_many_attachments",
    "invalid_attachments",
    "invalid_metadata_format",
    "no_text",
}
PLAIN_TEXT_LIMIT = 39_000  # chat.postMessage truncates text past 40,000 characters
UPDATE_TEXT_LIMIT = 4_000  # chat.update refuses text past 4,000 characters (msg_too_long)
CONTINUED = "\n… (continued in the thread)"
LOOKUP_PAGES = 10
REPOSTED = (
    "_Sent again after a restart: Slack did not let runbot check whether the first try arrived, "
    "so this may repeat a message above._"
)


class LookupFailed(Exception):
    """The lookup of a post whose answer never came failed: whether Slack has the post is still unknown."""

    def __init__(self, error: SlackApiError):
        super().__init__(str(error))
        self.error = error


class Unverifiable(Exception):
    """Slack refuses the lookup for good (`not_in_channel` and the bot cannot join): see Sender.find_posted."""


def _as_utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def split_text(text: str, limit: int) -> tuple[str, str]:
    """`text` cut at or before `limit` characters, at a line break when one is near the end."""
    if len(text) <= limit:
        return text, ""
    cut = text.rfind("\n", limit // 2, limit)
    cut = cut if cut > 0 else limit
    return text[:cut], text[cut:].lstrip("\n")


def overflow_digest(rest: str) -> str:
    return hashlib.sha256(rest.encode()).hexdigest()[:16]


def marked_as_reposted(payload: dict) -> dict:
    payload = dict(payload)
    payload["text"] = f"{payload.get('text') or ''}\n{REPOSTED}".strip()
    blocks = payload.get("blocks")
    if blocks and len(blocks) < 50:
        note = {"type": "context", "elements": [{"type": "mrkdwn", "text": REPOSTED}]}
        payload["blocks"] = [*blocks, note]
    return payload


class Sender:
    def __init__(self, client: AsyncWebClient, pacer: Pacer):
        self.client = client
        self.pacer = pacer

    async def post(self, item: OutboxItem, **kwargs) -> dict:
        try:
            return (await self.client.chat_postMessage(**kwargs)).data
        except SlackApiError as exc:
            if exc.response.get("error") not in FORMAT or "blocks" not in kwargs:
                raise
            log.warning(
                "Slack refused the blocks of outbox %s (%s); sending it as plain text",
                item.id,
                exc.response.get("error"),
            )
            kwargs.pop("blocks", None)
            kwargs["text"] = (kwargs.get("text") or "")[:PLAIN_TEXT_LIMIT]
            await self.pacer.turn(channel_key(kwargs["channel"]))
            return (await self.client.chat_postMessage(**kwargs)).data

    async def update(self, item: OutboxItem, **kwargs) -> str:
        """Edit a message; returns the text that did not fit (to be posted in its thread), or ""."""
        full = str(kwargs.get("text") or "")
        head, rest = split_text(full, UPDATE_TEXT_LIMIT - len(CONTINUED))
        if rest:
            kwargs["text"] = head + CONTINUED
        try:
            await self.client.chat_update(**kwargs)
            # With blocks on screen the text is only the notification's fallback: its tail is not missed.
            return "" if kwargs.get("blocks") else rest
        except SlackApiError as exc:
            if exc.response.get("error") not in FORMAT or "blocks" not in kwargs:
                raise
            log.warning(
                "Slack refused the blocks of the edit in outbox %s (%s); editing it as plain text",
                item.id,
                exc.response.get("error"),
            )
        kwargs["blocks"] = []
        await self.pacer.turn(UPDATES)
        await self.client.chat_update(**kwargs)
        return rest

    async def continue_in_thread(self, channel: str, ts: str, rest: str) -> None:
        while rest:
            chunk, rest = split_text(rest, PLAIN_TEXT_LIMIT)
            await self.pacer.turn(channel_key(channel))
            await self.client.chat_postMessage(channel=channel, thread_ts=ts, text=chunk)

    async def find_posted(self, item: OutboxItem, channel: str, thread_ts: str | None) -> str | None:
        """Closes the crash window: was this in-flight post accepted by Slack before we died?

        Slack refuses the history of a public channel the bot posts to through chat:write.public but never
        joined (`not_in_channel`). The bot then joins it (channels:join) and looks again. When it cannot join
        either, it cannot know, and `Unverifiable` is raised: the post is sent again, marked as possibly
        repeated. A possible duplicate that says so is the safe side of that choice; an alert silently lost is
        not."""
        try:
            return await self._lookup(item, channel, thread_ts)
        except SlackApiError as exc:
            if exc.response.get("error") != "not_in_channel":
                raise LookupFailed(exc) from exc
        try:
            await self.client.conversations_join(channel=channel)
            log.info("joined %s to look up outbox %s, whose answer never came", channel, item.id)
        except SlackApiError as exc:
            log.warning(
                "cannot look up outbox %s in %s (not_in_channel) nor join it (%s); posting it again, marked",
                item.id,
                channel,
                exc.response.get("error"),
            )
            raise Unverifiable() from exc
        try:
            return await self._lookup(item, channel, thread_ts)
        except SlackApiError as exc:
            raise LookupFailed(exc) from exc

    async def _lookup(self, item: OutboxItem, channel: str, thread_ts: str | None) -> str | None:
        oldest = f"{(_as_utc(item.created_at) - timedelta(seconds=60)).timestamp():.6f}"
        cursor = None
        for _ in range(LOOKUP_PAGES):  # a busy channel may hold more than one page since the post was queued
            if thread_ts:
                resp = await self.client.conversations_replies(
                    channel=channel, ts=thread_ts, include_all_metadata=True, limit=200, cursor=cursor
                )
            else:
                resp = await self.client.conversations_history(
                    channel=channel, oldest=oldest, include_all_metadata=True, limit=200, cursor=cursor
                )
            for msg in resp.get("messages", []):
                meta = msg.get("metadata") or {}
                if str(meta.get("event_type") or "").startswith("runbot_") and outbox_id_of(meta) == item.id:
                    log.info(
                        "outbox %s was already posted before a restart (ts %s); not posting it again",
                        item.id,
                        msg["ts"],
                    )
                    return msg["ts"]
            cursor = (resp.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        return None
