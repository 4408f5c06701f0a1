"""Approval decisions started from Slack: approve or reject a task exactly once, by the right people, with
quorum; and the check before the reject form opens.

A click re-reads the task from the platform and is refused when it is no longer what the card showed. The
final decision is claimed with one conditional UPDATE (`deciding_by`), so twenty clicks, or two bot
processes, send one decision.
"""

from __future__ import annotations

import logging

from bot import audit, events, outbox
from bot.actors import DECIDE, Actor, refuse, require
from bot.approvals.reactions import sync_cards, task_fingerprint, task_view
from bot.contract import parse_time
from bot.errors import BotError, NotAllowed, NotFound, WrongStatus, from_platform
from bot.people import describe
from bot.platform import PlatformError, PlatformUnreachable
from bot.render import approvals as render
from bot.render.common import slack_date
from bot.services import Services
from store import approvals as stored
from store.models import Approval, Run, utcnow

log = logging.getLogger(__name__)


def _decided_words(task: Approval | dict) -> str:
    get = task.get if isinstance(task, dict) else lambda k: getattr(task, k)
    status = get("status")
    decided_at = get("decided_at")
    when = slack_date(parse_time(decided_at)) if decided_at else None
    if status == "expired":
        return f"This request expired{f' at {when}' if when else ''}; it can no longer be decided."
    who = render.actor_mention(get("decided_by"))
    return f"This request was already {status} by {who}{f' at {when}' if when else ''}."


async def _load(svc: Services, approval_id: str) -> tuple[Approval, Run | None]:
    async with svc.sessions() as session:
        task, run = await stored.task_and_run(session, approval_id)
    if task is None:
        raise NotFound("This approval task is not known to the bot; it may have been removed from the platform.")
    return task, run


async def _authorize(svc: Services, actor: Actor, task: Approval, run: Run | None, decision: str) -> None:
    s = svc.settings
    action = f"approval.{decision}"
    if task.kind in s.APPROVAL_CONSOLE_ONLY_KINDS:
        await refuse(
            svc,
            actor,
            action=action,
            target=task.id,
            message=render.console_only_refusal(task.kind, s.run_url(task.run_id, task.step_id)),
        )
    await require(svc, actor, DECIDE, action=action, target=task.id, what="decide approval tasks")
    if decision == "approve" and not s.ALLOW_SELF_APPROVAL and await _run_actor(svc, task, run) == actor.id:
        await refuse(
            svc,
            actor,
            action=action,
            target=task.id,
            message=f"You started {task.run_id} yourself, so another approver must approve it "
            f"(you may still reject it). Approvers: {describe(s.APPROVERS)}.",
        )


async def _run_actor(svc: Services, task: Approval, run: Run | None) -> str | None:
    """The Slack user who triggered the gated run, when the trigger names one."""
    if run is not None:
        return run.actor_slack_id
    try:
        data = await svc.platform.get_run(task.run_id)
    except (PlatformError, PlatformUnreachable):
        return None
    return ((data.get("trigger") or {}).get("actor") or {}).get("slack_user_id")


async def _merge_fresh(svc: Services, fresh: dict) -> None:
    async with svc.sessions.begin() as session:
        await events.on_approval(session, svc, fresh, source="slack")


async def _fresh(svc: Services, task: Approval, shown: str | None) -> dict:
    """The task as the platform has it now; refused when it is no longer pending or no longer what was shown."""
    try:
        fresh = await svc.platform.get_approval(task.id)
    except (PlatformError, PlatformUnreachable) as exc:
        raise from_platform(
            exc,
            doing=f"to show the approval task {task.id}",
            unchanged="nothing was decided",
            missing=f"The platform no longer has the approval task {task.id}.",
        ) from None
    if fresh["status"] != "pending":
        await _merge_fresh(svc, fresh)
        raise WrongStatus(_decided_words(fresh))
    if task_fingerprint(fresh) != (shown or task.fingerprint):
        await _merge_fresh(svc, fresh)
        raise WrongStatus(
            "This request changed since you saw it; review it again: the message now shows the current request."
        )
    return fresh


async def _count_vote(svc: Services, task: Approval, actor: Actor, required: int) -> tuple[list[str], bool]:
    """Record the approval: every approver so far, and whether this one is new (the same person counts once).
    Below the quorum the cards show the count."""
    name = await actor.name()
    async with svc.sessions.begin() as session:
        added = await stored.add_vote(session, task.id, actor.id, name, utcnow())
    async with svc.sessions.begin() as session:
        current = await stored.task(session, task.id)
        votes = await stored.votes(session, task.id)
        if added and len(votes) < required and current is not None:
            await sync_cards(session, svc, current)
    return votes, added


def _quorum_words(votes: list[str], required: int, added: bool) -> str:
    still = required - len(votes)
    more = f"{still} more approver{'s' if still != 1 else ''}"
    if added:
        return f"Your approval is counted: {len(votes)} of {required}. It needs {more} before it goes to the platform."
    return f"You already approved this ({len(votes)} of {required}); the same person counts once. It needs {more}."


def _claimer(claim: str | None) -> str | None:
    """The Slack user holding a claim (`deciding_by` is "U123 <unix time>")."""
    return claim.split()[0] if claim else None


async def _claim(svc: Services, approval_id: str, actor: Actor) -> str | None:
    """Take the right to send the final decision: exactly one click (in any process) wins. Returns the claim,
    or None when someone else holds it or the task is no longer pending."""
    claim = f"{actor.id} {int(utcnow().timestamp())}"
    async with svc.sessions.begin() as session:
        return claim if await stored.claim(session, approval_id, claim) else None


async def _release(svc: Services, approval_id: str, claim: str) -> None:
    async with svc.sessions.begin() as session:
        await stored.release(session, approval_id, claim)


async def _lost_claim(svc: Services, approval_id: str, voted: bool) -> str:
    async with svc.sessions() as session:
        task = await stored.task(session, approval_id)
    if task is None:
        return "This approval task is no longer known."
    if task.status != "pending":
        return _decided_words(task)
    return render.lost_claim_words(_claimer(task.deciding_by) if task.deciding_by else None, voted=voted)


async def _names(svc: Services, users: list[str]) -> str:
    return ", ".join([f"{await svc.people.name(u)} ({u})" for u in users])


async def decide(
    svc: Services, actor: Actor, approval_id: str, decision: str, *, shown: str | None = None, reason: str | None = None
) -> str:
    """Approve or reject a task as a Slack user. Returns what to tell them; raises a BotError when refused.
    `shown` is the fingerprint of the task on the card they clicked."""
    assert decision in ("approve", "reject")
    action = f"approval.{decision}"
    reason = (reason or "").strip() or None
    try:
        task, run = await _load(svc, approval_id)
        await _authorize(svc, actor, task, run, decision)
        if task.status != "pending":
            raise WrongStatus(_decided_words(task))
        await _fresh(svc, task, shown)
        deciders = [actor.id]
        if decision == "approve":
            required = svc.settings.approvals_required(task.kind, task.workflow_id)
            if required > 1:
                votes, added = await _count_vote(svc, task, actor, required)
                if len(votes) < required:
                    waiting = _quorum_words(votes, required, added)
                    await audit.record_now(
                        svc.sessions,
                        user_id=actor.id,
                        action=action,
                        target=approval_id,
                        result="ok" if added else "refused",
                        message=waiting,
                    )
                    return waiting
                deciders = [u for u in votes if u != actor.id] + [actor.id]
        claim = await _claim(svc, approval_id, actor)
        if claim is None:
            raise WrongStatus(await _lost_claim(svc, approval_id, voted=len(deciders) > 1))
        result = await _send(svc, task, actor, claim, decision, deciders, reason)
    except BotError as exc:
        if not isinstance(exc, NotAllowed):
            await audit.record_now(
                svc.sessions,
                user_id=actor.id,
                action=action,
                target=approval_id,
                detail=reason,
                result=exc.result,
                message=exc.message,
            )
        raise
    async with svc.sessions.begin() as session:
        await events.on_approval(session, svc, result, source="slack")
        await audit.record(
            session,
            user_id=actor.id,
            action=action,
            target=approval_id,
            detail=reason,
            result="ok",
            message=f"now {result['status']}",
        )
    log.info("approval %s %s from Slack by %s", approval_id, result["status"], actor.id)
    if result["status"] == "approved":
        return f"Approved: {task.run_id} continues."
    return f"Rejected: {task.run_id} is cancelled."


async def _send(
    svc: Services, task: Approval, actor: Actor, claim: str, decision: str, deciders: list[str], reason: str | None
) -> dict:
    """The one platform call, made by the holder of the claim; the claim is released if it fails transiently."""
    who = await actor.platform_name()
    comment = reason
    if decision == "approve" and len(deciders) > 1:
        comment = f"Approved in Slack by {await _names(svc, deciders)}"
    try:
        call = svc.platform.approve if decision == "approve" else svc.platform.reject
        return await call(task.id, who, comment)
    except PlatformError as exc:
        if exc.status == 409:
            try:
                fresh = await svc.platform.get_approval(task.id)
            except (PlatformError, PlatformUnreachable):
                fresh = None
            if fresh is not None and fresh["status"] != "pending":
                await _merge_fresh(svc, fresh)
                raise WrongStatus(_decided_words(fresh)) from None
            await _release(svc, task.id, claim)
            raise WrongStatus(render.platform_refused(None, exc.message or exc.code)) from None
        await _release(svc, task.id, claim)
        raise from_platform(
            exc,
            doing="the decision",
            unchanged="nothing was decided",
            missing=f"The platform no longer has the approval task {task.id}.",
        ) from None
    except PlatformUnreachable as exc:
        await _release(svc, task.id, claim)
        raise from_platform(exc, doing="the decision", unchanged="nothing was decided") from None


async def prepare_reject(svc: Services, actor: Actor, approval_id: str, shown: str | None) -> render.TaskView:
    """Before the reject modal opens: may this person reject it, and is it still pending?"""
    try:
        task, run = await _load(svc, approval_id)
        await _authorize(svc, actor, task, run, "reject")
        if task.status != "pending":
            raise WrongStatus(_decided_words(task))
        await _fresh(svc, task, shown)  # the form opens only for what the platform still asks (the modal waits)
    except BotError as exc:
        if not isinstance(exc, NotAllowed):
            await audit.record_now(
                svc.sessions,
                user_id=actor.id,
                action="approval.reject",
                target=approval_id,
                result=exc.result,
                message=exc.message,
            )
        raise
    async with svc.sessions() as session:
        view = task_view(svc, task, await stored.votes(session, task.id))
    if shown:
        view = view.with_fingerprint(shown)
    return view


async def tell(svc: Services, actor: Actor, text: str) -> None:
    """Answer someone who clicked where there is no response_url (App Home): a direct message."""
    async with svc.sessions.begin() as session:
        await outbox.direct_message(session, user=actor.id, payload={"text": text})
