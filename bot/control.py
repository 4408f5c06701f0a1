"""Controlling runs from Slack: pause, resume, cancel and replay, shared by `/runs`, the alert buttons and
the replay form.

Authorization is checked here, at the domain operation, against live state: a hand-crafted button gets
no further than a real click. A terminal run's status is answered from the store without calling the
platform; an active run's stored status may be stale, so the platform is asked and its answer wins.
Every attempt, allowed or refused, lands in the audit trail.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import timedelta

from bot import audit, events
from bot.actors import OPERATE, Actor, require
from bot.contract import ALLOWED_FROM, TERMINAL, status_refusal
from bot.errors import AlreadyDone, BotError, NotAllowed, WrongStatus, from_platform
from bot.platform import PlatformError, PlatformUnreachable
from bot.render import replies as render
from bot.services import Services
from store import receipts
from store.models import Run, utcnow

log = logging.getLogger(__name__)


async def require_operator(svc: Services, actor: Actor, action: str, target: str | None) -> None:
    await require(svc, actor, OPERATE, action=action, target=target, what=f"{action} runs")


async def _known_run(svc: Services, run_id: str) -> Run | dict:
    async with svc.sessions() as session:
        run = await session.get(Run, run_id)
    if run is not None:
        return run
    try:
        return await svc.platform.get_run(run_id)
    except (PlatformError, PlatformUnreachable) as exc:
        raise from_platform(exc, doing=f"the lookup of {run_id}", missing=f"No run {run_id} on the platform.") from None


def _replay_subject(run_id: str, prompt: str | None, model: str | None) -> str:
    """One replay of one run with one prompt and model: what two people pressing Replay both ask for."""
    changes = hashlib.sha256(json.dumps([prompt, model]).encode()).hexdigest()[:16]
    return f"replay:{run_id}:{changes}"


async def _claim_replay(svc: Services, actor: Actor, subject: str, run_id: str) -> bool:
    """Claim this replay for `actor` (False: claims are off). Raises AlreadyDone naming who did it, and when."""
    window = svc.settings.DEDUPE_REPLAY_WINDOW_SECONDS
    if not window:
        return False
    async with svc.sessions.begin() as session:
        held = await receipts.claim_operation(session, subject, actor.id, window=timedelta(seconds=window))
    if held is not None:
        ago = max(0, int((utcnow() - held.claimed_at).total_seconds()))
        raise AlreadyDone(render.replayed_already(held.actor, ago, run_id, held.result, svc.settings.run_url))
    return True


async def _settle_replay(svc: Services, actor: Actor, subject: str, new_run_id: str | None) -> None:
    async with svc.sessions.begin() as session:
        await receipts.settle_operation(session, subject, actor.id, new_run_id)


async def act(
    svc: Services, actor: Actor, action: str, run_id: str, *, prompt: str | None = None, model: str | None = None
) -> dict:
    """Pause, resume, cancel or replay a run as the Slack user; returns the platform's run (the new run
    for a replay). Raises a BotError with the words the user should read."""
    changes = ([f"prompt “{prompt[:200]}”"] if prompt else []) + ([f"model {model}"] if model else [])
    detail = ("with " + " and ".join(changes)) if changes else None  # read by people in `/runs audit`
    try:
        await require_operator(svc, actor, action, run_id)
        known = await _known_run(svc, run_id)
        status = known.status if isinstance(known, Run) else known["status"]
        if status in TERMINAL and status not in ALLOWED_FROM[action]:
            raise WrongStatus(status_refusal(run_id, status, action))
        who = await actor.platform_name()
        subject = _replay_subject(run_id, prompt, model) if action == "replay" else None
        claimed = subject is not None and await _claim_replay(svc, actor, subject, run_id)
        try:
            if action == "replay":
                try:
                    result = await svc.platform.replay(run_id, who, prompt=prompt, model=model)
                except BaseException:
                    if claimed:  # nothing was replayed: the next click may try again
                        await _settle_replay(svc, actor, subject, None)
                    raise
                if claimed:
                    await _settle_replay(svc, actor, subject, str(result.get("id")))
            else:
                result = await getattr(svc.platform, action)(run_id, who)
        except PlatformError as exc:
            if exc.status != 409:
                raise from_platform(
                    exc, doing=f"to {action} {run_id}", missing=f"No run {run_id} on the platform."
                ) from None
            current = await _current_status(svc, run_id)
            message = status_refusal(run_id, current, action) if current else exc.message
            raise WrongStatus(render.control_conflict(message, exc.code)) from None
        except PlatformUnreachable as exc:
            raise from_platform(exc, doing=f"the {action} of {run_id}") from None
    except BotError as exc:
        if not isinstance(exc, NotAllowed):  # refusals by role are audited where they are decided
            await audit.record_now(
                svc.sessions,
                user_id=actor.id,
                action=action,
                target=run_id,
                detail=detail,
                result=exc.result,
                message=exc.message,
            )
        raise
    async with svc.sessions.begin() as session:
        await events.on_run(session, svc, result, source="slack", actor=actor.id)
        await audit.record(
            session,
            user_id=actor.id,
            action=action,
            target=run_id,
            detail=detail,
            result="ok",
            message=f"new run {result['id']}" if action == "replay" else f"now {result['status']}",
        )
    log.info("%s %s by %s: %s", action, run_id, actor.id, result.get("status"))
    return result


async def _current_status(svc: Services, run_id: str) -> str | None:
    try:
        run = await svc.platform.get_run(run_id)
    except (PlatformError, PlatformUnreachable):
        return None
    async with svc.sessions.begin() as session:
        await events.on_run(session, svc, run, source="poll")
    return run["status"]
