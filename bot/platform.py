"""The platform client: one aiohttp session for every endpoint of the contract (docs/platform-contract.md).

Reads are retried on transport errors and 5xx; writes are not (they are not idempotent). Errors are
typed: `PlatformError` carries the platform's code and message, `PlatformUnreachable` says the platform
could not be reached or answered garbage.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import AsyncIterator, Iterable
from typing import Any

import aiohttp

log = logging.getLogger(__name__)


class PlatformError(Exception):
    """The platform answered with an error: `status`, `code` and `message` are the platform's."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{code}: {message}" if message else code)
        self.status = status
        self.code = code
        self.message = message


class PlatformUnreachable(Exception):
    """The platform could not be reached, timed out, or kept failing."""


def network_reason(exc: BaseException) -> str:
    """A network failure in plain words (never a library's class name or its connection key)."""
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return "timed out"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return "the host name does not resolve"
    if isinstance(exc, (aiohttp.ClientConnectorCertificateError, aiohttp.ClientSSLError, ssl.SSLError)):
        return "its TLS certificate was not accepted"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "the connection was refused"
    if isinstance(exc, aiohttp.InvalidURL):
        return "the URL is not valid"
    return "the connection failed"


class PlatformClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout: float = 10.0,
        read_retries: int = 2,
        retry_delay: float = 0.2,
    ):
        self.base_url = base_url.rstrip("/") + "/v1"
        self._token = token
        self._own_session = session is None
        self._session = session
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._read_retries = read_retries
        self._retry_delay = retry_delay

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32))
            self._own_session = True
        return self._session

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()

    async def _request(self, method: str, path: str, *, params: Any = None, json: Any = None) -> Any:
        idempotent = method == "GET"
        tries = 1 + (self._read_retries if idempotent else 0)
        last: Exception | None = None
        for attempt in range(tries):
            try:
                async with self.session.request(
                    method,
                    self.base_url + path,
                    params=params,
                    json=json,
                    timeout=self._timeout,
                    headers={"Authorization": f"Bearer {self._token}"},
                ) as resp:
                    body = await resp.read()
                    if resp.status < 400:
                        return await resp.json(content_type=None) if body else None
                    code, message = _error_of(resp.status, body)
                    if resp.status >= 500 and idempotent and attempt + 1 < tries:
                        last = PlatformError(resp.status, code, message)
                        await asyncio.sleep(self._retry_delay * (2**attempt))
                        continue
                    if resp.status >= 500 and (idempotent or code == "http_error"):
                        # An outage, not an answer: a read that failed every try says "unreachable" to users.
                        detail = f" ({code}: {message})" if code != "http_error" else ""
                        raise PlatformUnreachable(f"the platform answered HTTP {resp.status}{detail}")
                    raise PlatformError(resp.status, code, message)
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
                last = exc
                if attempt + 1 < tries:
                    await asyncio.sleep(self._retry_delay * (2**attempt))
                    continue
        if isinstance(last, PlatformError):
            raise PlatformUnreachable(f"the platform kept failing: {last}") from last
        reason = network_reason(last) if last is not None else "no answer"
        raise PlatformUnreachable(f"cannot reach the platform at {self.base_url}: {reason}") from last

    # Workflows and runs

    async def workflows(self) -> list[dict]:
        return (await self._request("GET", "/workflows"))["data"]

    async def list_runs(
        self,
        *,
        status: Iterable[str] = (),
        workflow: str | None = None,
        run_id: str | None = None,
        ids: Iterable[str] = (),
        created_after: str | None = None,
        updated_after: str | None = None,
        include_steps: bool = False,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> dict:
        params: list[tuple[str, str]] = [("status", s) for s in status] + [("id", i) for i in ids]
        for key, value in (
            ("workflow", workflow),
            ("run_id", run_id),
            ("created_after", created_after),
            ("updated_after", updated_after),
            ("cursor", cursor),
        ):
            if value:
                params.append((key, value))
        if include_steps:
            params.append(("include", "steps"))
        if limit:
            params.append(("limit", str(limit)))
        return await self._request("GET", "/runs", params=params)

    async def iter_runs(self, **filters: Any) -> AsyncIterator[dict]:
        cursor = None
        while True:
            page = await self.list_runs(cursor=cursor, **filters)
            for run in page["data"]:
                yield run
            cursor = page.get("next_cursor")
            if not cursor:
                return

    async def runs_by_id(self, ids: list[str], *, include_steps: bool = True) -> list[dict]:
        """Runs by exact id, 100 a request: the number of requests grows with batches, not runs."""
        found: list[dict] = []
        for start in range(0, len(ids), 100):
            batch = ids[start : start + 100]
            page = await self.list_runs(ids=batch, include_steps=include_steps, limit=200)
            found.extend(page["data"])
        return found

    async def get_run(self, run_id: str) -> dict:
        return await self._request("GET", f"/runs/{run_id}")

    async def pause(self, run_id: str, actor: str) -> dict:
        return await self._request("POST", f"/runs/{run_id}/pause", json={"actor": actor})

    async def resume(self, run_id: str, actor: str) -> dict:
        return await self._request("POST", f"/runs/{run_id}/resume", json={"actor": actor})

    async def cancel(self, run_id: str, actor: str) -> dict:
        return await self._request("POST", f"/runs/{run_id}/cancel", json={"actor": actor})

    async def replay(self, run_id: str, actor: str, *, prompt: str | None = None, model: str | None = None) -> dict:
        body: dict[str, str] = {"actor": actor}
        if prompt:
            body["prompt"] = prompt
        if model:
            body["model"] = model
        return await self._request("POST", f"/runs/{run_id}/replay", json=body)

    # Approvals

    async def list_approvals(
        self,
        *,
        status: str | None = "pending",
        run_id: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> dict:
        params = {
            k: v
            for k, v in (
                ("status", status),
                ("run_id", run_id),
                ("cursor", cursor),
                ("limit", str(limit) if limit else None),
            )
            if v
        }
        return await self._request("GET", "/approvals", params=params)

    async def all_approvals(self, *, status: str | None = "pending") -> list[dict]:
        tasks, cursor = [], None
        while True:
            page = await self.list_approvals(status=status, cursor=cursor, limit=200)
            tasks.extend(page["data"])
            cursor = page.get("next_cursor")
            if not cursor:
                return tasks

    async def get_approval(self, approval_id: str) -> dict:
        return await self._request("GET", f"/approvals/{approval_id}")

    async def approve(self, approval_id: str, actor: str, comment: str | None = None) -> dict:
        body = {"actor": actor, **({"comment": comment} if comment else {})}
        return await self._request("POST", f"/approvals/{approval_id}/approve", json=body)

    async def reject(self, approval_id: str, actor: str, comment: str | None = None) -> dict:
        body = {"actor": actor, **({"comment": comment} if comment else {})}
        return await self._request("POST", f"/approvals/{approval_id}/reject", json=body)

    # Logs

    async def logs(
        self,
        *,
        severity: str | None = None,
        event_type: str | None = None,
        run_id: str | None = None,
        since: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> dict:
        params = {
            k: v
            for k, v in (
                ("severity", severity),
                ("event_type", event_type),
                ("run_id", run_id),
                ("since", since),
                ("cursor", cursor),
                ("limit", str(limit) if limit else None),
            )
            if v
        }
        return await self._request("GET", "/logs", params=params)


def _error_of(status: int, body: bytes) -> tuple[str, str]:
    import json

    try:
        err = json.loads(body)["error"]
        return str(err.get("code") or "error"), str(err.get("message") or "")
    except (ValueError, KeyError, TypeError, AttributeError):
        return "http_error", f"HTTP {status}"
