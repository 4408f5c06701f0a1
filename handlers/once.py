"""A Bolt middleware that acts on each Slack request once: the same signed request delivered again (a proxy or
client retry, a double submit; Slack's own redelivery of an event, `X-Slack-Retry-Num`; Socket Mode's
`retry_attempt`) is acknowledged and does nothing. Requests are keyed by a hash of their body, events by
their `event_id`; the store keeps the receipts, so every replica agrees."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import timedelta

from slack_bolt.response import BoltResponse

from store.receipts import first_receipt

log = logging.getLogger(__name__)

# Requests that only read (an options menu asking for choices) may repeat word for word: never deduplicated.
READ_ONLY_TYPES = {"block_suggestion", "url_verification", "ssl_check"}


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


def register(app, svc) -> None:
    window = timedelta(seconds=svc.settings.DEDUPE_WINDOW_SECONDS)

    @app.middleware
    async def act_once(req, body, next):  # noqa: A002 - Bolt's argument name
        key = request_key(body, req.raw_body)
        if key is not None:
            async with svc.sessions.begin() as session:
                first = await first_receipt(session, key, window=window)
            if not first:
                svc.metrics.slack_duplicates.inc()
                log.info(
                    "Slack request delivered again (%s, retry %s): acknowledged, not acted on",
                    body.get("type"),
                    (req.headers.get("x-slack-retry-num") or ["-"])[0],
                )
                return BoltResponse(status=200, body="")
        await next()
