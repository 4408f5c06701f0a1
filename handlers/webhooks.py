"""`POST /webhooks/platform`: the platform's signed webhooks, checked in the contract's order (size 413,
signature 401, content type 415, body 400 naming the field), stored before the 200, processed once."""

from __future__ import annotations

import hashlib
import json
import logging

from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from bot.contract import ContractError, validate_event
from bot.keys import INGEST, SERVICES

log = logging.getLogger(__name__)

STORED_ID_LENGTH = 128  # the width of webhook_deliveries.id


def delivery_key(webhook_id: str) -> str:
    """What a webhook is deduplicated by: its whole `webhook-id`. An id that fits is kept as it is; a longer one
    (the contract sets no limit, and the platform does not retry a 4xx) is stored as a hash of all of it, so two
    ids that share their first 128 characters are never taken for one."""
    if len(webhook_id) <= STORED_ID_LENGTH and not webhook_id.startswith("sha256:"):
        return webhook_id
    return "sha256:" + hashlib.sha256(webhook_id.encode()).hexdigest()


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


async def _read_limited(request: web.Request, limit: int) -> bytes | None:
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(65536):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _no_constants(name: str) -> None:
    # NaN and Infinity are not JSON (RFC 8259), and PostgreSQL's json type refuses them at commit.
    raise ValueError(f"{name} is not a JSON value")


class WebhookVerifier:
    """Standard Webhooks verification with every configured secret (two while one replaces the other)."""

    def __init__(self, secrets: list[str]):
        self._hooks = [Webhook(s) for s in secrets]

    def verify(self, body: bytes, headers: dict[str, str]) -> str | None:
        """None when the signature is good by any secret; otherwise why not (never the secret).

        The library is asked not to parse the body (the content type and the contract are checked after the
        signature), and its errors on malformed input (a signature without `v1,`, bad base64, a body that is
        not UTF-8) are refusals too, not crashes."""
        if (
            not headers.get("webhook-id")
            or not headers.get("webhook-timestamp")
            or not headers.get("webhook-signature")
        ):
            return "missing webhook-id, webhook-timestamp or webhook-signature header"
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return "body is not UTF-8 text, so no signature can match it"
        reason = "no matching signature"
        for hook in self._hooks:
            try:
                hook.verify(text, headers, json_parse=False)
                return None
            except WebhookVerificationError as exc:
                reason = str(exc) or reason
            except (ValueError, TypeError):
                reason = "malformed webhook-signature header"
        return reason


async def platform_webhook(request: web.Request) -> web.Response:
    svc = request.app[SERVICES]
    metrics = svc.metrics
    body = await _read_limited(request, svc.settings.WEBHOOK_MAX_BYTES)
    if body is None:
        metrics.webhooks.labels("too_large").inc()
        log.warning("webhook refused (413): body over WEBHOOK_MAX_BYTES (%d)", svc.settings.WEBHOOK_MAX_BYTES)
        return _error(413, "payload_too_large", f"body larger than {svc.settings.WEBHOOK_MAX_BYTES} bytes")
    headers = {k.lower(): v for k, v in request.headers.items()}
    reason = request.app[VERIFIER].verify(body, headers)
    if reason is not None:
        metrics.webhooks.labels("bad_signature").inc()
        log.warning("webhook refused (401): %s", reason)
        return _error(401, "invalid_signature", f"webhook signature rejected: {reason}")
    if request.content_type != "application/json":
        metrics.webhooks.labels("bad_content_type").inc()
        log.warning(
            "webhook %s refused (415): content type %r", headers["webhook-id"][:128], request.content_type[:100]
        )
        return _error(
            415,
            "unsupported_media_type",
            f"content type must be application/json, not {request.content_type or 'none'}",
        )
    try:
        parsed = json.loads(body, parse_constant=_no_constants)
        event = validate_event(parsed)
    except RecursionError:
        metrics.webhooks.labels("bad_body").inc()
        log.warning("webhook %s refused (400): body nested too deeply", headers["webhook-id"][:128])
        return _error(400, "invalid_body", "body: JSON nested too deeply")
    except (ValueError, UnicodeDecodeError) as exc:
        field = exc.field if isinstance(exc, ContractError) else "body"
        problem = exc.problem if isinstance(exc, ContractError) else f"not valid JSON ({exc})"
        metrics.webhooks.labels("bad_body").inc()
        log.warning("webhook %s refused (400): %s: %s", headers["webhook-id"][:128], field, problem)
        return _error(400, "invalid_body", f"{field}: {problem}")
    webhook_id = delivery_key(headers["webhook-id"])
    if event.data is None:
        log.info("webhook %s of unknown type %r accepted and ignored", webhook_id, event.type)
    try:
        stored = await request.app[INGEST].store(webhook_id, event.type, parsed)
    except Exception:
        metrics.webhooks.labels("store_failed").inc()
        log.exception("webhook %s could not be stored; asking the platform to retry", webhook_id)
        return _error(503, "unavailable", "the bot could not store the event; retry later")
    metrics.webhooks.labels("stored" if stored else "duplicate").inc()
    return web.json_response({"ok": True})


VERIFIER = web.AppKey("webhook_verifier", WebhookVerifier)


def register(app: web.Application) -> None:
    app.router.add_post("/webhooks/platform", platform_webhook)
