"""`runbot sync` (and the first start, in the background): fill the store from the platform's API,
paginating back RETENTION_DAYS. Pending approval tasks found are posted; past failures are never alerted."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy.exc import IntegrityError

from bot import events
from bot.contract import TERMINAL, RunModel, approval_of, rfc3339, run_of
from bot.platform import PlatformError, PlatformUnreachable
from bot.runs import merge_run
from bot.services import Services
from store import kv
from store.models import KeyValue, utcnow

log = logging.getLogger(__name__)


async def sync(svc: Services, *, started=None) -> dict:
    """`started`: runs created from then on come by webhook and are left to it."""
    since = utcnow() - timedelta(days=svc.settings.RETENTION_DAYS)
    count = 0
    batch: list[RunModel] = []

    started = started or utcnow()

    async def flush() -> None:
        for attempt in range(3):
            try:
                async with svc.sessions.begin() as session:
                    for run in batch:
                        if run.created_at >= started:
                            continue  # born while we sync: its webhooks bring it, and two writers would collide
                        if _ended_before(run, started):
                            change = await merge_run(session, run, known_workflows=svc.known_workflows)
                            if change.changed and change.run.status == "failed" and change.is_new:
                                change.run.alerted = True  # a past failure: findable with /runs failed, never alerted
                        else:
                            # Still going, or ended while we sync: as if its webhook had come, so its
                            # webhook (same updated_at, then a no-op) cannot be swallowed by the sync.
                            await events.on_run(session, svc, run, source="poll")
                break
            except IntegrityError:
                # A webhook stored one of these runs between our read and our insert: merge again.
                if attempt == 2:
                    raise
        batch.clear()

    async for run in svc.platform.iter_runs(created_after=rfc3339(since), include_steps=True, limit=200):
        batch.append(run_of(run))
        count += 1
        if len(batch) >= 200:
            await flush()
    if batch:
        await flush()
    tasks = [approval_of(t) for t in await svc.platform.all_approvals(status="pending")]
    for task in tasks:
        async with svc.sessions.begin() as session:
            await events.on_found_approval(session, svc, task, source="sync")
    async with svc.sessions.begin() as session:
        # Upserted: a `runbot sync` and the first sync may end together.
        await kv.put(session, "sync.done", {"at": utcnow().isoformat(), "runs": count})
    log.info("sync: %d runs and %d pending approvals from the platform", count, len(tasks))
    return {"runs": count, "approvals": len(tasks)}


def _ended_before(run: RunModel, moment) -> bool:
    if run.status not in TERMINAL:
        return False
    return (run.completed_at or run.updated_at) < moment


def start_first_sync(svc: Services) -> asyncio.Task:
    """At app start: the first sync in the background, leaving runs born from now on to their webhooks."""
    return svc.spawn(first_sync(svc, started=utcnow()), name="first-sync", cancel_on_stop=True)


async def first_sync(svc: Services, *, retry_seconds: float = 5.0, started=None) -> None:
    """At the first start: sync in the background, retried while the platform is unreachable."""
    async with svc.sessions() as session:
        if await session.get(KeyValue, "sync.done") is not None:
            return
    delay = retry_seconds
    while True:
        try:
            await sync(svc, started=started)
            return
        except (PlatformUnreachable, PlatformError) as exc:
            if isinstance(exc, PlatformError) and exc.status < 500:
                raise
            log.warning("first sync: %s; retrying in %.0fs", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, svc.settings.TRACK_BACKOFF_MAX_SECONDS)
