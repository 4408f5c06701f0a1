"""Fault injection: Web API calls answered with an error status or a named error (HTTP 200, ok:false), and the stand-in's /_sim endpoints."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web


@dataclass
class Fault:
    status: int
    remaining: int | None  # calls left (None: time-based)
    until: float | None  # monotonic deadline (None: count-based)
    retry_after: int | None
    method: str | None = None
    error: str | None = None  # a named error answered with HTTP 200 and ok:false (status is then 200)
    extra: dict | None = None  # its extras, e.g. needed/provided of missing_scope

    def active(self, now: float) -> bool:
        if self.until is not None:
            return now < self.until
        return (self.remaining or 0) > 0


class Faults:
    """Part of ``SlackStandIn``: fault injection and the /_sim inspection endpoints."""

    def fail_next(
        self, status: int, count: int = 1, retry_after: int | None = None, *, method: str | None = None
    ) -> None:
        """Answer the next ``count`` Web API calls (optionally only to ``method``) with ``status``."""
        self._faults.append(Fault(status, count, None, retry_after, method))

    def fail_for(
        self, status: int, seconds: float, retry_after: int | None = None, *, method: str | None = None
    ) -> None:
        """Answer every Web API call for ``seconds`` with ``status``."""
        self._faults.append(Fault(status, None, time.monotonic() + seconds, retry_after, method))

    def inject(
        self, error: str, *, count: int = 1, seconds: float | None = None, method: str | None = None, **extra: Any
    ) -> None:
        """Answer the next ``count`` calls (or every call for ``seconds``), optionally only to ``method``, with
        Slack's HTTP 200 ``{"ok": false, "error": error, **extra}``: ``token_revoked``, ``not_in_channel``,
        ``missing_scope`` (``needed``/``provided``, provided defaulting to the token's scopes), ..."""
        if error == "missing_scope":
            extra.setdefault("needed", "chat:write")
            extra.setdefault("provided", ",".join(self.scopes))
        until = time.monotonic() + seconds if seconds is not None else None
        self._faults.append(Fault(200, None if until else count, until, None, method, error, extra))

    def clear_faults(self) -> None:
        self._faults.clear()

    def _take_fault(self, method: str) -> Fault | None:
        now = time.monotonic()
        self._faults = [f for f in self._faults if f.active(now)]
        for f in self._faults:
            if f.method is None or f.method == method:
                if f.remaining is not None:
                    f.remaining -= 1
                return f
        return None

    async def _handle_get_calls(self, request: web.Request) -> web.Response:
        method = request.query.get("method")
        return web.json_response([c.to_dict() for c in self.calls if method is None or c.method == method])

    async def _handle_get_state(self, request: web.Request) -> web.Response:
        return web.json_response(self.snapshot())

    async def _handle_post_faults(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            if isinstance(body, dict) and body.get("error"):
                extra = body.get("extra") or {}
                if not isinstance(extra, dict):
                    raise TypeError("extra")
                seconds = float(body["seconds"]) if body.get("seconds") is not None else None
                self.inject(
                    str(body["error"]),
                    count=int(body.get("count", 1)),
                    seconds=seconds,
                    method=body.get("method"),
                    **extra,
                )
                return web.json_response({"ok": True})
            status = int(body["status"])
        except (ValueError, KeyError, TypeError):
            return web.json_response({"ok": False, "error": "invalid_fault"}, status=400)
        retry_after = body.get("retry_after")
        retry_after = int(retry_after) if retry_after is not None else None
        if body.get("seconds") is not None:
            self.fail_for(status, float(body["seconds"]), retry_after, method=body.get("method"))
        else:
            self.fail_next(status, int(body.get("count", 1)), retry_after, method=body.get("method"))
        return web.json_response({"ok": True})

    async def _handle_clear_faults(self, request: web.Request) -> web.Response:
        self.clear_faults()
        return web.json_response({"ok": True})
