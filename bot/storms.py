"""Storms: past STORM_THRESHOLD failures of one workflow with one error code within STORM_WINDOW_SECONDS
(a sliding window, per channel), a channel gets one grouped card, updated in place, with every run of
the burst listed in its thread, instead of a wall of alerts. The card says when the workflow recovers."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot import held_edits, outbox
from bot.contract import first_failed_step
from bot.render.storms import (
    STORM_NEWEST,
    storm_entry,
    storm_note,
    storm_recovered_reply,
    storm_runs_reply,
)
from bot.services import Services
from bot.storm_lifecycle import storm_card
from bot.views import view_of_run
from store import messages
from store import storms as counts
from store.messages import fresh
from store.models import KeyValue, Run, SlackMessage, utcnow
from store.outbox import replace_queued_payload
from store.runs import runs_by_id

log = logging.getLogger(__name__)

OPEN_STORMS = "storms.open"  # KeyValue: {"storms": {message id: workflow id}} of storms not yet recovered
RUNS_PER_REPLY = 25


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
    # A webhook and a tracking poll may count failures of one kind in two transactions at once: without this
    # lock each sees the threshold passed and starts a storm of its own.
    await counts.lock_kind(session, channel, run.workflow_id, code)
    await counts.count_failure(session, channel, run.workflow_id, code, run.id, at=now, window_start=now - window)
    storm = await _active_storm(session, channel, run.workflow_id, code, now - window)
    if storm is not None:
        await _add_to_storm(session, svc, storm, run, now)
        return True
    recent = await counts.failures_since(session, channel, run.workflow_id, code, now - window)
    if len(recent) <= svc.settings.STORM_THRESHOLD:
        return False
    await _start_storm(session, svc, run, channel, code, [run_id for run_id, _ in recent], recent[0][1], now)
    return True


async def _active_storm(
    session: AsyncSession, channel: str, workflow_id: str, code: str, since: datetime
) -> SlackMessage | None:
    """The channel's storm of this kind that had a failure within the window and has not recovered."""
    storm = await messages.newest_with_prefix(session, "storm", channel, f"{workflow_id}|{code}|")
    if storm is None:
        return None
    await fresh(session, storm)  # its newest count, locked until this transaction ends
    state = storm.state or {}
    if not state.get("recovered") and datetime.fromisoformat(state["last_at"]) >= since:
        return storm
    return None


async def _start_storm(
    session: AsyncSession,
    svc: Services,
    run: Run,
    channel: str,
    code: str,
    run_ids: list[str],
    first_at: datetime,
    now: datetime,
) -> None:
    error = (first_failed_step(run.data or {}) or {}).get("error") or {}
    state = {
        "workflow_id": run.workflow_id,
        "workflow_name": run.workflow_name,
        "error_code": code,
        "retryable": error.get("retryable"),
        "count": len(run_ids),
        "first_at": first_at.isoformat(),
        "last_at": now.isoformat(),
        "recovered": None,
        "batch": None,
    }
    runs = {r.id: r for r in await runs_by_id(session, run_ids)}
    recent = _newest([], list(runs.values()))
    state.update(recent=recent, newest=[rid for _, rid in recent])
    storm = await outbox.post(
        session,
        channel=channel,
        kind="storm",
        subject=f"{run.workflow_id}|{code}|{int(now.timestamp() * 1000)}"[:256],
        payload=storm_card(svc, state),
        state=state,
    )
    entries = [_run_entry(runs[rid]) if rid in runs else {"run_id": rid} for rid in run_ids]
    note = storm_note(
        count=len(run_ids), workflow_name=run.workflow_name, code=code, window_seconds=svc.settings.STORM_WINDOW_SECONDS
    )
    for i in range(0, len(entries), RUNS_PER_REPLY):
        chunk = entries[i : i + RUNS_PER_REPLY]
        item = await outbox.thread_reply(
            session, storm, storm_runs_reply(chunk, run_url_of=svc.settings.run_url, note=note if i == 0 else None)
        )
        await session.flush()
        state = {**state, "batch": {"outbox_id": item.id, "runs": chunk, "note": note if i == 0 else None}}
    # The card's lifecycle buttons name its row: the queued post is rewritten with them (one Slack call).
    state = {**state, "message_id": storm.id}
    storm.state = state
    await outbox.update_message(session, storm, storm_card(svc, state))
    open_storms = await session.get(KeyValue, OPEN_STORMS)
    listed = dict((open_storms.value if open_storms else {}).get("storms") or {})
    listed[str(storm.id)] = run.workflow_id
    if open_storms is None:
        session.add(KeyValue(key=OPEN_STORMS, value={"storms": listed}))
    else:
        open_storms.value = {"storms": listed}
    svc.metrics.alerts.labels("storm").inc()
    log.info(
        "storm of %s/%s in %s: %d failures within the window; grouping", run.workflow_id, code, channel, len(run_ids)
    )


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
    # The deliverer reads a reply's payload when it marks the row in flight, so a row not in flight (and never
    # tried) is safe to rewrite.
    if (
        batch.get("outbox_id")
        and len(runs) < RUNS_PER_REPLY
        and await replace_queued_payload(
            session,
            batch["outbox_id"],
            storm_runs_reply(runs + [entry], run_url_of=svc.settings.run_url, note=batch.get("note")),
            untried=True,
        )
    ):
        state["batch"] = {**batch, "runs": runs + [entry]}
    else:
        item = await outbox.thread_reply(session, storm, storm_runs_reply([entry], run_url_of=svc.settings.run_url))
        # Held back for one edit interval, so the failures arriving meanwhile join this reply.
        item.next_attempt_at = utcnow() + timedelta(seconds=svc.settings.MESSAGE_EDIT_INTERVAL_SECONDS)
        await session.flush()
        state["batch"] = {"outbox_id": item.id, "runs": [entry], "note": None}
    storm.state = state
    await held_edits.update_later(session, storm, lambda: storm_card(svc, state))
    svc.metrics.alerts.labels("storm_run").inc()


async def on_success(session: AsyncSession, svc: Services, run: Run) -> None:
    """The workflow's next run succeeded: its open storm cards say it recovered, and counting starts over."""
    open_storms = await session.get(KeyValue, OPEN_STORMS)
    listed = dict((open_storms.value if open_storms else {}).get("storms") or {})
    mine = [int(mid) for mid, wf in listed.items() if wf == run.workflow_id]
    if not mine:
        return
    at = (run.completed_at or utcnow()).isoformat()
    for storm in await messages.messages_by_id(session, mine):
        await fresh(session, storm)
        if storm.state.get("recovered"):
            continue
        state = {**storm.state, "recovered": {"run_id": run.id, "at": at}}
        storm.state = state
        await outbox.update_message(session, storm, storm_card(svc, state))
        await outbox.thread_reply(session, storm, storm_recovered_reply(run.id, svc.settings.run_url(run.id)))
    for mid in mine:
        listed.pop(str(mid), None)
    open_storms.value = {"storms": listed}
    await counts.forget_failures(session, run.workflow_id)
    log.info("workflow %s recovered with %s: %d storm card(s) updated", run.workflow_id, run.id, len(mine))
