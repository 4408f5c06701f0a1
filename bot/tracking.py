"""Tracking: what webhooks missed, found by polling. One cycle fetches the store's active runs in
batches of 100 through the list endpoint (requests grow with batches, not runs), the runs updated since
the last cycle, and the pending approvals, and acts on every change as if its webhook had come."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot import events
from bot.contract import RunModel, approval_of, as_json, rfc3339, run_of
from bot.runs import active_run_ids
from bot.services import Services
from store import kv
from store.models import Approval, KeyValue, utcnow
from store.runs import updated_at_of

log = logging.getLogger(__name__)

BATCH = 500  # polled runs compared with the store per query
MERGE_BATCH = 100  # changed runs merged per transaction
# The platform's clock and ours may differ a little: ask for a little more than since the last cycle.
UPDATED_AFTER_MARGIN = timedelta(seconds=5)


@dataclass
class TrackerState:
    failures: int = 0
    next_allowed: float = 0.0
    last_success: float | None = None
    last_error: str | None = None
    last_summary: dict = field(default_factory=dict)
    cycles: int = 0


def _updated_at(raw: object) -> datetime | None:
    """A polled run's `updated_at`, read without validating the whole run (None when it is not an aware
    timestamp: the run is then validated, which names what is wrong)."""
    value = raw.get("updated_at") if isinstance(raw, dict) else None
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _id_of(raw: object) -> str | None:
    run_id = raw.get("id") if isinstance(raw, dict) else None
    return run_id if isinstance(run_id, str) else None


async def _apply_runs(svc: Services, runs: list[dict]) -> int:
    """Merge polled runs; a batch's stored `updated_at` values are read in one query and compared with the
    polled ones before any run is validated, so the runs that did not change (most of them, most of the
    time) cost a dictionary lookup."""
    changed = 0
    for start in range(0, len(runs), BATCH):
        batch = runs[start : start + BATCH]
        async with svc.sessions() as session:
            stored = await updated_at_of(session, [i for i in map(_id_of, batch) if i])
        newer: list[RunModel] = []
        for raw in batch:
            at, known = _updated_at(raw), stored.get(_id_of(raw) or "")
            if at is not None and known is not None and at <= known:
                continue
            run = run_of(raw)
            if run.id not in stored or run.updated_at > stored[run.id]:
                newer.append(run)
        for first in range(0, len(newer), MERGE_BATCH):  # short write transactions: webhooks wait for them
            async with svc.sessions.begin() as session:
                for run in newer[first : first + MERGE_BATCH]:
                    change = await events.on_run(session, svc, run, source="poll")
                    changed += change.changed
    return changed


async def track_cycle(svc: Services, state: TrackerState | None = None) -> dict:
    cycle_started = utcnow()
    async with svc.sessions() as session:
        ids = await active_run_ids(session)
        mark = await session.get(KeyValue, "tracker.last_cycle")
        last_cycle = datetime.fromisoformat(mark.value["at"]) if mark else None

    polled = await svc.platform.runs_by_id(ids, include_steps=True) if ids else []
    changed = await _apply_runs(svc, polled)

    recent: list[dict] = []
    if last_cycle is not None:
        seen = {_id_of(r) for r in polled}
        async for run in svc.platform.iter_runs(
            updated_after=rfc3339(last_cycle - UPDATED_AFTER_MARGIN), include_steps=True, limit=200
        ):
            if _id_of(run) not in seen:
                recent.append(run)
        changed += await _apply_runs(svc, recent)

    tasks = [approval_of(t) for t in await svc.platform.all_approvals(status="pending")]
    for task in tasks:
        async with svc.sessions.begin() as session:
            known = await session.get(Approval, task.id)
            if known is not None and known.status == task.status and known.data == as_json(task):
                continue
            await events.on_found_approval(session, svc, task, source="poll")
            changed += 1

    async with svc.sessions.begin() as session:
        await kv.put(session, "tracker.last_cycle", {"at": cycle_started.isoformat()})
    summary = {
        "tracked": len(ids),
        "polled": len(polled),
        "recent": len(recent),
        "approvals": len(tasks),
        "changed": changed,
    }
    log.debug("tracking cycle: %s", summary)
    return summary
