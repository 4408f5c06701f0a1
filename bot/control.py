"""Controlling runs from Slack: pause, resume, cancel and replay, shared by `/runs` and the alert buttons.

Authorization is checked here, at the domain operation, against live state: a hand-crafted button gets
no further than a real click. A terminal run's status is answered from the store without calling the
platform; an active run's stored status may be stale, so the platform is asked and its answer wins.
Every attempt, allowed or refused, lands in the audit trail.
"""

from __future__ import annotations

import logging

from bot import audit, events
from bot.contract import ALLOWED_FROM, TERMINAL
from bot.errors import BotError, NotAllowed, NotFound, Unavailable, WrongStatus
from bot.people import describe
from bot.platform import PlatformError, PlatformUnreachable
from bot.render import runs as render
from bot.services import Services
from store.models import Run

log = logging.getLogger(__name__)

VERBS = {"pause": "paused", "resume": "resumed", "cancel": "cancelled", "replay": "replayed"}


def allowed_actions(status: str) -> list[str]:
    return [action for action, sources in ALLOWED_FROM.items() if status in sources]


def status_refusal(run_id: str, status: str, action: str) -> str:
    """"run_7Kq2 is completed: it can be replayed, not cancelled"."""
    return render.status_refusal(run_id, status, [VERBS[a] for a in allowed_actions(status)], VERBS[action])


async def require_operator(svc: Services, user_id: str, action: str, target: str | None) -> None:
    if not await svc.people.is_member(user_id, svc.settings.OPERATORS):
        await audit.record_now(svc.sessions, user_id=user_id, action=action, target=target, result="refused",
                               message="not an operator")
        raise NotAllowed(f"Only operators may {action} runs. Operators: {describe(svc.settings.OPERATORS)}.")


async def _known_run(svc: Services, run_id: str) -> Run | dict:
    async with svc.sessions() as session:
        run = await session.get(Run, run_id)
    if run is not None:
        return run
    try:
        return await svc.platform.get_run(run_id)
    except PlatformError as exc:
        if exc.status == 404:
            raise NotFound(render.no_such_run(run_id)) from None
        raise
    except PlatformUnreachable as exc:
        raise Unavailable(f"The platform could not be reached ({exc}); nothing was changed.") from None


async def act(svc: Services, user_id: str, action: str, run_id: str, *, prompt: str | None = None,
              model: str | None = None) -> dict:
    """Pause, resume, cancel or replay a run as the Slack user; returns the platform's run (the new run
    for a replay). Raises a BotError with the words the user should read."""
    detail = " ".join(f"{k}={v!r}" for k, v in (("prompt", prompt), ("model", model)) if v) or None
    try:
        await require_operator(svc, user_id, action, run_id)
        known = await _known_run(svc, run_id)
        status = known.status if isinstance(known, Run) else known["status"]
        if status in TERMINAL and status not in ALLOWED_FROM[action]:
            raise WrongStatus(status_refusal(run_id, status, action))
        actor = await svc.people.actor(user_id)
        try:
            if action == "replay":
                result = await svc.platform.replay(run_id, actor, prompt=prompt, model=model)
            else:
                result = await getattr(svc.platform, action)(run_id, actor)
        except PlatformError as exc:
            if exc.status == 409:
                current = await _current_status(svc, run_id)
                message = status_refusal(run_id, current, action) if current else exc.message
                raise WrongStatus(render.control_conflict(message, exc.code)) from None
            if exc.status == 404:
                raise NotFound(render.no_such_run(run_id)) from None
            raise Unavailable(render.platform_refused(exc.code, exc.message)) from None
        except PlatformUnreachable as exc:
            raise Unavailable(f"The platform could not be reached ({exc}); nothing was changed. "
                              "Try again in a minute.") from None
    except BotError as exc:
        if not isinstance(exc, NotAllowed):  # refusals by role are audited where they are decided
            await audit.record_now(svc.sessions, user_id=user_id, action=action, target=run_id, detail=detail,
                                   result=exc.result, message=exc.message)
        raise
    async with svc.sessions.begin() as session:
        await events.on_run(session, svc, result, source="slack", actor=user_id)
        await audit.record(session, user_id=user_id, action=action, target=run_id, detail=detail, result="ok",
                           message=f"new run {result['id']}" if action == "replay" else f"now {result['status']}")
    svc.deliverer.kick()
    log.info("%s %s by %s: %s", action, run_id, user_id, result.get("status"))
    return result


async def _current_status(svc: Services, run_id: str) -> str | None:
    try:
        run = await svc.platform.get_run(run_id)
    except (PlatformError, PlatformUnreachable):
        return None
    async with svc.sessions.begin() as session:
        await events.on_run(session, svc, run, source="poll")
    return run["status"]
