"""Who handles a failure (issue 16): *I'm on it* (anyone in the workspace; a second person joins, a click
again leaves), *Resolve* with an optional note (operators), and *Recovered*, set by the bot when a replay
completes, following `replay_of` through replays of replays. Alerts and storm cards carry the buttons; every
change is audited and rebuilds the whole card from the store."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from bot import alert_cards, audit
from bot.actors import OPERATE, Actor, require
from bot.alert_cards import view_of
from bot.errors import BadInput, NotAllowed, NotFound
from bot.render.lifecycle import list_mark
from bot.render.mrkdwn import Mrkdwn, is_user_id
from bot.services import Services
from bot.storm_lifecycle import resolve_storm, toggle_storm_on_it
from store import lifecycle as store
from store.models import Run, SlackMessage, utcnow

log = logging.getLogger(__name__)

BOT_ACTOR = "runbot"  # who the audit trail names for what the bot did itself
MAX_CHAIN = 100  # replays of replays followed back to the first failure


def parse_value(value: str) -> tuple[str, str]:
    """A lifecycle button's value: ("run", run id) or ("storm", message id)."""
    kind, _, subject = str(value or "").partition(":")
    if kind == "run" and subject and len(subject) <= 64:
        return kind, subject
    if kind in ("storm", "incident") and subject.isdigit():
        return "storm", subject  # storm and incident cards keep their lifecycle in their own state
    raise BadInput("That button has lost what it was about; open the run with `/runs show RUN_ID`.")


def _check_person(actor: Actor) -> None:
    if not is_user_id(actor.id):
        raise NotAllowed("Only a person of this workspace may say they are on a failure.")


async def toggle_on_it(svc: Services, actor: Actor, value: str) -> str:
    """Join the people on a failure, or leave when already on it; returns what the clicker is told."""
    _check_person(actor)
    kind, subject = parse_value(value)
    now = utcnow()
    async with svc.sessions.begin() as session:
        if kind == "storm":
            return await toggle_storm_on_it(session, svc, actor, int(subject), now)
        await _existing_run(session, subject)
        row = await store.locked_lifecycle(session, subject)
        if row.resolved_by or row.recovered_by:
            await store.drop_if_empty(session, row)
            return "This failure is already settled; nobody needs to be on it."
        people = list(row.on_it or [])
        leaving = any(p["user"] == actor.id for p in people)
        row.on_it = (
            [p for p in people if p["user"] != actor.id]
            if leaving
            else people + [{"user": actor.id, "since": now.isoformat()}]
        )
        await store.drop_if_empty(session, row)
        await audit.record(
            session, user_id=actor.id, action="alert_off_it" if leaving else "alert_on_it", target=subject
        )
        await rebuild_alerts(session, svc, subject, None if leaving and not row.on_it else view_of(row))
    log.info("%s %s %s", actor.id, "left" if leaving else "is on", subject)
    return f"You are no longer on {subject}." if leaving else f"You are on {subject}; the alert says so."


async def may_resolve(svc: Services, actor: Actor, value: str) -> str:
    """Before the Resolve form opens: refuse (audited) whoever may not resolve; returns the subject's words."""
    kind, subject = parse_value(value)
    await require(svc, actor, OPERATE, action="alert_resolve", target=subject, what="resolve failures")
    return subject if kind == "run" else "this storm"


async def resolve(svc: Services, actor: Actor, value: str, note: str | None) -> str:
    """Resolve a failure nobody will replay (operators), with an optional note."""
    kind, subject = parse_value(value)
    await require(svc, actor, OPERATE, action="alert_resolve", target=subject, what="resolve failures")
    note = (note or "").strip()[:500] or None
    now = utcnow()
    async with svc.sessions.begin() as session:
        if kind == "storm":
            return await resolve_storm(session, svc, actor, int(subject), note, now)
        await _existing_run(session, subject)
        row = await store.locked_lifecycle(session, subject)
        if row.recovered_by:
            return f"{subject} already recovered with {row.recovered_by}; nothing to resolve."
        if row.resolved_by:
            return f"{subject} was already resolved by <@{row.resolved_by}>."
        row.resolved_by, row.resolved_at, row.resolved_note = actor.id, now, note
        await audit.record(session, user_id=actor.id, action="alert_resolve", target=subject, detail=note)
        await rebuild_alerts(session, svc, subject, view_of(row))
    log.info("%s resolved %s", actor.id, subject)
    return f"Resolved {subject}."


async def _existing_run(session: AsyncSession, run_id: str) -> Run:
    run = await session.get(Run, run_id)
    if run is None or run.status != "failed":
        raise NotFound(f"No failed run `{run_id[:64]}` is known to the bot.")
    return run


async def on_replay_completed(session: AsyncSession, svc: Services, replay: Run) -> list[str]:
    """A replay completed: the run it replayed, and every failed run up its `replay_of` chain, recovered."""
    recovered, seen = [], set()
    at = replay.completed_at or utcnow()
    current = replay.replay_of
    while current and current not in seen and len(seen) < MAX_CHAIN:
        seen.add(current)
        run = await session.get(Run, current)
        if run is None:
            break
        if run.status == "failed":
            row = await store.locked_lifecycle(session, run.id)
            if not row.recovered_by:
                row.recovered_by, row.recovered_at = replay.id, at
                await audit.record(
                    session, user_id=BOT_ACTOR, action="alert_recovered", target=run.id, detail=f"by {replay.id}"
                )
                await rebuild_alerts(session, svc, run.id, view_of(row))
                recovered.append(run.id)
        current = run.replay_of
    if recovered:
        log.info("replay %s completed: %s recovered", replay.id, ", ".join(recovered))
    return recovered


def marks_of(rows) -> dict[str, Mrkdwn]:
    """What `/runs failed` says of each run (recovered by run_…, resolved by @…, @… on it, muted), from
    (run id, lifecycle row or a row of its columns, or None: open, muted) rows (`store.queries.failed_runs(marked=True)`
    reads them)."""
    marks = {rid: list_mark(view_of(row), muted=bool(muted)) for rid, row, muted in rows}
    return {rid: m for rid, m in marks.items() if m}


async def rebuild_alerts(session: AsyncSession, svc: Services, run_id: str, lifecycle: dict | None) -> None:
    """Every channel's alert of the run, rebuilt whole from the store with its lifecycle."""
    await alert_cards.rebuild(session, svc, run_id, lifecycle)


__all__ = ["SlackMessage", "toggle_on_it", "resolve", "on_replay_completed", "view_of"]
