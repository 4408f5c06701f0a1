"""The platform's public API (/v1): bearer-token middleware, JSON bodies, filters, cursors and the handlers."""

from __future__ import annotations

import asyncio
import bisect
import hmac
import json
import time
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from reference.platform.model import (
    APPROVAL_STATUSES,
    LOG_EVENT_TYPES,
    RUN_STATUSES,
    SEVERITIES,
    ApiError,
    Approval,
    Run,
    b64,
    bad_filter,
    error_response,
    fmt_ts,
    multi_param,
    parse_ts,
    unb64,
)
from reference.platform.samples import WORKFLOWS


class PublicApi:
    """Part of ``ReferencePlatform``: the /v1 routes' handlers."""

    @web.middleware
    async def _middleware(self, request: web.Request, handler):
        path = request.path
        if path == "/v1" or path.startswith("/v1/"):
            resource = request.match_info.route.resource
            canonical = resource.canonical if resource is not None else "(unmatched)"
            self._stats[f"{request.method} {canonical}"] += 1
            if time.monotonic() < self._stall_until:
                if self._stall_status is not None:
                    return error_response(
                        self._stall_status,
                        "unavailable" if self._stall_status == 503 else "stalled",
                        "platform is stalled (simulated)",
                    )
                while (left := self._stall_until - time.monotonic()) > 0:
                    await asyncio.sleep(min(left, 0.05))
            auth = request.headers.get("Authorization", "")
            token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
            if not token or not hmac.compare_digest(token.encode(), self.api_token.encode()):
                return error_response(401, "unauthorized", "missing or invalid bearer token")
        try:
            return await handler(request)
        except ApiError as e:
            return e.response()
        except web.HTTPException as e:
            if path.startswith(("/v1", "/sim")) and e.status >= 400:
                code = {404: "not_found", 405: "method_not_allowed"}.get(e.status, "error")
                return error_response(e.status, code, e.reason or "error")
            raise

    @staticmethod
    async def _body(request: web.Request) -> dict[str, Any]:
        if not request.can_read_body:
            return {}
        raw = await request.read()
        if not raw.strip():
            return {}
        try:
            body = json.loads(raw)
        except ValueError:
            raise ApiError(400, "bad_request", "body is not valid JSON")
        if not isinstance(body, dict):
            raise ApiError(400, "bad_request", "body must be a JSON object")
        return body

    @staticmethod
    def _actor(body: dict[str, Any]) -> str:
        actor = body.get("actor")
        if isinstance(actor, dict):
            actor = actor.get("name") or actor.get("email") or actor.get("slack_user_id")
        return str(actor) if actor else "unknown"

    # ------------------------------------------------------------------ /v1 handlers

    async def _h_workflows(self, request: web.Request) -> web.Response:
        return web.json_response({"data": [{"id": w["id"], "name": w["name"]} for w in WORKFLOWS], "next_cursor": None})

    @staticmethod
    def _limit(query, default: int = 50, maximum: int = 200) -> int:
        raw = query.get("limit")
        if raw is None or raw == "":
            return default
        try:
            n = int(raw)
        except ValueError:
            raise bad_filter("limit", f"must be an integer from 1 to {maximum}")
        if not 1 <= n <= maximum:
            raise bad_filter("limit", f"must be an integer from 1 to {maximum}")
        return n

    @staticmethod
    def _ts_param(query, name: str) -> datetime | None:
        raw = query.get(name)
        if raw is None or raw == "":
            return None
        try:
            return parse_ts(raw)
        except ValueError:
            raise bad_filter(name, f"{raw!r} is not an RFC 3339 timestamp")

    async def _h_list_runs(self, request: web.Request) -> web.Response:
        q = request.rel_url.query
        statuses = set(multi_param(q, "status"))
        bad = statuses - set(RUN_STATUSES)
        if bad:
            raise bad_filter("status", f"unknown status {sorted(bad)[0]!r} (one of {', '.join(RUN_STATUSES)})")
        ids = multi_param(q, "id")
        if len(ids) > 100:
            raise bad_filter("id", f"at most 100 ids per request, got {len(ids)}")
        workflow = q.get("workflow") or None
        prefix = q.get("run_id") or None
        created_after = self._ts_param(q, "created_after")
        updated_after = self._ts_param(q, "updated_after")
        include = set(multi_param(q, "include"))
        if include - {"steps"}:
            raise bad_filter("include", "only include=steps is supported")
        limit = self._limit(q)
        cursor_key = None
        if q.get("cursor"):
            try:
                c = unb64(q["cursor"])
                cursor_key = (parse_ts(c[0]), str(c[1]))
            except Exception:
                raise bad_filter("cursor", "invalid cursor")

        def candidates():
            if ids:
                found = [self._runs[i] for i in set(ids) if i in self._runs]
                found.sort(key=lambda r: r.key, reverse=True)
                for r in found:
                    if cursor_key is None or r.key < cursor_key:
                        yield r
                return
            pos = len(self._keys) if cursor_key is None else bisect.bisect_left(self._keys, cursor_key)
            for i in range(pos - 1, -1, -1):
                yield self._runs[self._keys[i][1]]

        out: list[Run] = []
        more = False
        for r in candidates():
            if statuses and r.status not in statuses:
                continue
            if workflow and r.workflow["id"] != workflow:
                continue
            if prefix and not r.id.startswith(prefix):
                continue
            if created_after and not r.created_at > created_after:
                continue
            if updated_after and not r.updated_at > updated_after:
                continue
            if len(out) == limit:
                more = True
                break
            out.append(r)
        nxt = b64([fmt_ts(out[-1].created_at), out[-1].id]) if more and out else None
        steps = "steps" in include
        return web.json_response({"data": [r.to_json(steps=steps) for r in out], "next_cursor": nxt})

    async def _h_get_run(self, request: web.Request) -> web.Response:
        return web.json_response(self._get_run(request.match_info["id"]).to_json(steps=True))

    async def _h_pause(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        return web.json_response(self.pause(request.match_info["id"], self._actor(body)).to_json())

    async def _h_resume(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        return web.json_response(self.resume(request.match_info["id"], self._actor(body)).to_json())

    async def _h_cancel(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        return web.json_response(self.cancel(request.match_info["id"], self._actor(body)).to_json())

    async def _h_replay(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        prompt, model = body.get("prompt"), body.get("model")
        if prompt is not None and not isinstance(prompt, str):
            raise ApiError(400, "bad_request", "prompt must be a string")
        if model is not None and not isinstance(model, str):
            raise ApiError(400, "bad_request", "model must be a string")
        run = self.replay(request.match_info["id"], self._actor(body), prompt=prompt, model=model)
        return web.json_response(run.to_json(), status=201)

    async def _h_list_approvals(self, request: web.Request) -> web.Response:
        q = request.rel_url.query
        statuses = set(multi_param(q, "status"))
        bad = statuses - set(APPROVAL_STATUSES)
        if bad:
            raise bad_filter("status", f"unknown approval status {sorted(bad)[0]!r}")
        run_id = q.get("run_id") or None
        limit = self._limit(q)
        start = len(self._approval_order)
        if q.get("cursor"):
            try:
                start = int(unb64(q["cursor"])["before"])
            except Exception:
                raise bad_filter("cursor", "invalid cursor")
        now = datetime.now(timezone.utc)
        out: list[Approval] = []
        more = False
        for i in range(min(start, len(self._approval_order)) - 1, -1, -1):
            a = self._approvals[self._approval_order[i]]
            if a.status == "pending" and a.expires_at <= now:
                self._expire_approval(a)
            if statuses and a.status not in statuses:
                continue
            if run_id and a.run_id != run_id:
                continue
            if len(out) == limit:
                more = True
                break
            out.append(a)
        nxt = b64({"before": out[-1].seq}) if more and out else None
        return web.json_response({"data": [a.to_json() for a in out], "next_cursor": nxt})

    def _get_approval(self, approval_id: str) -> Approval:
        a = self._approvals.get(approval_id)
        if a is None:
            raise ApiError(404, "not_found", f"approval {approval_id} not found")
        self._maybe_expire(a)
        return a

    async def _h_get_approval(self, request: web.Request) -> web.Response:
        return web.json_response(self._get_approval(request.match_info["id"]).to_json())

    async def _decide_handler(self, request: web.Request, decision: str) -> web.Response:
        body = await self._body(request)
        comment = body.get("comment")
        if comment is not None and not isinstance(comment, str):
            raise ApiError(400, "bad_request", "comment must be a string")
        a = self.decide(request.match_info["id"], decision, self._actor(body), comment)
        return web.json_response(a.to_json())

    async def _h_approve(self, request: web.Request) -> web.Response:
        return await self._decide_handler(request, "approve")

    async def _h_reject(self, request: web.Request) -> web.Response:
        return await self._decide_handler(request, "reject")

    async def _h_logs(self, request: web.Request) -> web.Response:
        q = request.rel_url.query
        sev = q.get("severity") or None
        if sev is not None and sev not in SEVERITIES:
            raise bad_filter("severity", f"unknown severity {sev!r} (debug, info, warn, error)")
        min_sev = SEVERITIES[sev] if sev else 0
        types = set(multi_param(q, "event_type"))
        bad = types - set(LOG_EVENT_TYPES)
        if bad:
            raise bad_filter("event_type", f"unknown event type {sorted(bad)[0]!r}")
        run_id = q.get("run_id") or None
        since = self._ts_param(q, "since")
        limit = self._limit(q)
        before = None
        if q.get("cursor"):
            try:
                before = int(unb64(q["cursor"])["before"])
            except Exception:
                raise bad_filter("cursor", "invalid cursor")
        if run_id is not None:
            idxs = self._logs_by_run.get(run_id, [])
        else:
            idxs = None
        n = len(idxs) if idxs is not None else len(self._logs)
        if idxs is None and before is not None:
            n = max(0, min(n, before))
        out: list[tuple[int, dict[str, Any]]] = []
        more = False
        since_s = fmt_ts(since) if since else None
        for j in range(n - 1, -1, -1):
            i = idxs[j] if idxs is not None else j
            if before is not None and i >= before:
                continue
            e = self._logs[i]
            if SEVERITIES[e["severity"]] < min_sev:
                continue
            if types and e["event_type"] not in types:
                continue
            if since_s and e["timestamp"] < since_s:
                if idxs is None:
                    break  # log timestamps are (near) monotonic: nothing older matches
                continue
            if len(out) == limit:
                more = True
                break
            out.append((i, e))
        nxt = b64({"before": out[-1][0]}) if more and out else None
        return web.json_response({"data": [e for _, e in out], "next_cursor": nxt})
