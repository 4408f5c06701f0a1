"""*Replay affected runs* on a provider incident card (issue 16, operators): replays only the runs still
failed and not replayed, one at a time, INCIDENT_REPLAY_INTERVAL_SECONDS apart so the provider is not
hammered, with progress in the card's thread and one audit line each (`bot.control.act` writes it)."""

from __future__ import annotations

import asyncio
import logging

from bot import control, outbox
from bot.actors import OPERATE, Actor, require
from bot.errors import BotError, NotFound
from bot.incidents import card
from bot.render.incidents import replay_progress, replay_started
from bot.services import Services
from store import incidents as reads
from store.models import SlackMessage

log = logging.getLogger(__name__)


async def _incident(svc: Services, message_id: int) -> SlackMessage:
    async with svc.sessions() as session:
        message = await session.get(SlackMessage, message_id)
    if message is None or message.kind != "incident":
        raise NotFound("That incident card is no longer known to the bot.")
    return message


async def replay_affected(svc: Services, actor: Actor, value: str) -> str:
    if not value.isdigit():
        raise NotFound("That button has lost its incident.")
    await require(svc, actor, OPERATE, action="incident_replay", target=f"incident:{value}", what="replay runs")
    message = await _incident(svc, int(value))
    async with svc.sessions() as session:
        todo = await reads.replayable(session, list((message.state or {}).get("runs") or []))
    if not todo:
        return "Every affected run was already replayed or is no longer failed."
    pace = svc.settings.INCIDENT_REPLAY_INTERVAL_SECONDS
    async with svc.sessions.begin() as session:
        await outbox.thread_reply(session, message, replay_started(actor.id, len(todo), pace))
    done = 0
    for n, run_id in enumerate(todo, 1):
        if n > 1 and pace:
            await asyncio.sleep(pace)
        async with svc.sessions() as session:
            still = await reads.replayable(session, [run_id])
        if not still:
            result = "skipped: replayed meanwhile or no longer failed"
        else:
            try:
                new = await control.act(svc, actor, "replay", run_id)
                result = f"replayed as {new.get('id')}"
                done += 1
            except BotError as exc:
                result = f"not replayed: {exc.message}"
        async with svc.sessions.begin() as session:
            await outbox.thread_reply(
                session, message, replay_progress(n, len(todo), run_id, result, svc.settings.run_url)
            )
    async with svc.sessions.begin() as session:
        fresh = await session.get(SlackMessage, message.id)
        await outbox.update_message(session, fresh, await card(session, svc, fresh.state or {}))
    log.info("incident %s: %s replayed %d of %d affected runs", value, actor.id, done, len(todo))
    return f"Replayed {done} of {len(todo)} affected runs."
