"""The internal scheduler (APScheduler 3.11): tracking active runs, approval reminders and expiry,
housekeeping and the daily digest.

Jobs never overlap themselves (`max_instances=1`, coalesced). With several replicas each tick first
takes the job's lease in the database (`LEASE_SECONDS` long, renewed by its holder, taken over when
the holder dies), so each job runs once per interval across all replicas.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from datetime import timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from bot import housekeeping, incidents, tail, tracking
from bot.approvals import reactions as approvals
from bot.platform import PlatformError, PlatformUnreachable
from bot.services import Services
from store.leases import release_leases, take_lease
from store.models import utcnow

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(self, svc: Services):
        self.svc = svc
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._scheduler = AsyncIOScheduler(
            timezone="UTC", job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
        )
        self.ticks: dict[str, int] = {}
        self.ran: dict[str, int] = {}
        self.tracker = tracking.TrackerState()
        self._running: set[asyncio.Task] = set()

    @property
    def running(self) -> bool:
        return self._scheduler.running

    def start(self) -> None:
        s = self.svc.settings
        interval = s.TRACK_INTERVAL_SECONDS
        self._add("track", self._track, interval)
        self._add("approvals", self._approvals, min(interval, 5.0))
        self._add("housekeeping", self._housekeeping, s.HOUSEKEEPING_INTERVAL_SECONDS)
        self._add("tail", self._tail, s.TAIL_INTERVAL_SECONDS)
        self._add("incidents", self._incidents, s.INCIDENT_CHECK_INTERVAL_SECONDS)
        if s.DIGEST_HOUR is not None:
            self._scheduler.add_job(
                self._leased("digest", self._digest),
                CronTrigger(hour=s.DIGEST_HOUR, minute=0),
                id="digest",
                name="digest",
            )
        self._scheduler.start()
        log.info("scheduler started: tracking every %ss, lease %ss as %s", interval, s.LEASE_SECONDS, self.holder)

    def _add(self, name: str, func, seconds: float) -> None:
        self._scheduler.add_job(
            self._leased(name, func),
            "interval",
            seconds=seconds,
            id=name,
            name=name,
            next_run_time=utcnow() + timedelta(seconds=min(seconds, 1.0)),
        )

    async def shutdown(self, timeout: float = 10.0) -> None:
        """Stop scheduling, let the jobs under way finish (they hold database connections that must be
        closed before the engine is disposed), then release this replica's leases."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        running = [t for t in self._running if not t.done()]
        if running:
            done, pending = await asyncio.wait(running, timeout=timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=timeout)
        await self.release_all()

    def _leased(self, name: str, func):
        async def tick() -> None:
            task = asyncio.current_task()
            self._running.add(task)
            task.add_done_callback(self._running.discard)
            self.ticks[name] = self.ticks.get(name, 0) + 1
            try:
                if not await self.acquire(name):
                    return
            except Exception as exc:
                log.warning("job %s skipped: cannot reach the database for its lease (%s)", name, type(exc).__name__)
                self.svc.metrics.jobs.labels(name, "no_lease").inc()
                return
            self.ran[name] = self.ran.get(name, 0) + 1
            try:
                await func()
                self.svc.metrics.jobs.labels(name, "ok").inc()
            except Exception:
                self.svc.metrics.jobs.labels(name, "error").inc()
                log.exception("job %s failed", name)

        return tick

    async def acquire(self, name: str) -> bool:
        """Take or renew the job's lease; False when another live replica holds it."""
        now = utcnow()
        async with self.svc.sessions.begin() as session:
            return await take_lease(
                session, name, self.holder, now=now, until=now + timedelta(seconds=self.svc.settings.LEASE_SECONDS)
            )

    async def release_all(self) -> None:
        try:
            async with self.svc.sessions.begin() as session:
                await release_leases(session, self.holder)
        except Exception:
            log.warning("could not release the scheduler's leases; they expire after LEASE_SECONDS")

    # Jobs

    async def _track(self) -> None:
        state = self.tracker
        if time.monotonic() < state.next_allowed:
            return
        start = time.monotonic()
        try:
            summary = await tracking.track_cycle(self.svc, state)
        except (PlatformUnreachable, PlatformError) as exc:
            state.failures += 1
            delay = min(
                self.svc.settings.TRACK_BACKOFF_MAX_SECONDS,
                self.svc.settings.TRACK_INTERVAL_SECONDS * (2 ** min(state.failures, 16)),
            )
            state.next_allowed = time.monotonic() + delay
            state.last_error = str(exc)
            self.svc.metrics.tracker_errors.inc()
            log.warning("tracking cycle failed (%s); next try in %.1fs", exc, delay)
            return
        state.failures = 0
        state.next_allowed = 0.0
        state.last_error = None
        state.last_success = time.time()
        state.last_summary = summary
        state.cycles += 1
        self.svc.metrics.tracker_cycle.observe(time.monotonic() - start)
        self.svc.metrics.tracker_last_success.set(state.last_success)
        self.svc.metrics.tracker_runs.set(summary.get("tracked", 0))

    async def _approvals(self) -> None:
        await approvals.expire_and_remind(self.svc)

    async def _housekeeping(self) -> None:
        await housekeeping.prune(self.svc)

    async def _tail(self) -> None:
        await tail.tick(self.svc)

    async def _incidents(self) -> None:
        await incidents.check_quiet(self.svc)

    async def _digest(self) -> None:
        await housekeeping.daily_digest(self.svc)

    # Health

    def status(self) -> dict:
        return {
            "jobs": sorted(j.id for j in self._scheduler.get_jobs()) if self.running else [],
            "holder": self.holder,
            "ran": dict(self.ran),
            "ticks": dict(self.ticks),
        }

    def tracker_health(self) -> dict:
        state = self.tracker
        lag = None if state.last_success is None else round(time.time() - state.last_success, 3)
        if lag is not None:
            self.svc.metrics.tracker_lag.set(lag)
        stale = lag is None or lag > 3 * self.svc.settings.TRACK_INTERVAL_SECONDS
        return {
            "ok": state.failures == 0 and not (stale and state.cycles),
            "last_success": state.last_success,
            "lag_seconds": lag,
            "runs_tracked": (state.last_summary or {}).get("tracked", 0),
            "consecutive_errors": state.failures,
            "last_error": state.last_error,
            "cycles": state.cycles,
        }
