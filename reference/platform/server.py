"""The reference platform's server: its state, routes, lifecycle and clock (see the package docstring)."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import random
import time
import zlib
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
from aiohttp import web

from reference.platform.actions import RunActions
from reference.platform.api import PublicApi
from reference.platform.control import SimControl
from reference.platform.model import BASE62, ONE_MS, Approval, Run, Step, fmt_ts, now_ms
from reference.platform.pages import Pages
from reference.platform.runs import RunStateMachine
from reference.platform.samples import (
    DEMO_CALM,
    DEMO_CALM_EVERY,
    DEMO_STORY,
    ERROR_CATALOG,
    SANDBOX_USER,
    provider_for_model,
)
from reference.platform.webhooks import WebhookSender

log = logging.getLogger("runbot.reference.platform")


class ReferencePlatform(RunStateMachine, RunActions, WebhookSender, PublicApi, SimControl, Pages):
    """The whole contract over HTTP, in memory; each part lives in the module of its mixin."""

    def __init__(
        self,
        *,
        api_token: str,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        seed: int = 0,
        speed: float = 1.0,
        workspace: str = "default",
        demo: bool = False,
        approval_ttl_seconds: float = 3600.0,
        step_seconds: float = 2.0,
        demo_interval_seconds: float = 8.0,
    ) -> None:
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
        self._keys: list[tuple[datetime, str]] = []  # sorted ascending (created_at, id)
        self._approvals: dict[str, Approval] = {}
        self._approval_order: list[str] = []  # creation order
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
        self._tasks = [
            asyncio.create_task(self._scheduler_loop(), name="platform-scheduler"),
            asyncio.create_task(self._deliver_loop(), name="platform-webhooks"),
        ]
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
        t = now_ms()
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

    def _log(
        self,
        severity: str,
        event_type: str,
        run: Run | None,
        step: Step | None,
        message: str,
        ts: datetime | None = None,
    ) -> None:
        idx = len(self._logs)
        ts = ts or now_ms()
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

    def _error_for(self, run: Run, step: Step, code: str) -> dict[str, Any]:
        message, pstatus, retryable, from_provider = ERROR_CATALOG.get(
            code, (f"Step failed with {code}", None, False, False)
        )
        provider = None
        if from_provider:
            provider = provider_for_model(run.model) if step.type == "llm" else (step.provider or "http")
        return {
            "code": code,
            "message": message,
            "provider": provider,
            "provider_status": pstatus,
            "retryable": retryable,
        }

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

    async def _demo_loop(self) -> None:
        """The sample story (samples.DEMO_STORY), then calm rounds (samples.DEMO_CALM)."""
        interval = self.demo_interval_seconds / self.speed
        await asyncio.sleep(0.5 / self.speed)
        created: list[str | None] = []
        elapsed = 0.0
        for at, what in DEMO_STORY:
            await asyncio.sleep(max(0.0, at * interval - elapsed))
            elapsed = max(elapsed, at * interval)
            if "replay" in what:  # a replay waits for the run it replays to end (a few steps at most)
                run = self._runs.get(created[what["replay"]] or "")
                for _ in range(100):
                    if run is None or run.status in ("completed", "failed", "cancelled"):
                        break
                    await asyncio.sleep(interval / 4)
            created.append(self._demo_step(what, created))
        while True:
            order = list(DEMO_CALM)
            self._rng.shuffle(order)
            for scenario in order:
                await asyncio.sleep(DEMO_CALM_EVERY * interval)
                self._demo_step(scenario, created)

    def _demo_step(self, what: dict, created: list[str | None]) -> str | None:
        try:
            if "replay" in what:
                old = created[what["replay"]]
                return self.replay(old, SANDBOX_USER["name"]).id if old else None
            return self.create_run(**what, actor=dict(SANDBOX_USER)).id
        except Exception:
            log.exception("demo step %s failed", what)
            return None
