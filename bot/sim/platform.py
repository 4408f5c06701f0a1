"""Reference workflow platform: a real HTTP server of the whole contract (docs: /work/shared/platform-api.md).

In-memory state, aiohttp.web. Used by the demo, the tests and ``runbot platform``.

    platform = ReferencePlatform(api_token="t", webhook_url="http://127.0.0.1:3000/webhooks/platform",
                                 webhook_secret="whsec_...", seed=0, speed=1.0)
    base = await platform.start(port=0)      # http://127.0.0.1:PORT ; the API is under {base}/v1
    ...
    await platform.stop()

Decisions the contract leaves open (documented here):

* Runs advance on a single scheduler (a heap of deadlines): ``pending`` -> ``running`` after
  ``step_seconds/4``, then each step takes ``step_seconds`` (default 2 s, +-20 % deterministic
  jitter) divided by ``speed``. Every state change moves the run's ``updated_at`` forward by at
  least 1 ms (RFC 3339, milliseconds) and emits exactly one webhook, so every webhook of a run
  carries a distinct, increasing ``updated_at``.
* A workflow with a gate step (``wf_refunds``, ``wf_publish``, ``wf_payouts``, ``wf_tools``)
  always waits at that step for an approval (``/sim/runs`` ``"gate": false`` skips it). Outcome
  ``approval`` on a workflow without a gate inserts a "Human review" step (kind ``tool_call``)
  before the last step. After approval the gate step runs (``running``) and then completes, or
  fails if ``then: "fail"`` (the gated action itself fails with ``error_code``).
* Outcome ``fail`` fails at the first ``llm`` step (or ``fail_step``: a 0-based index or a step
  id), default ``error_code`` ``provider_rate_limited``. The failed step gets the error, later
  steps become ``skipped``, the run ``failed`` with ``failed_step_id``.
* Rejecting a task cancels the run: the gate step ``cancelled``, later steps ``skipped``.
  Expiry (checked by the scheduler at ``expires_at``): task ``expired``, gate step ``failed`` with
  ``approval_expired`` (provider null, provider_status null, retryable false), run ``failed``.
* Cancelling a run (or forcing it terminal) with a pending approval marks that task ``expired``
  (``decided_at`` set, ``decided_by`` null, ``comment`` "Run cancelled by X before a decision")
  and sends ``approval.expired``: it can no longer be decided (approve/reject answer 409
  ``expired``). Cancel turns the running/waiting step ``cancelled`` and pending steps ``skipped``.
* Pause keeps the current step ``running`` (or ``waiting``) but stops the clock; resume
  continues the step for its remaining time. A task may be decided while its run is paused:
  approve lets the run continue after resume; reject cancels it; expiry fails it.
* Replay: a new run of the same workflow with ``replay_of``, the old payload, prompt/model
  (or the new ones), trigger ``manual`` with actor ``{"name": actor}``. A replay succeeds by
  default (a gated workflow still asks for approval); ``/sim/runs`` ``"replay_outcome"``:
  ``"succeed"`` | ``"fail"`` | ``"same"`` changes that.
* ``duration_ms`` is null until the run is terminal. Lists omit ``steps`` unless
  ``include=steps``. ``status`` and ``id`` filters accept repeats and comma lists.
  Unknown ``workflow`` gives an empty list. Cursors are opaque (base64 of the last sort key).
* Run and approval ids come from one ``random.Random(seed)`` (deterministic); webhook ids are
  ``msg_`` + a uuid4 (unique across restarts so a bot's dedupe never drops a fresh event).
  With a two-secret ``webhook_secret`` (rotation) both signatures are sent, space-separated.
* Webhooks go through one background queue, in order, with up to 5 attempts (backoff 0.05,
  0.2, 0.5, 1 s) for non-2xx or connection errors. Bulk frozen runs send none unless asked.

Control endpoints (``/sim/...``, no auth, JSON; not part of the contract):

* ``POST /sim/runs`` {"workflow", "outcome": succeed|fail|approval, "error_code"?, "fail_step"? (0-based
  index or step id), "actor"? {name,email,slack_user_id}, "trigger_type"?, "payload"?, "prompt"?, "model"?,
  "step_seconds"?, "approval_ttl_seconds"?, "approval_kind"?, "approval_action"?, "then"? succeed|fail,
  "frozen"?, "status"?, "replay_outcome"? succeed|fail|same, "gate"? bool, "id"?} -> 201 run
* ``POST /sim/runs/bulk`` {"count", "workflow"? (id or list; default all), "status"? (running),
  "frozen"? (true), "webhooks"? (false), any /sim/runs field} -> 201 {"ids": [...]}
* ``POST /sim/runs/{id}/advance`` {"status"?, "fail"? {"error_code"}} forces a status (webhook sent);
  an empty body performs the run's next step change (also for frozen runs).
* ``POST /sim/webhooks`` {"mode": suppress|duplicate|delay|reorder, "count": N|-1, "delay_seconds"?,
  "types"?}; ``POST /sim/webhooks/reset`` {"clear_log"?}; ``GET /sim/webhooks/log`` -> [{"id", "type",
  "run_id", "approval_id", "status_code", "attempts", "suppressed", "duplicate", "delayed", "reordered",
  "error"}]
* ``POST /sim/stall`` {"seconds", "status"?}: /v1 answers that status (error shape), or hangs until the end.
* ``POST /sim/approvals/{id}/modify`` {"action"?, "kind"?, "expires_at"?} (pending tasks; bumps run updated_at)
* ``POST /sim/config`` {"webhook_url"?, "webhook_secret"?, "speed"?, "approval_ttl_seconds"?}
* ``GET /sim/stats`` -> {"requests": {"GET /v1/runs": n, "GET /v1/runs/{id}": n, ...}, "total", ...};
  ``POST /sim/stats/reset``

Pages: ``GET /`` (runs index), ``GET /{workspace}/monitoring/workflow-runs/{run_id}`` (run detail; each
step in ``<details id="step-{step_id}">``, the failed one open). ``platform.run_url(run_id, step_id)``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import bisect
import heapq
import hmac
import html
import itertools
import json
import logging
import os
import random
import string
import time
import uuid
import zlib
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
from aiohttp import web
from standardwebhooks.webhooks import Webhook

from bot.sim.platform_samples import (
    DEMO_SCENARIOS,
    ERROR_CATALOG,
    SANDBOX_USER,
    WORKFLOWS,
    WORKFLOWS_BY_ID,
    provider_for_model,
)

log = logging.getLogger("runbot.sim.platform")

RUN_STATUSES = ("pending", "running", "waiting", "paused", "completed", "failed", "cancelled")
TERMINAL = frozenset({"completed", "failed", "cancelled"})
APPROVAL_STATUSES = ("pending", "approved", "rejected", "expired")
SEVERITIES = {"debug": 0, "info": 1, "warn": 2, "error": 3}
LOG_EVENT_TYPES = (
    "run.created", "run.started", "run.step.started", "run.step.completed", "run.step.failed",
    "run.paused", "run.resumed", "run.completed", "run.failed", "run.cancelled",
    "approval.requested", "approval.decided", "approval.expired",
)
WEBHOOK_MODES = ("suppress", "duplicate", "delay", "reorder")
BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
ONE_MS = timedelta(milliseconds=1)
RETRY_BACKOFF = (0.05, 0.2, 0.5, 1.0)


# ----------------------------------------------------------------------------- helpers

def _now() -> datetime:
    t = datetime.now(timezone.utc)
    return t.replace(microsecond=(t.microsecond // 1000) * 1000)


def fmt_ts(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_ts(value: str) -> datetime:
    """Parse RFC 3339 (accepts ``Z``, offsets, and a ``+`` that a query string turned into a space)."""
    s = value.strip()
    if "T" in s and " " in s:
        s = s.replace(" ", "+")
    if s.endswith(("z", "Z")):
        s = s[:-1] + "+00:00"
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


def _b64(obj: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj, separators=(",", ":")).encode()).decode().rstrip("=")


def _unb64(s: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))


def _multi(query, name: str) -> list[str]:
    out: list[str] = []
    for v in query.getall(name, []):
        out.extend(p.strip() for p in v.split(",") if p.strip())
    return out


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra

    def response(self) -> web.Response:
        return _error(self.status, self.code, self.message, **self.extra)


def _error(status: int, code: str, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message, **extra}}, status=status)


def _bad_filter(param: str, message: str) -> ApiError:
    return ApiError(400, "bad_filter", f"{param}: {message}", param=param)


# ----------------------------------------------------------------------------- model

class Step:
    __slots__ = ("id", "index", "name", "type", "provider", "status", "started_at", "completed_at", "error", "gate")

    def __init__(self, index: int, spec: dict[str, Any]) -> None:
        self.id = f"step_{index + 1}"
        self.index = index
        self.name = spec["name"]
        self.type = spec["type"]
        self.provider = spec.get("provider")
        self.gate = spec.get("gate")
        self.status = "pending"
        self.started_at: datetime | None = None
        self.completed_at: datetime | None = None
        self.error: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "index": self.index, "name": self.name, "type": self.type,
            "status": self.status, "started_at": fmt_ts(self.started_at),
            "completed_at": fmt_ts(self.completed_at),
            "error": dict(self.error) if self.error else None,
        }


class Run:
    __slots__ = (
        "id", "workflow", "status", "created_at", "started_at", "completed_at", "updated_at",
        "trigger", "model", "prompt", "failed_step_id", "replay_of", "steps", "frozen",
        "step_seconds", "outcome", "fail_index", "error_code", "then", "gate_index", "gate_enabled",
        "gate_passed", "approval_kind", "approval_action", "approval_ttl", "paused_from", "gen",
        "due", "remaining", "replay_outcome", "approval_id", "key",
    )

    def __init__(self) -> None:
        self.started_at = self.completed_at = None
        self.failed_step_id = self.replay_of = None
        self.paused_from = None
        self.gen = 0
        self.due = None
        self.remaining = None
        self.approval_id = None
        self.gate_passed = False

    @property
    def wf_ref(self) -> dict[str, str]:
        return {"id": self.workflow["id"], "name": self.workflow["name"]}

    def current_step(self) -> Step | None:
        for s in self.steps:
            if s.status in ("running", "waiting"):
                return s
        return None

    def next_pending(self) -> Step | None:
        for s in self.steps:
            if s.status == "pending":
                return s
        return None

    def step(self, step_id: str) -> Step | None:
        for s in self.steps:
            if s.id == step_id:
                return s
        return None

    def to_json(self, steps: bool = True) -> dict[str, Any]:
        duration = None
        if self.started_at is not None and self.completed_at is not None:
            duration = int((self.completed_at - self.started_at).total_seconds() * 1000)
        trigger = {"type": self.trigger["type"], "payload": json.loads(json.dumps(self.trigger["payload"]))}
        if self.trigger.get("actor"):
            trigger["actor"] = dict(self.trigger["actor"])
        d = {
            "id": self.id,
            "workflow": self.wf_ref,
            "status": self.status,
            "created_at": fmt_ts(self.created_at),
            "started_at": fmt_ts(self.started_at),
            "completed_at": fmt_ts(self.completed_at),
            "updated_at": fmt_ts(self.updated_at),
            "duration_ms": duration,
            "trigger": trigger,
            "progress": {"total_steps": len(self.steps),
                         "completed_steps": sum(1 for s in self.steps if s.status == "completed")},
            "model": self.model,
            "prompt": self.prompt,
            "failed_step_id": self.failed_step_id,
            "replay_of": self.replay_of,
        }
        if steps:
            d["steps"] = [s.to_json() for s in self.steps]
        return d


class Approval:
    __slots__ = ("id", "run_id", "step_id", "workflow", "kind", "action", "requested_by", "requested_at",
                 "expires_at", "status", "decided_by", "decided_at", "comment", "version", "seq")

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "run_id": self.run_id, "step_id": self.step_id, "workflow": dict(self.workflow),
            "kind": self.kind, "action": self.action, "requested_by": self.requested_by,
            "requested_at": fmt_ts(self.requested_at), "expires_at": fmt_ts(self.expires_at),
            "status": self.status, "decided_by": self.decided_by, "decided_at": fmt_ts(self.decided_at),
            "comment": self.comment,
        }


# ----------------------------------------------------------------------------- platform

class ReferencePlatform:
    def __init__(self, *, api_token: str, webhook_url: str | None = None, webhook_secret: str | None = None,
                 seed: int = 0, speed: float = 1.0, workspace: str = "default", demo: bool = False,
                 approval_ttl_seconds: float = 3600.0, step_seconds: float = 2.0,
                 demo_interval_seconds: float = 8.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be > 0")
        self.api_token = api_token
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.seed = seed
        self.speed = float(speed)
        self.workspace = workspace
        self.demo = demo
        self.approval_ttl_seconds = float(approval_ttl_seconds)
        self.step_seconds = float(step_seconds)
        self.demo_interval_seconds = float(demo_interval_seconds)
        self.base_url = ""
        self._rng = random.Random(seed)
        self._runs: dict[str, Run] = {}
        self._keys: list[tuple[datetime, str]] = []          # sorted ascending (created_at, id)
        self._approvals: dict[str, Approval] = {}
        self._approval_order: list[str] = []                   # creation order
        self._logs: list[dict[str, Any]] = []
        self._logs_by_run: dict[str, list[int]] = {}
        self._logs_last_ts: datetime | None = None
        self._heap: list[tuple[float, int, str, str, int]] = []
        self._seq = itertools.count()
        self._wake: asyncio.Event | None = None
        self._queue: asyncio.Queue | None = None
        self._webhook_rules: dict[str, Any] | None = None
        self._webhook_log: list[dict[str, Any]] = []
        self._undelivered: Counter[str] = Counter()  # webhook-id -> sends still to finish (queued, held, delayed)
        self._stats: Counter[str] = Counter()
        self._stall_until = 0.0
        self._stall_status: int | None = None
        self._tasks: list[asyncio.Task] = []
        self._side_tasks: set[asyncio.Task] = set()
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------------ lifecycle

    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=4 * 1024 * 1024)
        r = app.router
        r.add_get("/v1/workflows", self._h_workflows)
        r.add_get("/v1/runs", self._h_list_runs)
        r.add_get("/v1/runs/{id}", self._h_get_run)
        r.add_post("/v1/runs/{id}/pause", self._h_pause)
        r.add_post("/v1/runs/{id}/resume", self._h_resume)
        r.add_post("/v1/runs/{id}/cancel", self._h_cancel)
        r.add_post("/v1/runs/{id}/replay", self._h_replay)
        r.add_get("/v1/approvals", self._h_list_approvals)
        r.add_get("/v1/approvals/{id}", self._h_get_approval)
        r.add_post("/v1/approvals/{id}/approve", self._h_approve)
        r.add_post("/v1/approvals/{id}/reject", self._h_reject)
        r.add_get("/v1/logs", self._h_logs)
        r.add_post("/sim/runs", self._sim_create_run)
        r.add_post("/sim/runs/bulk", self._sim_bulk)
        r.add_post("/sim/runs/{id}/advance", self._sim_advance)
        r.add_post("/sim/webhooks", self._sim_webhooks)
        r.add_post("/sim/webhooks/reset", self._sim_webhooks_reset)
        r.add_get("/sim/webhooks/log", self._sim_webhooks_log)
        r.add_post("/sim/stall", self._sim_stall)
        r.add_post("/sim/approvals/{id}/modify", self._sim_modify_approval)
        r.add_post("/sim/config", self._sim_config)
        r.add_get("/sim/stats", self._sim_stats)
        r.add_post("/sim/stats/reset", self._sim_stats_reset)
        r.add_get("/", self._page_index)
        r.add_get("/{workspace}/monitoring/workflow-runs/{run_id}", self._page_run)
        app.on_startup.append(self._on_startup)
        app.on_cleanup.append(self._on_cleanup)
        return app

    async def _on_startup(self, app: web.Application) -> None:
        self._wake = asyncio.Event()
        if self._queue is None:
            self._queue = asyncio.Queue()
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        self._tasks = [asyncio.create_task(self._scheduler_loop(), name="platform-scheduler"),
                       asyncio.create_task(self._deliver_loop(), name="platform-webhooks")]
        if self.demo:
            self._tasks.append(asyncio.create_task(self._demo_loop(), name="platform-demo"))

    async def _on_cleanup(self, app: web.Application) -> None:
        tasks = self._tasks + list(self._side_tasks)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks = []
        self._side_tasks.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._runner = web.AppRunner(self.make_app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        addr = self._runner.addresses[0]
        real_port = addr[1]
        shown = host if host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        self.base_url = f"http://{shown}:{real_port}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------------ small utilities

    def _rand_id(self, prefix: str, n: int = 12) -> str:
        while True:
            rid = prefix + "".join(self._rng.choice(BASE62) for _ in range(n))
            if rid not in self._runs and rid not in self._approvals:
                return rid

    @staticmethod
    def _touch(run: Run) -> datetime:
        t = _now()
        if t <= run.updated_at:
            t = run.updated_at + ONE_MS
        run.updated_at = t
        return t

    def _step_duration(self, run: Run, index: int) -> float:
        jitter = 0.8 + 0.4 * ((zlib.crc32(f"{run.id}:{index}".encode()) % 1000) / 1000)
        return run.step_seconds * jitter / self.speed

    def _schedule(self, delay: float, kind: str, key: str, gen: int) -> float:
        due = time.monotonic() + max(0.0, delay)
        heapq.heappush(self._heap, (due, next(self._seq), kind, key, gen))
        if self._wake is not None:
            self._wake.set()
        return due

    def _schedule_run(self, run: Run, delay: float) -> None:
        if run.frozen:
            return
        run.gen += 1
        run.due = self._schedule(delay, "tick", run.id, run.gen)

    def _unschedule(self, run: Run) -> None:
        run.gen += 1
        run.due = None

    def _log(self, severity: str, event_type: str, run: Run | None, step: Step | None, message: str,
             ts: datetime | None = None) -> None:
        idx = len(self._logs)
        ts = ts or _now()
        if self._logs_last_ts is not None and ts < self._logs_last_ts:
            ts = self._logs_last_ts  # newest first by id and by timestamp: keep log time monotonic
        self._logs_last_ts = ts
        entry = {
            "id": f"log_{idx + 1:010d}",
            "timestamp": fmt_ts(ts),
            "severity": severity,
            "event_type": event_type,
            "run_id": run.id if run else None,
            "step_id": step.id if step else None,
            "message": message,
        }
        self._logs.append(entry)
        if run is not None:
            self._logs_by_run.setdefault(run.id, []).append(idx)
        log.debug("%s %s %s", event_type, run.id if run else "-", message)

    def _emit(self, type_: str, run: Run, *, step: Step | None = None, approval: Approval | None = None) -> None:
        if not self.webhook_url:
            return
        data: dict[str, Any] = {}
        if approval is not None:
            data["approval"] = approval.to_json()
        data["run"] = run.to_json(steps=True)
        if step is not None:
            data["step"] = step.to_json()
        body = {"type": type_, "timestamp": fmt_ts(_now()), "data": data}
        if self._queue is None:
            self._queue = asyncio.Queue()
        msg_id = f"msg_{uuid.uuid4().hex}"
        self._undelivered[msg_id] += 1
        self._queue.put_nowait({
            "id": msg_id, "type": type_, "run_id": run.id,
            "approval_id": approval.id if approval else None,
            "body": json.dumps(body, separators=(",", ":")),
        })

    def _error_for(self, run: Run, step: Step, code: str) -> dict[str, Any]:
        message, pstatus, retryable, from_provider = ERROR_CATALOG.get(
            code, (f"Step failed with {code}", None, False, False))
        provider = None
        if from_provider:
            provider = provider_for_model(run.model) if step.type == "llm" else (step.provider or "http")
        return {"code": code, "message": message, "provider": provider,
                "provider_status": pstatus, "retryable": retryable}

    # ------------------------------------------------------------------ run creation

    def create_run(self, *, workflow: str = "wf_invoices", outcome: str = "succeed", error_code: str | None = None,
                   fail_step: int | str | None = None, actor: dict[str, Any] | str | None = None,
                   trigger_type: str = "manual", payload: dict[str, Any] | None = None,
                   prompt: str | None = None, model: str | None = None, step_seconds: float | None = None,
                   approval_ttl_seconds: float | None = None, approval_kind: str | None = None,
                   approval_action: str | None = None, then: str = "succeed", frozen: bool = False,
                   status: str | None = None, replay_of: str | None = None, replay_outcome: str = "succeed",
                   gate: bool = True, id: str | None = None, emit: bool = True, **_ignored: Any) -> Run:
        wf = WORKFLOWS_BY_ID.get(workflow)
        if wf is None:
            raise ApiError(400, "bad_request", f"unknown workflow {workflow!r}")
        if outcome not in ("succeed", "fail", "approval"):
            raise ApiError(400, "bad_request", "outcome must be succeed, fail or approval")
        if then not in ("succeed", "fail"):
            raise ApiError(400, "bad_request", "then must be succeed or fail")
        if replay_outcome not in ("succeed", "fail", "same"):
            raise ApiError(400, "bad_request", "replay_outcome must be succeed, fail or same")
        if status is not None and status not in RUN_STATUSES:
            raise ApiError(400, "bad_request", f"unknown status {status!r}")
        if trigger_type not in ("manual", "schedule", "webhook", "api"):
            raise ApiError(400, "bad_request", "trigger_type must be manual, schedule, webhook or api")
        if id is not None and id in self._runs:
            raise ApiError(409, "conflict", f"run {id} exists")
        specs = [dict(s) for s in wf["steps"]]
        if not gate:
            for s in specs:
                s.pop("gate", None)
        gate_index = next((i for i, s in enumerate(specs) if s.get("gate")), None)
        if gate_index is None and (outcome == "approval" or status == "waiting"):
            gate_index = max(0, len(specs) - 1)
            specs.insert(gate_index, {"name": "Human review", "type": "approval", "provider": None,
                                      "gate": {"kind": "tool_call",
                                               "action": f"Run step {specs[-1]['name']!r} of {wf['name']}"}})
        run = Run()
        run.id = id or self._rand_id("run_")
        run.workflow = wf
        run.steps = [Step(i, s) for i, s in enumerate(specs)]
        run.gate_index = gate_index
        run.gate_enabled = gate
        run.outcome = outcome
        run.then = then
        run.error_code = error_code or "provider_rate_limited"
        run.approval_kind = approval_kind
        run.approval_action = approval_action
        run.approval_ttl = float(approval_ttl_seconds) if approval_ttl_seconds is not None else None
        run.step_seconds = float(step_seconds) if step_seconds is not None else self.step_seconds
        run.replay_outcome = replay_outcome
        run.replay_of = replay_of
        run.frozen = bool(frozen)
        run.fail_index = None
        if outcome == "fail":
            run.fail_index = self._resolve_fail_step(run, fail_step)
        elif then == "fail" and gate_index is not None:
            run.fail_index = gate_index
        if isinstance(actor, str):
            actor = {"name": actor}
        trig: dict[str, Any] = {"type": trigger_type,
                                "payload": payload if payload is not None else dict(wf["payload"])}
        if actor:
            trig["actor"] = {k: actor[k] for k in ("name", "email", "slack_user_id") if actor.get(k) is not None}
        run.trigger = trig
        run.model = model or wf["model"]
        run.prompt = prompt if prompt is not None else wf["prompt"]
        run.status = "pending"
        run.created_at = _now()
        if self._keys and run.created_at < self._keys[-1][0]:
            run.created_at = self._keys[-1][0]           # wall clock went back: keep order sane
        run.updated_at = run.created_at
        run.key = (run.created_at, run.id)
        self._runs[run.id] = run
        if not self._keys or run.key > self._keys[-1]:
            self._keys.append(run.key)
        else:
            bisect.insort(self._keys, run.key)
        who = f" by {actor.get('name') or actor.get('email') or actor.get('slack_user_id')}" if actor else ""
        extra = f" (replay of {replay_of})" if replay_of else ""
        self._log("info", "run.created", run, None, f"Run of {wf['name']} created{who} via {trigger_type}{extra}",
                  run.created_at)
        if emit:
            self._emit("run.created", run)
        if status is None and frozen:
            status = "running"
        if status is not None and status != "pending":
            self._force(run, status, error_code=error_code, emit=emit, actor="sim")
        elif not run.frozen:
            self._schedule_run(run, run.step_seconds / 4 / self.speed)
        return run

    def _resolve_fail_step(self, run: Run, fail_step: int | str | None) -> int:
        n = len(run.steps)
        if fail_step is None:
            for s in run.steps:
                if s.type == "llm":
                    return s.index
            return n // 2
        if isinstance(fail_step, str):
            st = run.step(fail_step)
            if st is None:
                if fail_step.isdigit():
                    fail_step = int(fail_step)
                else:
                    raise ApiError(400, "bad_request", f"fail_step: no step {fail_step!r}")
            else:
                return st.index
        if not isinstance(fail_step, int) or not 0 <= fail_step < n:
            raise ApiError(400, "bad_request", f"fail_step must be a step index from 0 to {n - 1}")
        return fail_step

    # ------------------------------------------------------------------ the state machine

    def _tick(self, run: Run) -> None:
        if run.status == "pending":
            t = self._touch(run)
            run.status = "running"
            run.started_at = t
            self._log("info", "run.started", run, None, f"Run of {run.workflow['name']} started", t)
            self._emit("run.started", run)
            first = run.next_pending()
            if first is None:
                self._complete_run(run)
            else:
                self._enter_step(run, first)
            return
        if run.status != "running":
            return
        cur = run.current_step()
        if cur is None:
            nxt = run.next_pending()
            if nxt is None:
                self._complete_run(run)
            else:
                self._enter_step(run, nxt)
            return
        if cur.status == "waiting":
            return
        if run.fail_index == cur.index:
            self._fail_step(run, cur, run.error_code)
            return
        t = self._touch(run)
        cur.status = "completed"
        cur.completed_at = t
        if cur.type == "llm":
            self._log("debug", "run.step.completed", run, cur,
                      f"{provider_for_model(run.model)} {run.model}: {200 + (zlib.crc32(run.id.encode()) % 600)} completion tokens",
                      t)
        self._log("info", "run.step.completed", run, cur,
                  f"Step {cur.index + 1} of {len(run.steps)} \"{cur.name}\" completed", t)
        self._emit("run.step.updated", run, step=cur)
        nxt = run.next_pending()
        if nxt is None:
            self._complete_run(run)
        else:
            self._enter_step(run, nxt)

    def _enter_step(self, run: Run, step: Step) -> None:
        t = self._touch(run)
        step.started_at = t
        n = len(run.steps)
        if step.index == run.gate_index and not run.gate_passed:
            step.status = "waiting"
            run.status = "waiting"
            self._log("info", "run.step.started", run, step,
                      f"Step {step.index + 1} of {n} \"{step.name}\" waiting for approval", t)
            self._emit("run.step.updated", run, step=step)
            self._request_approval(run, step)
            return
        step.status = "running"
        if step.type == "llm":
            self._log("debug", "run.step.started", run, step,
                      f"Calling {provider_for_model(run.model)} {run.model} "
                      f"(prompt {800 + (zlib.crc32(step.id.encode() + run.id.encode()) % 1200)} tokens)", t)
        elif step.provider:
            self._log("debug", "run.step.started", run, step, f"Calling {step.provider} for \"{step.name}\"", t)
        self._log("info", "run.step.started", run, step, f"Step {step.index + 1} of {n} \"{step.name}\" started", t)
        self._emit("run.step.updated", run, step=step)
        self._schedule_run(run, self._step_duration(run, step.index))

    def _fail_step(self, run: Run, step: Step, code: str) -> None:
        t = self._touch(run)
        step.status = "failed"
        step.completed_at = t
        if step.started_at is None:
            step.started_at = t
        step.error = self._error_for(run, step, code)
        self._log("error", "run.step.failed", run, step,
                  f"Step {step.index + 1} of {len(run.steps)} \"{step.name}\" failed: {code}: {step.error['message']}", t)
        self._emit("run.step.updated", run, step=step)
        t = self._touch(run)
        for s in run.steps:
            if s.status == "pending":
                s.status = "skipped"
            elif s.status in ("running", "waiting"):
                s.status = "cancelled"
                s.completed_at = t
        run.status = "failed"
        run.completed_at = t
        run.paused_from = None
        if run.failed_step_id is None:
            run.failed_step_id = step.id
        self._unschedule(run)
        self._log("error", "run.failed", run, step, f"Run of {run.workflow['name']} failed at \"{step.name}\": {code}", t)
        self._emit("run.failed", run)

    def _complete_run(self, run: Run) -> None:
        t = self._touch(run)
        run.status = "completed"
        run.completed_at = t
        self._unschedule(run)
        self._log("info", "run.completed", run, None, f"Run of {run.workflow['name']} completed", t)
        self._emit("run.completed", run)

    def _request_approval(self, run: Run, step: Step) -> Approval:
        gate = step.gate or {}
        a = Approval()
        a.id = self._rand_id("apr_")
        a.run_id = run.id
        a.step_id = step.id
        a.workflow = run.wf_ref
        a.kind = run.approval_kind or gate.get("kind") or "tool_call"
        a.action = run.approval_action or gate.get("action") or f"Run step {step.name!r}"
        a.requested_by = f"step {step.name} of {run.workflow['name']}"
        a.requested_at = run.updated_at
        ttl = run.approval_ttl if run.approval_ttl is not None else self.approval_ttl_seconds
        a.expires_at = a.requested_at + timedelta(seconds=ttl)
        a.status = "pending"
        a.decided_by = a.decided_at = a.comment = None
        a.version = 0
        a.seq = len(self._approval_order)
        self._approvals[a.id] = a
        self._approval_order.append(a.id)
        run.approval_id = a.id
        t = self._touch(run)
        self._log("info", "approval.requested", run, step, f"Approval requested ({a.kind}): {a.action}", t)
        self._emit("approval.requested", run, approval=a)
        self._schedule_expiry(a)
        return a

    def _schedule_expiry(self, a: Approval) -> None:
        delay = (a.expires_at - datetime.now(timezone.utc)).total_seconds()
        self._schedule(delay, "expire", a.id, a.version)

    def _expire_approval(self, a: Approval) -> None:
        """TTL expiry: task expired, gate step failed (approval_expired), run failed."""
        if a.status != "pending":
            return
        run = self._runs[a.run_id]
        t = self._touch(run)
        a.status = "expired"
        a.decided_at = t
        self._log("warn", "approval.expired", run, run.step(a.step_id),
                  f"Approval expired without a decision: {a.action}", t)
        self._emit("approval.expired", run, approval=a)
        if run.status in TERMINAL:
            return
        step = run.step(a.step_id)
        if step is not None and step.status in ("waiting", "pending", "running"):
            self._fail_step(run, step, "approval_expired")

    def _retire_approval(self, run: Run, actor: str) -> None:
        """A terminal run can't have a pending task: mark it expired (see module docstring)."""
        a = self._approvals.get(run.approval_id or "")
        if a is None or a.status != "pending":
            return
        t = self._touch(run)
        a.status = "expired"
        a.decided_at = t
        a.comment = f"Run {run.status} by {actor} before a decision"
        self._log("info", "approval.expired", run, run.step(a.step_id),
                  f"Approval closed: run {run.status} by {actor}", t)
        self._emit("approval.expired", run, approval=a)

    def _maybe_expire(self, a: Approval) -> None:
        if a.status == "pending" and a.expires_at <= datetime.now(timezone.utc):
            self._expire_approval(a)

    # --- actions (also used by the HTTP handlers)

    def _get_run(self, run_id: str) -> Run:
        run = self._runs.get(run_id)
        if run is None:
            raise ApiError(404, "not_found", f"run {run_id} not found")
        return run

    def pause(self, run_id: str, actor: str) -> Run:
        run = self._get_run(run_id)
        if run.status not in ("running", "waiting"):
            raise ApiError(409, "invalid_transition", f"cannot pause a {run.status} run (only running or waiting)")
        if run.status == "running" and run.due is not None:
            run.remaining = max(0.0, run.due - time.monotonic())
        else:
            run.remaining = None
        self._unschedule(run)
        run.paused_from = run.status
        run.status = "paused"
        t = self._touch(run)
        self._log("info", "run.paused", run, run.current_step(), f"Run paused by {actor}", t)
        self._emit("run.paused", run)
        return run

    def resume(self, run_id: str, actor: str) -> Run:
        run = self._get_run(run_id)
        if run.status != "paused":
            raise ApiError(409, "invalid_transition", f"cannot resume a {run.status} run (only paused)")
        run.status = run.paused_from or "running"
        run.paused_from = None
        t = self._touch(run)
        self._log("info", "run.resumed", run, run.current_step(), f"Run resumed by {actor}", t)
        self._emit("run.resumed", run)
        if run.status == "running":
            cur = run.current_step()
            delay = run.remaining if run.remaining is not None else (
                self._step_duration(run, cur.index) if cur else 0.0)
            self._schedule_run(run, delay)
        run.remaining = None
        return run

    def cancel(self, run_id: str, actor: str, reason: str | None = None) -> Run:
        run = self._get_run(run_id)
        if run.status not in ("pending", "running", "waiting", "paused"):
            raise ApiError(409, "invalid_transition", f"cannot cancel a {run.status} run")
        self._cancel_run(run, actor, reason)
        return run

    def _cancel_run(self, run: Run, actor: str, reason: str | None = None) -> None:
        self._unschedule(run)
        t = self._touch(run)
        cur = run.current_step()
        for s in run.steps:
            if s.status in ("running", "waiting"):
                s.status = "cancelled"
                s.completed_at = t
            elif s.status == "pending":
                s.status = "skipped"
        run.status = "cancelled"
        run.completed_at = t
        run.paused_from = None
        self._log("info", "run.cancelled", run, cur, reason or f"Run cancelled by {actor}", t)
        self._emit("run.cancelled", run)
        self._retire_approval(run, actor)

    def replay(self, run_id: str, actor: str, prompt: str | None = None, model: str | None = None) -> Run:
        old = self._get_run(run_id)
        if old.status not in TERMINAL:
            raise ApiError(409, "not_replayable", f"cannot replay a {old.status} run (only completed, failed or cancelled)")
        kw: dict[str, Any] = {}
        if old.replay_outcome == "fail":
            kw = {"outcome": "fail", "error_code": old.error_code}
        elif old.replay_outcome == "same":
            kw = {"outcome": old.outcome, "error_code": old.error_code, "then": old.then,
                  "fail_step": old.fail_index if old.outcome == "fail" else None}
        new = self.create_run(
            workflow=old.workflow["id"], actor={"name": actor} if actor else None, trigger_type="manual",
            payload=json.loads(json.dumps(old.trigger["payload"])),
            prompt=prompt if prompt is not None else old.prompt, model=model or old.model,
            step_seconds=old.step_seconds, approval_ttl_seconds=old.approval_ttl,
            approval_kind=old.approval_kind, approval_action=old.approval_action,
            replay_of=old.id, replay_outcome=old.replay_outcome, gate=old.gate_enabled, **kw)
        return new

    def decide(self, approval_id: str, decision: str, actor: str, comment: str | None = None) -> Approval:
        a = self._approvals.get(approval_id)
        if a is None:
            raise ApiError(404, "not_found", f"approval {approval_id} not found")
        self._maybe_expire(a)
        if a.status == "expired":
            raise ApiError(409, "expired", f"approval {approval_id} expired at {fmt_ts(a.expires_at)}")
        if a.status != "pending":
            raise ApiError(409, "already_decided", f"approval {approval_id} was already {a.status} by {a.decided_by}")
        run = self._runs[a.run_id]
        t = self._touch(run)
        a.status = "approved" if decision == "approve" else "rejected"
        a.decided_by = actor
        a.decided_at = t
        a.comment = comment
        step = run.step(a.step_id)
        self._log("info", "approval.decided", run, step, f"Approval {a.status} by {actor}" + (f": {comment}" if comment else ""), t)
        self._emit("approval.decided", run, approval=a)
        if run.status in TERMINAL:
            return a
        if a.status == "approved":
            run.gate_passed = True
            if step is not None and step.status == "waiting":
                if run.status == "waiting":
                    t = self._touch(run)
                    step.status = "running"
                    run.status = "running"
                    self._log("info", "run.step.started", run, step,
                              f"Step {step.index + 1} of {len(run.steps)} \"{step.name}\" approved, running", t)
                    self._emit("run.step.updated", run, step=step)
                    self._schedule_run(run, self._step_duration(run, step.index))
                elif run.status == "paused":
                    t = self._touch(run)
                    step.status = "running"
                    run.paused_from = "running"
                    run.remaining = self._step_duration(run, step.index)
                    self._emit("run.step.updated", run, step=step)
        else:
            self._cancel_run(run, actor, f"Run cancelled: approval rejected by {actor}")
        return a

    def _force(self, run: Run, status: str, *, error_code: str | None = None, emit: bool = True,
               actor: str = "sim") -> None:
        """Force a run into ``status`` (sim control), keeping steps consistent."""
        old = run.status
        self._unschedule(run)
        t = self._touch(run)
        if status != "pending" and run.started_at is None:
            run.started_at = t
        cur = run.current_step()
        event = None
        if status in ("running", "paused"):
            if old == "paused" and status == "running":
                event = "run.resumed"
            if cur is not None and cur.status == "waiting":
                if not (status == "paused" and old == "waiting"):
                    cur.status = "running"
                    run.gate_passed = True
            elif cur is None:
                nxt = run.next_pending()
                if nxt is not None:
                    nxt.status = "running"
                    nxt.started_at = t
            run.completed_at = None
            if status == "paused":
                if old == "paused":
                    pass
                else:
                    run.paused_from = "waiting" if (old == "waiting" and cur and cur.status == "waiting") else "running"
                event = "run.paused"
            else:
                run.paused_from = None
                event = event or "run.started"
            run.status = status
        elif status == "waiting":
            if cur is None or cur.status != "waiting":
                gate = cur or run.next_pending()
                if gate is None:
                    gate = run.steps[-1]
                gate.status = "waiting"
                gate.started_at = gate.started_at or t
                gate.completed_at = None
                run.gate_index = gate.index
                run.gate_passed = False
                cur = gate
            run.status = "waiting"
            run.completed_at = None
            a = self._approvals.get(run.approval_id or "")
            if emit:
                self._emit("run.step.updated", run, step=cur)
            if a is None or a.status != "pending":
                if emit:
                    self._request_approval(run, cur)
                else:
                    self._quiet(self._request_approval, run, cur)
            return
        elif status == "completed":
            for s in run.steps:
                if s.status != "completed":
                    s.status = "completed"
                    s.started_at = s.started_at or t
                    s.completed_at = t
                    s.error = None
            run.status = "completed"
            run.completed_at = t
            event = "run.completed"
        elif status == "failed":
            target = cur or run.next_pending() or run.steps[-1]
            run.status = "running"
            if emit:
                self._fail_step(run, target, error_code or run.error_code or "internal_error")
            else:
                self._quiet(self._fail_step, run, target, error_code or run.error_code or "internal_error")
            self._retire_approval_quiet(run, actor, emit)
            return
        elif status == "cancelled":
            run.status = "running"
            if emit:
                self._cancel_run(run, actor)
            else:
                self._quiet(self._cancel_run, run, actor)
            return
        elif status == "pending":
            run.status = "pending"
            event = None
        self._log("info", event or "run.created", run, run.current_step(), f"Run forced to {status} (sim)", t)
        if emit and event:
            self._emit(event, run)
        if status in TERMINAL:
            self._retire_approval_quiet(run, actor, emit)
        if status in ("running", "pending") and not run.frozen:
            cur = run.current_step()
            self._schedule_run(run, self._step_duration(run, cur.index) if cur else 0.0)

    def _retire_approval_quiet(self, run: Run, actor: str, emit: bool) -> None:
        if emit:
            self._retire_approval(run, actor)
        else:
            self._quiet(self._retire_approval, run, actor)

    def _quiet(self, fn, *args: Any) -> Any:
        url, self.webhook_url = self.webhook_url, None
        try:
            return fn(*args)
        finally:
            self.webhook_url = url

    # ------------------------------------------------------------------ background loops

    async def _scheduler_loop(self) -> None:
        assert self._wake is not None
        while True:
            now = time.monotonic()
            while self._heap and self._heap[0][0] <= now:
                _, _, kind, key, gen = heapq.heappop(self._heap)
                try:
                    if kind == "tick":
                        run = self._runs.get(key)
                        if run is not None and run.gen == gen and not run.frozen:
                            run.due = None
                            self._tick(run)
                    elif kind == "expire":
                        a = self._approvals.get(key)
                        if a is not None and a.version == gen and a.status == "pending":
                            if a.expires_at <= datetime.now(timezone.utc) + timedelta(milliseconds=5):
                                self._expire_approval(a)
                            else:
                                self._schedule_expiry(a)
                except Exception:  # keep the clock running whatever happens
                    log.exception("scheduler event %s %s failed", kind, key)
            self._wake.clear()
            timeout = (self._heap[0][0] - time.monotonic()) if self._heap else None
            if timeout is not None and timeout <= 0:
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except (asyncio.TimeoutError, TimeoutError):
                pass

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
        return {"id": ev["id"], "type": ev["type"], "run_id": ev["run_id"], "approval_id": ev["approval_id"],
                "status_code": status, "attempts": attempts, "suppressed": flags.get("suppressed", False),
                "duplicate": flags.get("duplicate", False), "delayed": flags.get("delayed", False),
                "reordered": flags.get("reordered", False), "error": flags.get("error")}

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
            headers = {"Content-Type": "application/json", "webhook-id": ev["id"],
                       "webhook-timestamp": str(int(ts.timestamp())), "User-Agent": "runbot-reference-platform/1"}
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

    async def _demo_loop(self) -> None:
        await asyncio.sleep(0.5 / self.speed)
        while True:
            order = list(DEMO_SCENARIOS)
            self._rng.shuffle(order)
            for scenario in order:
                try:
                    self.create_run(**scenario, actor=dict(SANDBOX_USER))
                except Exception:
                    log.exception("demo run failed to start")
                await asyncio.sleep(self.demo_interval_seconds / self.speed)

    # ------------------------------------------------------------------ middleware

    @web.middleware
    async def _middleware(self, request: web.Request, handler):
        path = request.path
        if path == "/v1" or path.startswith("/v1/"):
            resource = request.match_info.route.resource
            canonical = resource.canonical if resource is not None else "(unmatched)"
            self._stats[f"{request.method} {canonical}"] += 1
            if time.monotonic() < self._stall_until:
                if self._stall_status is not None:
                    return _error(self._stall_status,
                                  "unavailable" if self._stall_status == 503 else "stalled",
                                  "platform is stalled (simulated)")
                while (left := self._stall_until - time.monotonic()) > 0:
                    await asyncio.sleep(min(left, 0.05))
            auth = request.headers.get("Authorization", "")
            token = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
            if not token or not hmac.compare_digest(token.encode(), self.api_token.encode()):
                return _error(401, "unauthorized", "missing or invalid bearer token")
        try:
            return await handler(request)
        except ApiError as e:
            return e.response()
        except web.HTTPException as e:
            if path.startswith(("/v1", "/sim")) and e.status >= 400:
                code = {404: "not_found", 405: "method_not_allowed"}.get(e.status, "error")
                return _error(e.status, code, e.reason or "error")
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
            raise _bad_filter("limit", f"must be an integer from 1 to {maximum}")
        if not 1 <= n <= maximum:
            raise _bad_filter("limit", f"must be an integer from 1 to {maximum}")
        return n

    @staticmethod
    def _ts_param(query, name: str) -> datetime | None:
        raw = query.get(name)
        if raw is None or raw == "":
            return None
        try:
            return parse_ts(raw)
        except ValueError:
            raise _bad_filter(name, f"{raw!r} is not an RFC 3339 timestamp")

    async def _h_list_runs(self, request: web.Request) -> web.Response:
        q = request.rel_url.query
        statuses = set(_multi(q, "status"))
        bad = statuses - set(RUN_STATUSES)
        if bad:
            raise _bad_filter("status", f"unknown status {sorted(bad)[0]!r} (one of {', '.join(RUN_STATUSES)})")
        ids = _multi(q, "id")
        if len(ids) > 100:
            raise _bad_filter("id", f"at most 100 ids per request, got {len(ids)}")
        workflow = q.get("workflow") or None
        prefix = q.get("run_id") or None
        created_after = self._ts_param(q, "created_after")
        updated_after = self._ts_param(q, "updated_after")
        include = set(_multi(q, "include"))
        if include - {"steps"}:
            raise _bad_filter("include", "only include=steps is supported")
        limit = self._limit(q)
        cursor_key = None
        if q.get("cursor"):
            try:
                c = _unb64(q["cursor"])
                cursor_key = (parse_ts(c[0]), str(c[1]))
            except Exception:
                raise _bad_filter("cursor", "invalid cursor")

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
        nxt = _b64([fmt_ts(out[-1].created_at), out[-1].id]) if more and out else None
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
        statuses = set(_multi(q, "status"))
        bad = statuses - set(APPROVAL_STATUSES)
        if bad:
            raise _bad_filter("status", f"unknown approval status {sorted(bad)[0]!r}")
        run_id = q.get("run_id") or None
        limit = self._limit(q)
        start = len(self._approval_order)
        if q.get("cursor"):
            try:
                start = int(_unb64(q["cursor"])["before"])
            except Exception:
                raise _bad_filter("cursor", "invalid cursor")
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
        nxt = _b64({"before": out[-1].seq}) if more and out else None
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
            raise _bad_filter("severity", f"unknown severity {sev!r} (debug, info, warn, error)")
        min_sev = SEVERITIES[sev] if sev else 0
        types = set(_multi(q, "event_type"))
        bad = types - set(LOG_EVENT_TYPES)
        if bad:
            raise _bad_filter("event_type", f"unknown event type {sorted(bad)[0]!r}")
        run_id = q.get("run_id") or None
        since = self._ts_param(q, "since")
        limit = self._limit(q)
        before = None
        if q.get("cursor"):
            try:
                before = int(_unb64(q["cursor"])["before"])
            except Exception:
                raise _bad_filter("cursor", "invalid cursor")
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
        nxt = _b64({"before": out[-1][0]}) if more and out else None
        return web.json_response({"data": [e for _, e in out], "next_cursor": nxt})

    # ------------------------------------------------------------------ /sim handlers

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
        self._webhook_rules = {"mode": mode, "count": count, "types": list(types) if types else None,
                               "delay_seconds": float(body.get("delay_seconds", 1.0))}
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
        return web.json_response({"webhook_url": self.webhook_url, "webhook_secret_set": bool(self.webhook_secret),
                                  "speed": self.speed, "approval_ttl_seconds": self.approval_ttl_seconds})

    async def _sim_stats(self, request: web.Request) -> web.Response:
        return web.json_response({"requests": dict(self._stats), "total": sum(self._stats.values()),
                                  "runs": len(self._runs), "approvals": len(self._approvals),
                                  "webhooks_sent": len(self._webhook_log)})

    async def _sim_stats_reset(self, request: web.Request) -> web.Response:
        self._stats.clear()
        return web.json_response({"ok": True})

    # ------------------------------------------------------------------ HTML pages

    def run_url(self, run_id: str, step_id: str | None = None) -> str:
        url = f"{self.base_url}/{self.workspace}/monitoring/workflow-runs/{run_id}"
        return url + (f"#step-{step_id}" if step_id else "")

    async def _page_index(self, request: web.Request) -> web.Response:
        rows = []
        for key in reversed(self._keys[-200:]):
            r = self._runs[key[1]]
            href = f"/{html.escape(self.workspace)}/monitoring/workflow-runs/{html.escape(r.id)}"
            rows.append(f"<tr><td><a href=\"{href}\">{html.escape(r.id)}</a></td><td>{html.escape(r.workflow['name'])}</td>"
                        f"<td class=\"s-{r.status}\">{r.status}</td><td>{fmt_ts(r.started_at) or ''}</td>"
                        f"<td>{fmt_ts(r.completed_at) or ''}</td></tr>")
        pending = sum(1 for a in self._approvals.values() if a.status == "pending")
        body = (f"<h1>Monitoring · Runs</h1><p>{len(self._runs)} runs · {pending} pending approvals · "
                f"API at <code>/v1</code></p><table><tr><th>Run ID</th><th>Workflow</th><th>Status</th>"
                f"<th>Started</th><th>Completed</th></tr>{''.join(rows)}</table>")
        return web.Response(text=_page("Runs", body), content_type="text/html")

    async def _page_run(self, request: web.Request) -> web.Response:
        if request.match_info["workspace"] != self.workspace:
            raise web.HTTPNotFound(text="unknown workspace")
        run = self._runs.get(request.match_info["run_id"])
        if run is None:
            raise web.HTTPNotFound(text="run not found")
        d = run.to_json()
        esc = html.escape
        total, done = d["progress"]["total_steps"], d["progress"]["completed_steps"]
        pct = int(100 * done / total) if total else 0
        actor = d["trigger"].get("actor") or {}
        jump = (f"<p><a class=\"jump\" href=\"#step-{esc(run.failed_step_id)}\">Jump to failed step</a></p>"
                if run.failed_step_id else "")
        steps_html = []
        for s in d["steps"]:
            err = s["error"]
            open_ = " open" if s["id"] == run.failed_step_id else ""
            inner = f"<p>Started {s['started_at'] or '-'} · completed {s['completed_at'] or '-'}</p>"
            if err:
                inner += ("<dl class=\"error\">"
                          f"<dt>Error code</dt><dd class=\"code\">{esc(err['code'])}</dd>"
                          f"<dt>Message</dt><dd>{esc(err['message'])}</dd>"
                          f"<dt>Provider</dt><dd>{esc(str(err['provider'] or '-'))}</dd>"
                          f"<dt>Provider status</dt><dd class=\"provider-status\">{err['provider_status'] if err['provider_status'] is not None else '-'}</dd>"
                          f"<dt>Retryable</dt><dd class=\"retryable\">{'yes' if err['retryable'] else 'no'}</dd></dl>")
            steps_html.append(
                f"<details class=\"step s-{s['status']}\" id=\"step-{esc(s['id'])}\"{open_}>"
                f"<summary>Step {s['index'] + 1} of {total}: {esc(s['name'])} <small>({esc(s['type'])})</small> "
                f"<span class=\"status\">{s['status']}</span></summary>{inner}</details>")
        refresh = "<meta http-equiv=\"refresh\" content=\"10\">" if run.status in ("pending", "running") else ""
        body = (
            f"<p><a href=\"/\">← Runs</a></p><h1>{esc(run.workflow['name'])} · <code>{esc(run.id)}</code></h1>"
            f"<dl class=\"overview\"><dt>Status</dt><dd class=\"s-{run.status}\" id=\"run-status\">{run.status}</dd>"
            f"<dt>Workflow</dt><dd>{esc(run.workflow['id'])}</dd>"
            f"<dt>Created</dt><dd>{d['created_at']}</dd><dt>Started</dt><dd>{d['started_at'] or '-'}</dd>"
            f"<dt>Completed</dt><dd>{d['completed_at'] or '-'}</dd>"
            f"<dt>Duration</dt><dd>{'-' if d['duration_ms'] is None else str(d['duration_ms']) + ' ms'}</dd>"
            f"<dt>Model</dt><dd>{esc(run.model or '-')}</dd><dt>Prompt</dt><dd>{esc(run.prompt or '-')}</dd>"
            f"<dt>Trigger</dt><dd>{esc(d['trigger']['type'])}{(' by ' + esc(actor.get('name', ''))) if actor else ''}</dd>"
            f"<dt>Replay of</dt><dd>{esc(run.replay_of or '-')}</dd></dl>"
            f"<div class=\"progress\"><div class=\"bar\" style=\"width:{pct}%\"></div></div>"
            f"<p>{done} of {total} steps completed</p>{jump}"
            f"<h2>Trigger payload</h2><pre id=\"trigger-payload\">{esc(json.dumps(d['trigger']['payload'], indent=2))}</pre>"
            f"<h2>Execution steps</h2>{''.join(steps_html)}")
        return web.Response(text=_page(f"Run {run.id}", body, head=refresh), content_type="text/html")


def _page(title: str, body: str, head: str = "") -> str:
    return (
        "<!doctype html><html><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title>{head}<style>"
        "body{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem}"
        "table{border-collapse:collapse}td,th{padding:.25rem .75rem;border-bottom:1px solid #ddd;text-align:left}"
        ".progress{background:#eee;height:.75rem;border-radius:.4rem;width:100%}"
        ".bar{background:#3b82f6;height:100%;border-radius:.4rem}"
        "details.step{border:1px solid #ddd;border-radius:.4rem;margin:.4rem 0;padding:.4rem .8rem}"
        ".s-failed{color:#b91c1c}.s-completed{color:#15803d}.s-waiting,.s-paused{color:#b45309}"
        "dl{display:grid;grid-template-columns:10rem 1fr}dt{font-weight:600}"
        "</style></head><body>" + body + "</body></html>"
    )


# ----------------------------------------------------------------------------- CLI

def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="runbot platform", description="Run the reference workflow platform (in-memory).")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8700)
    p.add_argument("--webhook-url", default=os.environ.get("PLATFORM_WEBHOOK_URL"))
    p.add_argument("--webhook-secret", default=os.environ.get("PLATFORM_WEBHOOK_SECRET"))
    p.add_argument("--api-token", default=os.environ.get("PLATFORM_API_TOKEN", "dev-token"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--speed", type=float, default=1.0)
    p.add_argument("--workspace", default="default")
    p.add_argument("--approval-ttl", type=float, default=3600.0, help="approval TTL in seconds (absolute)")
    p.add_argument("--demo", action="store_true", help="start sample runs continuously")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def _run() -> None:
        plat = ReferencePlatform(api_token=args.api_token, webhook_url=args.webhook_url,
                                 webhook_secret=args.webhook_secret, seed=args.seed, speed=args.speed,
                                 workspace=args.workspace, demo=args.demo, approval_ttl_seconds=args.approval_ttl)
        url = await plat.start(args.host, args.port)
        print(f"Reference platform: API {url}/v1 (Bearer token set), UI {url}/, "
              f"webhooks -> {args.webhook_url or '(none)'}{' [demo]' if args.demo else ''}", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await plat.stop()

    try:
        asyncio.run(_run())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
