"""Failure alerts: one message per failed run in each channel that hears its workflow's failures, posted
through the outbox in the event's own transaction, updated in place when the run is replayed and when the
replay ends, with follow-ups in its thread. Bursts are grouped by `bot/storms.py`."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncSession

from bot import incidents, lifecycle, mutes, outbox, storms
from bot.alert_cards import lifecycle_of, owners, render
from bot.context import failure_context
from bot.contract import TERMINAL
from bot.render.alerts import (
    error_message_too_long,
    full_error_replies,
    replay_by_words,
    replay_ended_reply,
    replay_started_reply,
)
from bot.render.compare import with_compare_button
from bot.runs import RunChange
from bot.services import Services
from bot.views import view_of_run
from store import messages
from store.messages import fresh
from store.models import Run, SlackMessage
from store.queries import failure_channels
from store.runs import claim_alert

log = logging.getLogger(__name__)


async def on_run_change(session: AsyncSession, svc: Services, change: RunChange, *, source: str) -> None:
    """Called by `bot/events.py` for every stored change of a run, inside the event's transaction."""
    run = change.run
    if run.replay_of and change.is_new:
        await _replay_started(session, svc, run, change.actor)
    if run.replay_of and change.status_changed and run.status == "completed":
        await lifecycle.on_replay_completed(session, svc, run)
    if run.replay_of and change.status_changed and run.status in TERMINAL:
        await _replay_ended(session, svc, run)
    # `sync` marks past failures alerted itself: a bot that starts late does not alert last week.
    if run.status == "failed" and not run.alerted and source != "sync":
        await alert(session, svc, run)
    elif run.status == "completed" and change.status_changed:
        await storms.on_success(session, svc, run)
        await incidents.on_success(session, svc, run)


async def alert(session: AsyncSession, svc: Services, run: Run) -> list[SlackMessage]:
    """Alert a failed run once: the `alerted` flag, claimed in this transaction, and one message per channel."""
    # A webhook and a tracking poll may carry the same failure in two transactions at once: the conditional
    # UPDATE lets exactly one of them claim the alert (the other waits on the row, then sees it taken).
    if not await claim_alert(session, run.id):
        return []
    posted = []
    context = await failure_context(session, svc, run)
    incident = await incidents.on_failure(session, svc, run)
    for channel in await failure_channels(session, svc.settings, run.workflow_id):
        if await messages.message_of(session, "alert", run.id, channel) is not None:
            continue
        if await mutes.keep_quiet(session, run, channel):
            continue
        if await storms.absorb(session, svc, run, channel):
            continue
        muted = await mutes.untold_note(session, run, channel)
        notes = [n for n in (context, muted, incident) if n]
        state: dict = {"replays": [], "notes": notes}
        message = await outbox.post(
            session, channel=channel, payload=render(svc, run, state), kind="alert", subject=run.id, state=state
        )
        if error_message_too_long(view_of_run(run)):
            for reply in full_error_replies(view_of_run(run)):
                await outbox.thread_reply(session, message, reply)
        svc.deliverer.received_at[message.id] = asyncio.get_running_loop().time()
        svc.metrics.alerts.labels("alert").inc()
        posted.append(message)
    log.info("run %s of %s failed (%s): alerted in %d channel(s)", run.id, run.workflow_id, run.error_code, len(posted))
    return posted


async def _replay_started(session: AsyncSession, svc: Services, replay: Run, actor: str | None) -> None:
    """A replay of an alerted run appeared (from Slack or the console): say so on the alert and in its thread."""
    cards = await messages.messages_of(session, "alert", replay.replay_of)
    original = await session.get(Run, replay.replay_of) if cards else None
    if original is None:
        return
    by = replay_by_words(actor, view_of_run(replay).actor)
    for message in cards:
        await fresh(session, message)  # the newest state: another event may have moved it
        replays = list((message.state or {}).get("replays") or [])
        if any(r["run_id"] == replay.id for r in replays):
            continue
        # The outcome is recorded by _replay_ended, which also says it in the thread.
        status = "pending" if replay.status in TERMINAL else replay.status
        replays.append({"run_id": replay.id, "by": by, "status": status, "error_code": None})
        message.state = {**(message.state or {}), "replays": replays}
        await outbox.update_message(
            session, message, render(svc, original, message.state, await lifecycle_of(session, original.id))
        )
        await outbox.thread_reply(
            session, message, replay_started_reply(original.id, replay.id, by, svc.settings.run_url(replay.id))
        )
    log.info("run %s replayed %s as %s", original.id, by, replay.id)


async def _replay_ended(session: AsyncSession, svc: Services, replay: Run) -> None:
    """The replay of an alerted run ended: its outcome on the alert, and in the thread."""
    cards = await messages.messages_of(session, "alert", replay.replay_of)
    original = await session.get(Run, replay.replay_of) if cards else None
    if original is None:
        return
    for message in cards:
        await fresh(session, message)
        replays = [dict(r) for r in (message.state or {}).get("replays") or []]
        entry = next((r for r in replays if r["run_id"] == replay.id), None)
        if entry is None:
            entry = {"run_id": replay.id, "by": "from the console"}
            replays.append(entry)
        if entry.get("status") == replay.status:
            continue
        entry.update(status=replay.status, error_code=replay.error_code if replay.status == "failed" else None)
        message.state = {**(message.state or {}), "replays": replays}
        await outbox.update_message(
            session, message, render(svc, original, message.state, await lifecycle_of(session, original.id))
        )
        reply = with_compare_button(replay_ended_reply(entry, svc.settings.run_url(replay.id)), original.id, replay.id)
        await outbox.thread_reply(session, message, reply)


__all__ = ["owners", "render"]
