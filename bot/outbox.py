"""The outbox: every Slack post is a row written in the transaction of the change that caused it, delivered by
`Deliverer` at its slot within Slack's limits (bot/pacing.py), retried on 429 (after Retry-After), 5xx and network
errors, never posted twice (the outbox id rides in the post's public metadata: a post whose answer never came is
looked up before it is sent again; a 429 or a refusal says Slack did not post it), never an older edit over a newer.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta, timezone

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.home_publish import home_key as _home_key
from bot.home_publish import send as send_home
from bot.metrics import Metrics
from bot.outbox_send import (
    FORMAT,
    METADATA_EVENT,
    LookupFailed,
    Sender,
    Unverifiable,
    marked_as_reposted,
    overflow_digest,
)
from bot.pacing import EPHEMERALS, UPDATES, Pacer, channel_key
from bot.render.metadata import with_outbox_id
from store import kv, messages
from store import outbox as rows
from store.db import on_outbox_commit
from store.models import KeyValue, OutboxItem, SlackMessage, utcnow

log = logging.getLogger(__name__)

# Slack errors that no retry can fix: the row is marked failed and shown in /readyz and /metrics.
PERMANENT = {
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "invalid_auth",
    "account_inactive",
    "token_revoked",
    "user_not_found",
    "cannot_dm_bot",
    "missing_scope",
    "not_authed",
    "message_not_found",
    "cant_update_message",
    "edit_window_closed",  # chat.update: the workspace's time for editing the message is over
    "restricted_action",
    "invalid_arguments",
}
POSTS = ("post", "thread", "dm")  # methods that create a message: a try whose answer never came is looked up


# Writing to the outbox (inside the caller's transaction)


async def post(
    session: AsyncSession, *, channel: str, payload: dict, kind: str, subject: str, state: dict | None = None
) -> SlackMessage:
    """Queue a new message that the bot will keep up to date, returning its SlackMessage row."""
    message = SlackMessage(kind=kind, subject=subject, channel=channel, state=state or {})
    session.add(message)
    await session.flush()
    session.add(OutboxItem(method="post", channel=channel, message_id=message.id, payload=payload))
    return message


async def update_message(session: AsyncSession, message: SlackMessage, payload: dict) -> None:
    """Queue a replacement of the message: coalesced with any not-yet-delivered post or update of it,
    so a burst of changes becomes one edit."""
    session.info.get("outbox:held_edits", {}).pop(message.id, None)  # newer than one held (bot/held_edits.py)
    pending = await rows.queued_edit(session, message.id)
    if pending is not None and await rows.replace_queued_payload(session, pending.id, payload):
        return
    session.add(OutboxItem(method="update", channel=message.channel, message_id=message.id, payload=payload))


async def thread_reply(session: AsyncSession, message: SlackMessage, payload: dict) -> OutboxItem:
    item = OutboxItem(method="thread", channel=message.channel, message_id=message.id, payload=payload)
    session.add(item)
    return item


async def ephemeral(session: AsyncSession, *, channel: str, user: str, payload: dict) -> None:
    session.add(OutboxItem(method="ephemeral", channel=channel, payload={**payload, "user": user}))


async def direct_message(session: AsyncSession, *, user: str, payload: dict) -> None:
    session.add(OutboxItem(method="dm", channel=None, payload={**payload, "user": user}))


async def next_home_version(session: AsyncSession, user: str) -> int:
    """Take the next App Home version of one person, locking their version row until the transaction ends.

    Called before the content is read, in the same transaction: the lock (a row lock on PostgreSQL, the write
    lock on SQLite, whose first write statement takes it) serialises publishers of one person, so a higher
    version was always rendered from newer state."""
    row = await kv.locked_value(session, _home_key(user), {"version": 0, "published": 0})
    version = int((row.value or {}).get("version") or 0) + 1
    row.value = {**(row.value or {}), "version": version}
    await session.flush()
    return version


async def publish_home(session: AsyncSession, *, user: str, view: dict, version: int) -> None:
    """Queue a person's App Home; `version` comes from next_home_version in the same transaction. A queued,
    older publish of the same person is replaced, and the deliverer drops any publish older than one sent."""
    payload = {"view": view, "version": version}
    pending = await rows.queued_publish(session, user)
    if pending is not None and await rows.replace_queued_payload(session, pending.id, payload):
        return
    session.add(OutboxItem(method="publish", channel=user, payload=payload))


async def _home_published(session: AsyncSession, user: str) -> int:
    row = await session.get(KeyValue, _home_key(user))
    return int(((row.value or {}) if row else {}).get("published") or 0)


# Delivering


def _as_utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


class Deliverer:
    """Delivers due outbox rows; one per process, safe with several replicas (rows are claimed). Woken by each
    commit of its sessions that wrote to the outbox."""

    reach = None  # bot.reach.Reach, set where the app is built: holds what Slack refuses until it is fixed

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        client: AsyncWebClient,
        metrics: Metrics,
        *,
        backoff_max: float = 300.0,
        edit_interval: float = 2.0,
        claim_seconds: float = 30.0,
        pacer: Pacer | None = None,
    ):
        self.sessions = sessions
        self.client = client
        self.metrics = metrics
        self.backoff_max = backoff_max
        self.edit_interval = edit_interval
        self.claim_seconds = claim_seconds  # a claimed row stays invisible to other replicas while delivered
        self.pacer = pacer or Pacer()
        self.sender = Sender(client, self.pacer)
        self._next_paced: float | None = None  # loop time the earliest row waiting for its slot is due
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._stopping = False
        self.failed: dict[str, str] = {}  # channel -> last permanent error, for /readyz
        self.last_error: str | None = None
        self.delivered = 0
        self.received_at: dict[int, float] = {}  # message id -> loop time its cause arrived, for alert latency
        self.on_home_conflict = None  # set by bot/app.py: render one person's App Home again (bot/home_publish.py)
        on_outbox_commit(sessions, self.kick)

    def kick(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="outbox-deliverer")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task:
            await asyncio.wait([self._task], timeout=5)
            if not self._task.done():
                self._task.cancel()

    async def _loop(self) -> None:
        while not self._stopping:
            try:
                delivered = await self.deliver_due()
            except Exception:  # the database may be briefly away: keep the loop alive and try again
                log.exception("outbox delivery pass failed; retrying shortly")
                delivered = 0
            if delivered:
                continue
            timeout = 0.5
            if self._next_paced is not None:  # wake when a paced row's slot comes, not up to 0.5 s after it
                timeout = min(timeout, max(self._next_paced - asyncio.get_running_loop().time(), 0.01))
                self._next_paced = None
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()

    async def _claim(self, limit: int = 20) -> list[OutboxItem]:
        now = utcnow()
        async with self.sessions.begin() as session:
            return await rows.claim_due(
                session, now, limit=limit, claim_until=now + timedelta(seconds=self.claim_seconds)
            )

    async def deliver_due(self) -> int:
        items = await self._claim()
        if not items:
            await self._refresh_gauges()
            return 0
        by_channel: dict[str | None, list[OutboxItem]] = {}
        for item in items:
            by_channel.setdefault(item.channel, []).append(item)
        await asyncio.gather(*(self._deliver_in_order(group) for group in by_channel.values()))
        return len(items)

    async def _deliver_in_order(self, items: list[OutboxItem]) -> None:
        for item in items:
            await self._deliver(item)

    async def _deliver(self, item: OutboxItem) -> None:
        if self.reach is not None and await self.reach.intercept(item):
            return  # its channel (or the token) is refused for now: held (bot/reach.py)
        async with self.sessions() as session:
            message = await session.get(SlackMessage, item.message_id) if item.message_id else None
            if item.method in ("update", "thread") and (message is None or message.ts is None):
                never = message is None or await rows.refused_post_error(session, message.id)
            else:
                never = None
            newer = item.method == "update" and await rows.newer_edit_queued(session, item)
            if item.method == "publish":
                # An App Home older than one already on screen (this one was retried, or raced) would roll it back.
                version = item.payload.get("version")
                newer = version is not None and version <= await _home_published(session, item.channel)
        if never:
            # Its message was refused for good: this can never be delivered either.
            await self._give_up(
                item, f"message never posted: {never}" if isinstance(never, str) else "message gone", refused=False
            )
            return
        if item.method in ("update", "thread") and (message is None or message.ts is None):
            # The message it belongs to is not posted yet: wait for it without spending a try.
            await self._reschedule(item, 0.3, count=False)
            return
        if newer:
            # A newer edit of the same message is queued (this one was retried): sending this would roll it back.
            async with self.sessions.begin() as session:
                await rows.mark_sent(session, item.id, at=utcnow(), note="superseded by a newer version")
            return
        if item.method == "update" and message and message.last_edit_at and self.edit_interval:
            wait = (_as_utc(message.last_edit_at) + timedelta(seconds=self.edit_interval) - utcnow()).total_seconds()
            if wait > 0:
                await self._reschedule(item, wait, count=False)
                return
        key = self._pace_key(item)
        delay = self.pacer.delay(item.id, key) if key else 0.0
        if delay:
            # Slack allows about one post a second per channel and Tier 3 edits: wait for this row's slot.
            await self._reschedule(item, delay, count=False)
            due = asyncio.get_running_loop().time() + delay
            self._next_paced = due if self._next_paced is None else min(self._next_paced, due)
            return
        try:
            if (was_in_flight := await self._begin(item)) is None:
                return
            ts = await self._send(item, message, was_in_flight)
        except LookupFailed as exc:
            # The lookup failed, not the post: whether Slack has it stays unknown, so it is looked up again.
            await self._on_slack_error(item, exc.error, answered=False)
            return
        except SlackApiError as exc:
            await self._on_slack_error(item, exc)
            return
        except Exception as exc:  # network errors and timeouts: retry with backoff
            self.metrics.slack_calls.labels(item.method, "retry").inc()
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.warning("Slack unreachable delivering outbox %s (%s): %s; will retry", item.id, item.method, exc)
            await self._reschedule(item, self._backoff(item.attempts + 1))
            return
        await self._mark_sent(item, message, ts)

    @staticmethod
    def _pace_key(item: OutboxItem) -> str | None:
        if item.method in ("post", "thread"):
            return channel_key(item.channel)
        if item.method == "dm":
            return channel_key(f"dm:{item.payload.get('user')}")
        if item.method == "update":
            return UPDATES
        if item.method == "ephemeral":
            return EPHEMERALS
        return None

    async def _posted_or_none(self, item: OutboxItem, channel: str, thread_ts: str | None, payload: dict):
        """(ts of the post if Slack already has it, payload to send otherwise)."""
        try:
            return await self.sender.find_posted(item, channel, thread_ts), payload
        except Unverifiable:
            return None, marked_as_reposted(payload)

    async def _send(self, item: OutboxItem, message: SlackMessage | None, was_in_flight: bool) -> str | None:
        payload = dict(item.payload)
        own = payload.pop("metadata", None)  # a message's public metadata (bot/render/metadata.py), if it has one
        metadata = with_outbox_id(own, item.id, METADATA_EVENT)
        if item.method == "post":
            if was_in_flight:
                found, payload = await self._posted_or_none(item, item.channel, None, payload)
                if found:
                    return found
            resp = await self.sender.post(item, channel=item.channel, metadata=metadata, **payload)
            if message and message.id in self.received_at:
                loop_started = self.received_at.pop(message.id)
                self.metrics.alert_latency.observe(asyncio.get_running_loop().time() - loop_started)
            return resp["ts"]
        if item.method == "thread":
            if was_in_flight:
                found, payload = await self._posted_or_none(item, item.channel, message.ts, payload)
                if found:
                    return found
            resp = await self.sender.post(
                item, channel=item.channel, thread_ts=message.ts, metadata=metadata, **payload
            )
            return resp["ts"]
        if item.method == "update":
            extra = {"metadata": own} if own else {}
            rest = await self.sender.update(item, channel=message.channel, ts=message.ts, **extra, **payload)
            await self._continue_in_thread(message, rest)
            return message.ts
        if item.method == "ephemeral":
            await self.client.chat_postEphemeral(channel=item.channel, **payload)
            return None
        if item.method == "dm":
            user = payload.pop("user")
            channel = (await self.client.conversations_open(users=user))["channel"]["id"]
            if was_in_flight:
                found, payload = await self._posted_or_none(item, channel, None, payload)
                if found:
                    return found
            resp = await self.sender.post(item, channel=channel, metadata=metadata, **payload)
            return resp["ts"]
        if item.method == "publish":
            return await send_home(self, item.channel, payload["view"])  # with the hash; see bot/home_publish.py
        raise ValueError(f"unknown outbox method {item.method}")

    async def _continue_in_thread(self, message: SlackMessage, rest: str) -> None:
        """What did not fit in an edit goes to the message's thread, once for each different rest."""
        if not rest:
            return
        key, digest = f"overflow:{message.id}", overflow_digest(rest)
        async with self.sessions() as session:
            row = await session.get(KeyValue, key)
            if row is not None and (row.value or {}).get("digest") == digest:
                return
        await self.sender.continue_in_thread(message.channel, message.ts, rest)
        async with self.sessions.begin() as session:
            await kv.put(session, key, {"digest": digest})

    async def _begin(self, item: OutboxItem) -> bool | None:
        """Count the try and mark the row in flight, reading its payload as it is now (writers coalesce only into
        rows not in flight). Returns whether an earlier try was in flight (Slack may hold the post: look it up
        first), or None for an edit a newer edit supersedes (set aside: an older state never lands over a newer)."""
        was_in_flight = bool(item.in_flight)
        async with self.sessions.begin() as session:
            if await rows.newer_edit_exists(session, item):
                await rows.mark_sent(session, item.id, at=utcnow(), note="superseded by a newer edit")
                return None
            item.payload = await rows.begin_try(session, item.id)
        return was_in_flight and item.method in POSTS

    async def _mark_sent(self, item: OutboxItem, message: SlackMessage | None, ts: str | None) -> None:
        now = utcnow()
        async with self.sessions.begin() as session:
            await rows.mark_sent(session, item.id, at=now, ts=ts)
            if message is not None and item.method == "post":
                await messages.set_posted(session, message.id, ts)
            elif message is not None and item.method == "update":
                await messages.set_edited(session, message.id, now)
            elif item.method == "publish":
                row = await kv.locked(session, _home_key(item.channel))
                version = int(item.payload.get("version") or 0)
                if row is not None and version > int((row.value or {}).get("published") or 0):
                    row.value = {**row.value, "published": version}
        self.delivered += 1
        self.metrics.slack_calls.labels(item.method, "ok").inc()

    async def _on_slack_error(self, item: OutboxItem, exc: SlackApiError, *, answered: bool = True) -> None:
        """`answered`: Slack's answer is about the post itself. A 429 or a refusal says it was not posted, so
        the next try posts without a lookup; a 5xx may come after Slack posted, so the next try looks first."""
        error = str(exc.response.get("error") or exc.response.status_code)
        status = exc.response.status_code
        if self.reach is not None and await self.reach.refused(item, exc):
            return  # a refusal a person must fix: held, not given up (bot/reach.py)
        if error in PERMANENT or (answered and error in FORMAT):
            await self._give_up(item, error)
            return
        delay = self._backoff(item.attempts + 1)
        retry_after = exc.response.headers.get("Retry-After") or exc.response.headers.get("retry-after")
        if status == 429 and retry_after:
            try:
                delay = max(float(retry_after if not isinstance(retry_after, list) else retry_after[0]), 0.05)
            except ValueError:
                pass
        self.last_error = f"{status} {error}"
        self.metrics.slack_calls.labels(item.method, "retry").inc()
        log.warning(
            "Slack answered %s %s to outbox %s (%s); retrying in %.1fs", status, error, item.id, item.method, delay
        )
        await self._reschedule(item, delay, not_posted=answered and status < 500)

    async def _give_up(self, item: OutboxItem, error: str, *, refused: bool = True) -> None:
        where = item.channel or item.payload.get("user")
        log.error("Slack refused outbox %s (%s) for channel %s: %s; not retrying", item.id, item.method, where, error)
        if refused:  # an edit of a message that was never posted is not a new refusal
            self.failed[str(where)] = error
            self.metrics.slack_calls.labels(item.method, "failed").inc()
        async with self.sessions.begin() as session:
            await rows.mark_failed(session, item.id, error)

    def _backoff(self, attempts: int) -> float:
        return min(self.backoff_max, 0.25 * (2 ** min(attempts, 20)))

    async def _reschedule(
        self, item: OutboxItem, delay: float, *, count: bool = True, not_posted: bool = False
    ) -> None:
        """Due again after `delay`. After a failed try (`count`), a post stays in flight (Slack may have it)
        unless Slack's answer says it was `not_posted`; an edit or a publish is released, so newer content can
        be coalesced into it again."""
        async with self.sessions.begin() as session:
            await rows.reschedule(
                session,
                item.id,
                at=utcnow() + timedelta(seconds=delay),
                last_error=self.last_error,
                release=count and (not_posted or item.method not in POSTS),
            )
        if count:
            item.attempts += 1

    async def _refresh_gauges(self) -> None:
        async with self.sessions() as session:
            counts = await rows.status_counts(session, ("pending", "failed"))
        self.metrics.outbox_pending.set(counts.get("pending", 0))
        self.metrics.outbox_failed.set(counts.get("failed", 0))

    async def counts(self) -> dict[str, int]:
        async with self.sessions() as session:
            counts = await rows.status_counts(session)
        return {"pending": counts.get("pending", 0), "failed": counts.get("failed", 0), "sent": counts.get("sent", 0)}
