"""*I'm on it* and *Resolve* on storm cards and provider incident cards (issue 16): kept in the card's own
state, next to its "recovered" (a storm: the workflow's next run succeeded; an incident: the provider's
affected steps work again), audited, and the card rebuilt whole."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot import audit, incidents, outbox
from bot.actors import Actor
from bot.errors import NotFound
from bot.render.metadata import storm_metadata
from bot.render.storms import storm_message
from bot.services import Services
from bot.views import view_of_storm
from store.messages import fresh
from store.models import SlackMessage


async def _storm(session: AsyncSession, message_id: int) -> SlackMessage:
    storm = await session.get(SlackMessage, message_id)
    if storm is None or storm.kind not in ("storm", "incident"):
        raise NotFound("That card is no longer known to the bot.")
    await fresh(session, storm)
    return storm


async def _save(session: AsyncSession, svc: Services, storm: SlackMessage, lifecycle: dict) -> None:
    storm.state = {**storm.state, "lifecycle": lifecycle}
    if storm.kind == "incident":
        await outbox.update_message(session, storm, await incidents.card(session, svc, storm.state))
    else:
        await outbox.update_message(session, storm, storm_card(svc, storm.state))


def _recovered(storm: SlackMessage) -> bool:
    state = storm.state or {}
    return bool(state.get("recovered")) or state.get("phase") == "recovered"


def storm_card(svc: Services, state: dict) -> dict:
    view = view_of_storm(state)
    message = storm_message(view, run_url_of=svc.settings.run_url, lifecycle=state.get("lifecycle"))
    return {**message, "metadata": storm_metadata(view)}


async def toggle_storm_on_it(session: AsyncSession, svc: Services, actor: Actor, message_id: int, now: datetime) -> str:
    storm = await _storm(session, message_id)
    lc = dict(storm.state.get("lifecycle") or {})
    if _recovered(storm) or lc.get("resolved"):
        return "This storm is already settled; nobody needs to be on it."
    people = list(lc.get("on_it") or [])
    leaving = any(p["user"] == actor.id for p in people)
    people = (
        [p for p in people if p["user"] != actor.id]
        if leaving
        else people + [{"user": actor.id, "since": now.isoformat()}]
    )
    await _save(session, svc, storm, {**lc, "on_it": people})
    await audit.record(
        session,
        user_id=actor.id,
        action="alert_off_it" if leaving else "alert_on_it",
        target=f"{storm.kind}:{message_id}",
    )
    return "You are no longer on this storm." if leaving else "You are on this storm; the card says so."


async def resolve_storm(
    session: AsyncSession, svc: Services, actor: Actor, message_id: int, note: str | None, now: datetime
) -> str:
    storm = await _storm(session, message_id)
    lc = dict(storm.state.get("lifecycle") or {})
    if _recovered(storm):
        return "This already recovered; nothing to resolve."
    if lc.get("resolved"):
        return f"This storm was already resolved by <@{lc['resolved']['by']}>."
    await _save(session, svc, storm, {**lc, "resolved": {"by": actor.id, "at": now.isoformat(), "note": note}})
    await audit.record(
        session, user_id=actor.id, action="alert_resolve", target=f"{storm.kind}:{message_id}", detail=note
    )
    return "Resolved the storm."
