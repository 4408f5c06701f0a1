"""Control endpoints (/sim, not part of the contract): create runs, force them, inject webhook faults and stalls."""

from __future__ import annotations

import time

from aiohttp import web

from reference.platform.model import RUN_STATUSES, WEBHOOK_MODES, ApiError, parse_ts
from reference.platform.samples import WORKFLOWS


class SimControl:
    """Part of ``ReferencePlatform``: the /sim routes' handlers."""

    async def _sim_create_run(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        kw = {k: v for k, v in body.items() if k != "emit" and k != "webhooks"}
        try:
            run = self.create_run(**kw)
        except TypeError as e:
            raise ApiError(400, "bad_request", str(e))
        return web.json_response(run.to_json(), status=201)

    async def _sim_bulk(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        count = body.get("count", 1)
        if not isinstance(count, int) or not 1 <= count <= 100_000:
            raise ApiError(400, "bad_request", "count must be an integer from 1 to 100000")
        workflows = body.get("workflow") or body.get("workflows")
        if isinstance(workflows, str):
            workflows = [workflows]
        workflows = workflows or [w["id"] for w in WORKFLOWS]
        emit = bool(body.get("webhooks", False))
        kw = {k: v for k, v in body.items() if k not in ("count", "workflow", "workflows", "webhooks", "id")}
        kw.setdefault("frozen", True)
        kw.setdefault("status", "running")
        ids = []
        for i in range(count):
            run = self.create_run(workflow=workflows[i % len(workflows)], emit=emit, **kw)
            ids.append(run.id)
        return web.json_response({"ids": ids}, status=201)

    async def _sim_advance(self, request: web.Request) -> web.Response:
        run = self._get_run(request.match_info["id"])
        body = await self._body(request)
        status = body.get("status")
        fail = body.get("fail")
        if fail is not None and status is None:
            status = "failed"
        if status is not None:
            if status not in RUN_STATUSES:
                raise ApiError(400, "bad_request", f"unknown status {status!r}")
            code = (fail or {}).get("error_code") if isinstance(fail, dict) else None
            self._force(run, status, error_code=code, actor=str(body.get("actor") or "sim"))
        else:
            if run.status not in ("pending", "running"):
                raise ApiError(409, "invalid_transition", f"cannot advance a {run.status} run without a status")
            self._unschedule(run)
            self._tick(run)
        return web.json_response(run.to_json())

    async def _sim_webhooks(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        mode = body.get("mode")
        if mode not in WEBHOOK_MODES:
            raise ApiError(400, "bad_request", f"mode must be one of {', '.join(WEBHOOK_MODES)}")
        count = body.get("count", 1)
        if not isinstance(count, int) or count < -1:
            raise ApiError(400, "bad_request", "count must be an integer >= -1")
        types = body.get("types")
        self._webhook_rules = {
            "mode": mode,
            "count": count,
            "types": list(types) if types else None,
            "delay_seconds": float(body.get("delay_seconds", 1.0)),
        }
        return web.json_response({"ok": True, "rules": self._webhook_rules})

    async def _sim_webhooks_reset(self, request: web.Request) -> web.Response:
        self._webhook_rules = None
        if (await self._body(request)).get("clear_log"):
            self._webhook_log.clear()
        return web.json_response({"ok": True})

    async def _sim_webhooks_log(self, request: web.Request) -> web.Response:
        return web.json_response(self._webhook_log)

    async def _sim_stall(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        seconds = float(body.get("seconds", 1.0))
        status = body.get("status")
        self._stall_until = time.monotonic() + seconds
        self._stall_status = int(status) if status is not None else None
        return web.json_response({"ok": True, "seconds": seconds, "status": self._stall_status})

    async def _sim_modify_approval(self, request: web.Request) -> web.Response:
        a = self._approvals.get(request.match_info["id"])
        if a is None:
            raise ApiError(404, "not_found", "approval not found")
        if a.status != "pending":
            raise ApiError(409, "already_decided", f"approval is {a.status}")
        body = await self._body(request)
        if "action" in body:
            a.action = str(body["action"])
        if "kind" in body:
            a.kind = str(body["kind"])
        if "expires_at" in body:
            try:
                a.expires_at = parse_ts(str(body["expires_at"]))
            except ValueError:
                raise ApiError(400, "bad_request", "expires_at must be RFC 3339")
            a.version += 1
            self._schedule_expiry(a)
        run = self._runs[a.run_id]
        self._touch(run)
        return web.json_response(a.to_json())

    async def _sim_config(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if "webhook_url" in body:
            self.webhook_url = body["webhook_url"] or None
        if "webhook_secret" in body:
            self.webhook_secret = body["webhook_secret"] or None
        if "speed" in body:
            speed = float(body["speed"])
            if speed <= 0:
                raise ApiError(400, "bad_request", "speed must be > 0")
            self.speed = speed
        if "approval_ttl_seconds" in body:
            self.approval_ttl_seconds = float(body["approval_ttl_seconds"])
        return web.json_response(
            {
                "webhook_url": self.webhook_url,
                "webhook_secret_set": bool(self.webhook_secret),
                "speed": self.speed,
                "approval_ttl_seconds": self.approval_ttl_seconds,
            }
        )

    async def _sim_stats(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "requests": dict(self._stats),
                "total": sum(self._stats.values()),
                "runs": len(self._runs),
                "approvals": len(self._approvals),
                "webhooks_sent": len(self._webhook_log),
            }
        )

    async def _sim_stats_reset(self, request: web.Request) -> web.Response:
        self._stats.clear()
        return web.json_response({"ok": True})
