"""A Bolt middleware that acts on each Slack request once: the same signed request delivered again (a proxy or
client retry, a double submit; Slack's own redelivery of an event, `X-Slack-Retry-Num`; Socket Mode's
`retry_attempt`) is acknowledged and does nothing. Requests are keyed by a hash of their body, events by
their `event_id`; the store keeps the receipts, so every replica agrees.

A `/runs` subcommand that only reads (`bot.commands.only_reads`) is answered again when delivered again: nothing
it does happens twice, so its answer does not wait for a receipt's write transaction. When such an answer follows
through `response_url` instead, the listener claims the receipt first (`context[CLAIM]`), so a redelivery does
not post it twice."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from datetime import timedelta
from functools import partial

from slack_bolt.response import BoltResponse

from bot.commands import only_reads
from handlers.middleware import Plain
from store.receipts import first_receipts

log = logging.getLogger(__name__)

# Requests that only read (an options menu asking for choices) may repeat word for word: never deduplicated.
READ_ONLY_TYPES = {"block_suggestion", "url_verification", "ssl_check"}
# Bolt context key: an awaitable that records the receipt of a read-only command's request, True when first.
CLAIM = "runbot_claim_receipt"


def request_key(body: dict, raw_body: str) -> str | None:
    """The receipt key of a request, or None when it is not deduplicated."""
    if not isinstance(body, dict):
        return None
    if isinstance(body.get("type"), str) and body["type"] in READ_ONLY_TYPES:
        return None
    event_id = body.get("event_id")
    if body.get("type") == "event_callback" and isinstance(event_id, str) and event_id:
        return "event:" + hashlib.sha256(event_id.encode()).hexdigest()[:64]
    raw = raw_body or json.dumps(body, sort_keys=True, separators=(",", ":"))  # Socket Mode gives no raw body
    return "body:" + hashlib.sha256(raw.encode()).hexdigest()[:64]


def reads_only(body: dict) -> bool:
    """A `/runs` command that changes nothing, whose request may be answered twice."""
    text = body.get("text")
    return body.get("command") == "/runs" and (text is None or isinstance(text, str)) and only_reads(text or "")


class ReceiptBook:
    """Receipts written in groups: requests arriving while one transaction is writing wait for the next, which
    records all of them at once (one commit for many requests, instead of one write transaction each that
    SQLite would serialise). A request learns whether it is the first with that key only once it is committed."""

    def __init__(self, sessions, *, window: timedelta, batch: int):
        self.sessions = sessions
        self.window = window
        self.batch = batch
        self._waiting: list[tuple[str, asyncio.Future]] = []
        self._writer: asyncio.Task | None = None

    async def first(self, key: str) -> bool:
        future = asyncio.get_running_loop().create_future()
        self._waiting.append((key, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write(), name="slack-receipts")
        return await future

    async def _write(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting[: self.batch], self._waiting[self.batch :]
            keys = list(dict.fromkeys(key for key, _ in group))
            try:
                async with self.sessions.begin() as session:
                    first = await first_receipts(session, keys, window=self.window)
            except Exception as exc:  # each waiting request fails as its own write would have
                for _, future in group:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for key, future in group:  # the same key twice in one group: only the earlier one is first
                if not future.done():
                    future.set_result(key in first)
                first.discard(key)


def register(app, svc) -> None:
    book = ReceiptBook(
        svc.sessions,
        window=timedelta(seconds=svc.settings.DEDUPE_WINDOW_SECONDS),
        batch=svc.settings.PERF_RECEIPT_BATCH,
    )

    async def first(key: str, req, body: dict) -> bool:
        if await book.first(key):
            return True
        svc.metrics.slack_duplicates.inc()
        log.info(
            "Slack request delivered again (%s, retry %s): acknowledged, not acted on",
            body.get("type") or body.get("command"),
            (req.headers.get("x-slack-retry-num") or ["-"])[0],
        )
        return False

    async def act_once(req, next):  # noqa: A002 - Bolt's argument name
        body = req.body
        key = request_key(body, req.raw_body)
        if key is not None and reads_only(body):
            req.context[CLAIM] = partial(first, key, req, body)
        elif key is not None and not await first(key, req, body):
            return BoltResponse(status=200, body="")
        return await next()

    app.use(Plain(act_once))  # a class middleware: no keyword injection on every request
