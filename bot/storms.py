"""Storms: past STORM_THRESHOLD failures of one workflow with one error code within STORM_WINDOW_SECONDS
(a sliding window, per channel), a channel gets one grouped card, updated in place, with every run of
the burst listed in its thread, instead of a wall of alerts. The card says when the workflow recovers."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox
from bot.render.alerts import STORM_NEWEST, storm_entry, storm_message, storm_note, storm_recovered_reply, storm_runs_reply
from bot.runs import first_failed_step
from bot.services import Services
from bot.views import view_of_run, view_of_storm
from store.models import KeyValue, OutboxItem, Run, SlackMessage, StormCounter, utcnow

log = logging.getLogger(__name__)

OPEN_STORMS = "storms.open"  # KeyValue: {"storms": {message id: workflow id}} of storms not yet recovered
RUNS_PER_REPLY = 25


async def fresh(session: AsyncSession, message: SlackMessage) -> None:
    """Reload a message's state, locked until the transaction ends (FOR UPDATE on PostgreSQL; SQLite has one
    writer), so two events touching the same message in two transactions never lose one's change."""
    await session.flush()
    await session.refresh(message, with_for_update=True)


def _key(channel: str, workflow_id: str, code: str):
    return (StormCounter.channel == channel, StormCounter.workflow_id == workflow_id, StormCounter.error_code == code)


def _failed_at(run: Run) -> str:
    at = run.completed_at or run.updated_at
    return at.isoformat() if at else ""


def _newest(recent: list, runs: list[Run]) -> list:
    """The storm's newest failures by when they failed (not by when their events were processed: webhooks and
    tracking polls may bring them in any order), as [failed at, run id] pairs, oldest first."""
    pairs = {tuple(p) for p in recent} | {(_failed_at(r), r.id) for r in runs}
    return [list(p) for p in sorted(pairs)[-STORM_NEWEST:]]


def _run_entry(run: Run) -> dict:
    return storm_entry(view_of_run(run))


async def absorb(session: AsyncSession, svc: Services, run: Run, channel: str) -> bool:
    """Count this failure; True when it belongs to a storm (grouped, no alert of its own in this channel)."""
    now = utcnow()
    code = run.error_code or "unknown"
    window = timedelta(seconds=svc.settings.STORM_WINDOW_SECONDS)
    if svc.is_postgres:
        # A webhook and a tracking poll may count failures of one kind in two transactions at once: without this
        # lock each sees the threshold passed and starts a storm of its own. SQLite has one writer already.
        key = int.from_bytes(hashlib.sha256(f"storm|{channel}|{run.workflow_id}|{code}".encode()).digest()[:8],
                             "big", signed=True)
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    await session.execute(delete(StormCounter).where(*_key(channel, run.workflow_id, code), StormCounter.at < now - window))
    session.add(StormCounter(channel=channel, workflow_id=run.workflow_id, error_code=code, run_id=run.id, at=now))
    await session.flush()
    storm = await _active_storm(session, channel, run.workflow_id, code, now - window)
    if storm is not None:
        await _add_to_storm(session, svc, storm, run, now)
        return True
    recent = (await session.execute(
        select(StormCounter.run_id, StormCounter.at).where(*_key(channel, run.workflow_id, code),
                                                           StormCounter.at >= now - window)
        .order_by(StormCounter.at, StormCounter.id))).all()
    if len(recent) <= svc.settings.STORM_THRESHOLD:
        return False
    await _start_storm(session, svc, run, channel, code, [r.run_id for r in recent], recent[0].at, now)
    return True


async def _active_storm(session: AsyncSession, channel: str, workflow_id: str, code: str,
                        since: datetime) -> SlackMessage | None:
    """The channel's storm of this kind that had a failure within the window and has not recovered."""
    prefix = f"{workflow_id}|{code}|"
    rows = (await session.scalars(select(SlackMessage).where(
        SlackMessage.kind == "storm", SlackMessage.channel == channel,
        SlackMessage.subject.startswith(prefix, autoescape=True)).order_by(SlackMessage.id.desc()).limit(1))).all()
    for storm in rows:
        await fresh(session, storm)  # its newest count, locked until this transaction ends
        state = storm.state or {}
        if not state.get("recovered") and datetime.fromisoformat(state["last_at"]) >= since:
            return storm
    return None


async def _start_storm(session: AsyncSession, svc: Services, run: Run, channel: str, code: str,
                       run_ids: list[str], first_at: datetime, now: datetime) -> None:
    error = ((first_failed_step(run.data or {}) or {}).get("error") or {})
    state = {"workflow_id": run.workflow_id, "workflow_name": run.workflow_name, "error_code": code,
             "retryable": error.get("retryable"), "count": len(run_ids), "first_at": first_at.isoformat(),
             "last_at": now.isoformat(), "recovered": None, "batch": None}
    runs = {r.id: r for r in (await session.scalars(select(Run).where(Run.id.in_(run_ids)))).all()}
    recent = _newest([], list(runs.values()))
    state.update(recent=recent, newest=[rid for _, rid in recent])
    storm = await outbox.post(session, channel=channel, kind="storm",
                              subject=f"{run.workflow_id}|{code}|{int(now.timestamp() * 1000)}"[:256],
                              payload=storm_message(view_of_storm(state), run_url_of=svc.settings.run_url), state=state)
    entries = [_run_entry(runs[rid]) if rid in runs else {"run_id": rid} for rid in run_ids]
    note = storm_note(count=len(run_ids), workflow_name=run.workflow_name, code=code, window_seconds=svc.settings.STORM_WINDOW_SECONDS)
    for i in range(0, len(entries), RUNS_PER_REPLY):
        chunk = entries[i:i + RUNS_PER_REPLY]
        item = await outbox.thread_reply(session, storm, storm_runs_reply(
            chunk, run_url_of=svc.settings.run_url, note=note if i == 0 else None))
        await session.flush()
        state = {**state, "batch": {"outbox_id": item.id, "runs": chunk, "note": note if i == 0 else None}}
    storm.state = state
    open_storms = await session.get(KeyValue, OPEN_STORMS)
    listed = dict((open_storms.value if open_storms else {}).get("storms") or {})
    listed[str(storm.id)] = run.workflow_id
    if open_storms is None:
        session.add(KeyValue(key=OPEN_STORMS, value={"storms": listed}))
    else:
        open_storms.value = {"storms": listed}
    svc.metrics.alerts.labels("storm").inc()
    log.info("storm of %s/%s in %s: %d failures within the window; grouping", run.workflow_id, code, channel,
             len(run_ids))


async def _add_to_storm(session: AsyncSession, svc: Services, storm: SlackMessage, run: Run, now: datetime) -> None:
    state = dict(storm.state)
    state["count"] = int(state.get("count") or 0) + 1
    state["last_at"] = now.isoformat()
    known = state.get("recent") or [["", rid] for rid in state.get("newest") or []]  # cards from before "recent"
    state["recent"] = _newest(known, [run])
    state["newest"] = [rid for _, rid in state["recent"]]
    entry = _run_entry(run)
    batch = state.get("batch") or {}
    runs = list(batch.get("runs") or [])
    # Append to the thread reply not yet sent, so a storm adds a few replies, not one per failure.
    if batch.get("outbox_id") and len(runs) < RUNS_PER_REPLY and await _rewrite_pending(
            session, batch["outbox_id"],
            storm_runs_reply(runs + [entry], run_url_of=svc.settings.run_url, note=batch.get("note"))):
        state["batch"] = {**batch, "runs": runs + [entry]}
    else:
        item = await outbox.thread_reply(session, storm, storm_runs_reply([entry], run_url_of=svc.settings.run_url))
        # Held back for one edit interval, so the failures arriving meanwhile join this reply.
        item.next_attempt_at = utcnow() + timedelta(seconds=svc.settings.MESSAGE_EDIT_INTERVAL_SECONDS)
        await session.flush()
        state["batch"] = {"outbox_id": item.id, "runs": [entry], "note": None}
    storm.state = state
    await outbox.update_message(session, storm, storm_message(view_of_storm(state), run_url_of=svc.settings.run_url))
    svc.metrics.alerts.labels("storm_run").inc()


async def _rewrite_pending(session: AsyncSession, outbox_id: int, payload: dict) -> bool:
    """Replace a queued thread reply's text if the deliverer has not started sending it (it reads the
    payload when it marks the row in flight, so a row still not in flight is safe to rewrite)."""
    result = await session.execute(update(OutboxItem).where(
        OutboxItem.id == outbox_id, OutboxItem.status == "pending", OutboxItem.in_flight.is_(False),
        OutboxItem.attempts == 0).values(payload=payload).execution_options(synchronize_session=False))
    return result.rowcount == 1


async def on_success(session: AsyncSession, svc: Services, run: Run) -> None:
    """The workflow's next run succeeded: its open storm cards say it recovered, and counting starts over."""
    open_storms = await session.get(KeyValue, OPEN_STORMS)
    listed = dict((open_storms.value if open_storms else {}).get("storms") or {})
    mine = [int(mid) for mid, wf in listed.items() if wf == run.workflow_id]
    if not mine:
        return
    at = (run.completed_at or utcnow()).isoformat()
    for storm in (await session.scalars(select(SlackMessage).where(SlackMessage.id.in_(mine)))).all():
        await fresh(session, storm)
        if storm.state.get("recovered"):
            continue
        state = {**storm.state, "recovered": {"run_id": run.id, "at": at}}
        storm.state = state
        await outbox.update_message(session, storm, storm_message(view_of_storm(state), run_url_of=svc.settings.run_url))
        await outbox.thread_reply(session, storm, storm_recovered_reply(run.id, svc.settings.run_url(run.id)))
    for mid in mine:
        listed.pop(str(mid), None)
    open_storms.value = {"storms": listed}
    await session.execute(delete(StormCounter).where(StormCounter.workflow_id == run.workflow_id))
    log.info("workflow %s recovered with %s: %d storm card(s) updated", run.workflow_id, run.id, len(mine))

