"""Webhook delivery: one ordered queue, signed with Standard Webhooks, retried, with the fault modes of /sim/webhooks."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from datetime import datetime, timezone
from typing import Any

from standardwebhooks.webhooks import Webhook

from reference.platform.model import Approval, Run, Step, fmt_ts, now_ms

log = logging.getLogger("runbot.reference.platform")

RETRY_BACKOFF = (0.05, 0.2, 0.5, 1.0)  # seconds between delivery attempts


class WebhookSender:
    """Part of ``ReferencePlatform``: emits webhooks and delivers them."""

    def _emit(self, type_: str, run: Run, *, step: Step | None = None, approval: Approval | None = None) -> None:
        if not self.webhook_url:
            return
        data: dict[str, Any] = {}
        if approval is not None:
            data["approval"] = approval.to_json()
        data["run"] = run.to_json(steps=True)
        if step is not None:
            data["step"] = dict(next(s for s in data["run"]["steps"] if s["id"] == step.id))  # with its usage
        body = {"type": type_, "timestamp": fmt_ts(now_ms()), "data": data}
        if self._queue is None:
            self._queue = asyncio.Queue()
        msg_id = f"msg_{uuid.uuid4().hex}"
        self._undelivered[msg_id] += 1
        self._queue.put_nowait(
            {
                "id": msg_id,
                "type": type_,
                "run_id": run.id,
                "approval_id": approval.id if approval else None,
                "body": json.dumps(body, separators=(",", ":")),
            }
        )

    def _take_mode(self, ev: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
        rules = self._webhook_rules
        if not rules:
            return None, {}
        if rules.get("types") and ev["type"] not in rules["types"]:
            return None, {}
        if rules["count"] == 0:
            return None, {}
        if rules["count"] > 0:
            rules["count"] -= 1
        return rules["mode"], rules

    async def _deliver_loop(self) -> None:
        assert self._queue is not None
        held: dict[str, Any] | None = None
        while True:
            try:
                if held is not None:
                    ev = await asyncio.wait_for(self._queue.get(), timeout=1.0)
                else:
                    ev = await self._queue.get()
            except (asyncio.TimeoutError, TimeoutError):
                if held is not None:
                    await self._send(held, reordered=True)
                    held = None
                continue
            try:
                mode, rules = self._take_mode(ev)
                if mode == "suppress":
                    self._webhook_log.append(self._wlog(ev, None, 0, suppressed=True))
                    self._finished(ev["id"])
                    continue
                if mode == "reorder" and held is None:
                    held = ev
                    continue
                if mode == "delay":
                    task = asyncio.create_task(self._send_later(ev, float(rules.get("delay_seconds", 1.0))))
                    self._side_tasks.add(task)
                    task.add_done_callback(self._side_tasks.discard)
                elif mode == "duplicate":
                    self._undelivered[ev["id"]] += 1
                    await self._send(ev)
                    await self._send(ev, duplicate=True)
                else:
                    await self._send(ev)
                if held is not None:
                    await self._send(held, reordered=True)
                    held = None
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook delivery failed")

    async def _send_later(self, ev: dict[str, Any], delay: float) -> None:
        await asyncio.sleep(delay)
        await self._send(ev, delayed=True)

    @staticmethod
    def _wlog(ev: dict[str, Any], status: int | None, attempts: int, **flags: Any) -> dict[str, Any]:
        return {
            "id": ev["id"],
            "type": ev["type"],
            "run_id": ev["run_id"],
            "approval_id": ev["approval_id"],
            "status_code": status,
            "attempts": attempts,
            "suppressed": flags.get("suppressed", False),
            "duplicate": flags.get("duplicate", False),
            "delayed": flags.get("delayed", False),
            "reordered": flags.get("reordered", False),
            "error": flags.get("error"),
        }

    def sign(self, msg_id: str, ts: datetime, body: str) -> str | None:
        if not self.webhook_secret:
            return None
        sigs = [Webhook(s).sign(msg_id, ts, body) for s in self.webhook_secret.split()]
        return " ".join(sigs)

    async def _send(self, ev: dict[str, Any], **flags: Any) -> None:
        attempts = 0
        status: int | None = None
        err: str | None = None
        for attempt in range(len(RETRY_BACKOFF) + 1):
            url = self.webhook_url
            if not url or self._session is None:
                err = "no webhook_url"
                break
            attempts += 1
            ts = datetime.now(timezone.utc)
            headers = {
                "Content-Type": "application/json",
                "webhook-id": ev["id"],
                "webhook-timestamp": str(int(ts.timestamp())),
                "User-Agent": "runbot-reference-platform/1",
            }
            sig = self.sign(ev["id"], ts, ev["body"])
            if sig:
                headers["webhook-signature"] = sig
            try:
                async with self._session.post(url, data=ev["body"].encode(), headers=headers) as resp:
                    status = resp.status
                    await resp.read()
                if 200 <= status < 300:
                    err = None
                    break
                err = f"HTTP {status}"
            except asyncio.CancelledError:
                raise
            except Exception as e:  # connection refused, timeout...
                status = None
                err = f"{type(e).__name__}: {e}"
            if attempt < len(RETRY_BACKOFF):
                await asyncio.sleep(RETRY_BACKOFF[attempt])
        self._webhook_log.append(self._wlog(ev, status, attempts, error=err, **flags))
        self._finished(ev["id"])

    def _finished(self, msg_id: str) -> None:
        self._undelivered[msg_id] -= 1
        if self._undelivered[msg_id] <= 0:
            del self._undelivered[msg_id]

    @property
    def webhooks_in_flight(self) -> int:
        """Webhooks emitted whose delivery (with its retries) has not finished: queued, held, delayed or sending."""
        return sum(self._undelivered.values())
