"""Approvals from Slack: cards for gated tasks, decisions made exactly once by the right people, quorum,
reminders and expiry, the `/runs approvals` inbox and App Home.

A card is a SlackMessage (kind "approval", subject the task id) per approval channel, rebuilt whole from the
store on every change. Its buttons carry the fingerprint of the task as shown (kind, action, run, expiry):
a click re-reads the task from the platform and is refused when it changed. The final decision is claimed
with one conditional UPDATE (`deciding_by`), so twenty clicks, or two bot processes, send one decision.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import audit, events, outbox
from bot.errors import BotError, NotAllowed, NotFound, Unavailable, WrongStatus
from bot.people import describe, mention
from bot.platform import PlatformError, PlatformUnreachable
from bot.render import approvals as render
from bot.render.common import slack_date
from bot.render.home import home_view
from bot.runs import RunChange, parse_time, rfc3339
from bot.services import Services
from store.models import Approval, ApprovalVote, KeyValue, Run, SlackMessage, utcnow
from store.queries import approval_channels

log = logging.getLogger(__name__)

KIND = "approval"
HOME_KEY = "approvals.home"
CLAIM_STALE_SECONDS = 120  # a claim older than this outlived its holder: released so the task can be decided


# What a card shows

def fingerprint(kind: str, action: str, run_id: str, expires_at: datetime | str | None) -> str:
    """The identity of a task as shown to approvers: if any of these change, the approval no longer holds."""
    expiry = rfc3339(parse_time(expires_at)) if expires_at else None
    raw = json.dumps([kind, action, run_id, expiry], separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def task_fingerprint(task: Approval | dict) -> str:
    if isinstance(task, dict):
        return fingerprint(task["kind"], task["action"], task["run_id"], task.get("expires_at"))
    return fingerprint(task.kind, task.action, task.run_id, task.expires_at)


async def _votes(session: AsyncSession, approval_id: str) -> list[str]:
    rows = await session.scalars(select(ApprovalVote.user_id).where(ApprovalVote.approval_id == approval_id)
                                 .order_by(ApprovalVote.at, ApprovalVote.user_id))
    return list(rows.all())


def _view(svc: Services, task: Approval, votes: list[str], *, changed: bool = False) -> render.TaskView:
    s = svc.settings
    return render.TaskView(
        id=task.id, run_id=task.run_id, step_id=task.step_id, workflow_id=task.workflow_id,
        workflow_name=task.workflow_name, kind=task.kind, action=task.action, requested_by=task.requested_by,
        expires_at=task.expires_at, status=task.status, fingerprint=task.fingerprint or task_fingerprint(task),
        run_url=s.run_url(task.run_id), review_url=s.run_url(task.run_id, task.step_id),
        decided_by=task.decided_by, decided_at=task.decided_at, comment=task.comment,
        required=s.approvals_required(task.kind, task.workflow_id), votes=votes,
        console_only=task.kind in s.APPROVAL_CONSOLE_ONLY_KINDS, confirm=task.kind in s.APPROVAL_CONFIRM_KINDS,
        changed=changed)


async def _cards(session: AsyncSession, approval_id: str) -> list[SlackMessage]:
    rows = await session.scalars(select(SlackMessage).where(SlackMessage.kind == KIND,
                                                            SlackMessage.subject == approval_id)
                                 .order_by(SlackMessage.id))
    return list(rows.all())


def _digest(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:24]


async def _sync_cards(session: AsyncSession, svc: Services, task: Approval, *, changed: bool = False) -> None:
    """Post the card where it is missing (pending tasks) and rebuild every card whose content moved."""
    cards = await _cards(session, task.id)
    changed = changed or any((c.state or {}).get("changed") for c in cards)
    view = _view(svc, task, await _votes(session, task.id), changed=changed)
    payload = render.card(view, utcnow())
    digest = _digest(payload)
    for message in cards:
        if (message.state or {}).get("digest") != digest:
            await outbox.update_message(session, message, payload)
            message.state = {**(message.state or {}), "digest": digest, "changed": changed}
    if task.status != "pending":
        return
    have = {c.channel for c in cards}
    for channel in await approval_channels(session, svc.settings, task.workflow_id):
        if channel not in have:
            await outbox.post(session, channel=channel, payload=payload, kind=KIND, subject=task.id,
                              state={"digest": digest, "changed": changed, "run_id": task.run_id})


# Entry points called by bot/events.py inside the event's transaction

async def on_task_change(session: AsyncSession, svc: Services, task: Approval, old_status: str | None, *,
                         source: str) -> None:
    """A task arrived from a webhook, a poll or a decision: post or correct its cards."""
    fp = task_fingerprint(task)
    changed = task.status == "pending" and task.fingerprint is not None and task.fingerprint != fp
    if task.fingerprint is None or changed:
        task.fingerprint = fp
    if old_status is None and task.status == "pending" and task.expires_at is not None:
        # A task posted closer to its expiry than the reminder lead time gets no reminder.
        left = (task.expires_at - utcnow()).total_seconds()
        task.reminded = bool(task.reminded) or left <= svc.settings.APPROVAL_REMINDER_SECONDS
    if changed:
        # Approvals counted so far were given to what the task said before: they no longer hold.
        await session.execute(delete(ApprovalVote).where(ApprovalVote.approval_id == task.id))
        log.info("approval %s changed on the platform after it was posted (%s); cards rebuilt", task.id, source)
    await _sync_cards(session, svc, task, changed=changed)


async def on_run_change(session: AsyncSession, svc: Services, change: RunChange) -> None:
    """The gated run's progress follows in each card's thread."""
    if not change.status_changed or change.is_new or change.new_status in ("waiting", "pending"):
        return
    run = change.run
    ids = list((await session.scalars(select(Approval.id).where(Approval.run_id == run.id))).all())
    if not ids:
        return
    cards = (await session.scalars(select(SlackMessage).where(SlackMessage.kind == KIND,
                                                              SlackMessage.subject.in_(ids)))).all()
    if not cards:
        return
    payload = render.run_progress(run_id=run.id, run_url=svc.settings.run_url(run.id), status=run.status,
                                  completed_steps=run.completed_steps, total_steps=run.total_steps,
                                  error_code=run.error_code if run.status == "failed" else None)
    for message in cards:
        await outbox.thread_reply(session, message, payload)


# Deciding

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
        task = await session.get(Approval, approval_id)
        run = await session.get(Run, task.run_id) if task is not None else None
    if task is None:
        raise NotFound("This approval task is not known to the bot; it may have been removed from the platform.")
    return task, run


async def _refuse(svc: Services, user_id: str, action: str, target: str, message: str) -> None:
    await audit.record_now(svc.sessions, user_id=user_id, action=action, target=target, result="refused",
                           message=message)
    raise NotAllowed(message)


async def _authorize(svc: Services, user_id: str, task: Approval, run: Run | None, decision: str) -> None:
    s = svc.settings
    action = f"approval.{decision}"
    if task.kind in s.APPROVAL_CONSOLE_ONLY_KINDS:
        await _refuse(svc, user_id, action, task.id,
                      render.console_only_refusal(task.kind, s.run_url(task.run_id, task.step_id)))
    if not await svc.people.is_member(user_id, s.APPROVERS):
        await _refuse(svc, user_id, action, task.id,
                      f"Only approvers may decide approval tasks. Approvers: {describe(s.APPROVERS)}.")
    if decision == "approve" and not s.ALLOW_SELF_APPROVAL and await _run_actor(svc, task, run) == user_id:
        await _refuse(svc, user_id, action, task.id,
                      f"You started {task.run_id} yourself, so another approver must approve it "
                      f"(you may still reject it). Approvers: {describe(s.APPROVERS)}.")


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
    svc.deliverer.kick()


async def _fresh(svc: Services, task: Approval, shown: str | None) -> dict:
    """The task as the platform has it now; refused when it is no longer pending or no longer what was shown."""
    try:
        fresh = await svc.platform.get_approval(task.id)
    except PlatformError as exc:
        if exc.status == 404:
            raise NotFound(f"The platform no longer has the approval task {task.id}.") from None
        raise Unavailable(f"The platform refused to show the task ({exc.code}); nothing was decided.") from None
    except PlatformUnreachable as exc:
        raise Unavailable(f"The platform could not be reached ({exc}); nothing was decided. "
                          "Try again in a minute.") from None
    if fresh["status"] != "pending":
        await _merge_fresh(svc, fresh)
        raise WrongStatus(_decided_words(fresh))
    if task_fingerprint(fresh) != (shown or task.fingerprint):
        await _merge_fresh(svc, fresh)
        raise WrongStatus("This request changed since you saw it; review it again: the message now shows "
                          "the current request.")
    return fresh


async def _add_vote(svc: Services, approval_id: str, user_id: str) -> bool:
    """Count one approver once: False when this person had already approved."""
    name = await svc.people.name(user_id)
    values = {"approval_id": approval_id, "user_id": user_id, "user_name": name, "at": utcnow()}
    if svc.is_postgres:
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    async with svc.sessions.begin() as session:
        result = await session.execute(insert(ApprovalVote).values(**values).on_conflict_do_nothing())
        return result.rowcount == 1


async def _count_vote(svc: Services, task: Approval, user_id: str, required: int) -> tuple[list[str], bool]:
    """Record the approval: every approver so far, and whether this one is new. Below the quorum the cards
    show the count."""
    added = await _add_vote(svc, task.id, user_id)
    async with svc.sessions.begin() as session:
        current = await session.get(Approval, task.id)
        votes = await _votes(session, task.id)
        if added and len(votes) < required and current is not None:
            await _sync_cards(session, svc, current)
    svc.deliverer.kick()
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


async def _claim(svc: Services, approval_id: str, user_id: str) -> str | None:
    """Take the right to send the final decision: one conditional UPDATE, so exactly one click (in any process)
    wins. Returns the claim, or None when someone else holds it or the task is no longer pending."""
    claim = f"{user_id} {int(utcnow().timestamp())}"
    async with svc.sessions.begin() as session:
        result = await session.execute(
            update(Approval).where(Approval.id == approval_id, Approval.deciding_by.is_(None),
                                   Approval.status == "pending").values(deciding_by=claim)
            .execution_options(synchronize_session=False))
        return claim if result.rowcount == 1 else None


async def _release(svc: Services, approval_id: str, claim: str) -> None:
    async with svc.sessions.begin() as session:
        await session.execute(update(Approval).where(Approval.id == approval_id, Approval.deciding_by == claim)
                              .values(deciding_by=None).execution_options(synchronize_session=False))


def _stale_claim(task: Approval, now: datetime) -> bool:
    """A claim whose holder died between the claim and the platform's answer (the call times out well before)."""
    try:
        at = int(task.deciding_by.split()[1])
    except (AttributeError, IndexError, ValueError):
        return False
    return now.timestamp() - at > CLAIM_STALE_SECONDS


async def _lost_claim(svc: Services, approval_id: str, user_id: str, voted: bool) -> str:
    async with svc.sessions() as session:
        task = await session.get(Approval, approval_id)
    if task is None:
        return "This approval task is no longer known."
    if task.status != "pending":
        return _decided_words(task)
    return render.lost_claim_words(_claimer(task.deciding_by) if task.deciding_by else None, voted=voted)


async def _names(svc: Services, users: list[str]) -> str:
    return ", ".join([f"{await svc.people.name(u)} ({u})" for u in users])


async def decide(svc: Services, user_id: str, approval_id: str, decision: str, *, shown: str | None = None,
                 reason: str | None = None) -> str:
    """Approve or reject a task as a Slack user. Returns what to tell them; raises a BotError when refused.
    `shown` is the fingerprint of the task on the card they clicked."""
    assert decision in ("approve", "reject")
    action = f"approval.{decision}"
    reason = (reason or "").strip() or None
    try:
        task, run = await _load(svc, approval_id)
        await _authorize(svc, user_id, task, run, decision)
        if task.status != "pending":
            raise WrongStatus(_decided_words(task))
        await _fresh(svc, task, shown)
        deciders = [user_id]
        if decision == "approve":
            required = svc.settings.approvals_required(task.kind, task.workflow_id)
            if required > 1:
                votes, added = await _count_vote(svc, task, user_id, required)
                if len(votes) < required:
                    waiting = _quorum_words(votes, required, added)
                    await audit.record_now(svc.sessions, user_id=user_id, action=action, target=approval_id,
                                           result="ok" if added else "refused", message=waiting)
                    return waiting
                deciders = [u for u in votes if u != user_id] + [user_id]
        claim = await _claim(svc, approval_id, user_id)
        if claim is None:
            raise WrongStatus(await _lost_claim(svc, approval_id, user_id, voted=len(deciders) > 1))
        result = await _send(svc, task, user_id, claim, decision, deciders, reason)
    except BotError as exc:
        if not isinstance(exc, NotAllowed):
            await audit.record_now(svc.sessions, user_id=user_id, action=action, target=approval_id, detail=reason,
                                   result=exc.result, message=exc.message)
        raise
    async with svc.sessions.begin() as session:
        await events.on_approval(session, svc, result, source="slack")
        await audit.record(session, user_id=user_id, action=action, target=approval_id, detail=reason, result="ok",
                           message=f"now {result['status']}")
    svc.deliverer.kick()
    log.info("approval %s %s from Slack by %s", approval_id, result["status"], user_id)
    if result["status"] == "approved":
        return f"Approved: {task.run_id} continues."
    return f"Rejected: {task.run_id} is cancelled."


async def _send(svc: Services, task: Approval, user_id: str, claim: str, decision: str, deciders: list[str],
                reason: str | None) -> dict:
    """The one platform call, made by the holder of the claim; the claim is released if it fails transiently."""
    actor = await svc.people.actor(user_id)
    comment = reason
    if decision == "approve" and len(deciders) > 1:
        comment = f"Approved in Slack by {await _names(svc, deciders)}"
    try:
        call = svc.platform.approve if decision == "approve" else svc.platform.reject
        return await call(task.id, actor, comment)
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
        if exc.status == 404:
            raise NotFound(f"The platform no longer has the approval task {task.id}.") from None
        raise Unavailable(render.platform_refused(exc.code, exc.message, then="Nothing was decided. Try again.")) from None
    except PlatformUnreachable as exc:
        await _release(svc, task.id, claim)
        raise Unavailable(f"The platform could not be reached ({exc}); nothing was decided. Try again in a minute.") \
            from None


async def prepare_reject(svc: Services, user_id: str, approval_id: str, shown: str | None) -> render.TaskView:
    """Before the reject modal opens: may this person reject it, and is it still pending?"""
    try:
        task, run = await _load(svc, approval_id)
        await _authorize(svc, user_id, task, run, "reject")
        if task.status != "pending":
            raise WrongStatus(_decided_words(task))
    except BotError as exc:
        if not isinstance(exc, NotAllowed):
            await audit.record_now(svc.sessions, user_id=user_id, action="approval.reject", target=approval_id,
                                   result=exc.result, message=exc.message)
        raise
    async with svc.sessions() as session:
        view = _view(svc, task, await _votes(session, task.id))
    if shown:
        view = view.with_fingerprint(shown)
    return view


async def tell(svc: Services, user_id: str, text: str) -> None:
    """Answer someone who clicked where there is no response_url (App Home): a direct message."""
    async with svc.sessions.begin() as session:
        await outbox.direct_message(session, user=user_id, payload={"text": text})
    svc.deliverer.kick()


# Expiry, reminders, time left, App Home (the scheduler, every min(TRACK_INTERVAL_SECONDS, 5) s)

async def expire_and_remind(svc: Services) -> None:
    now = utcnow()
    s = svc.settings
    async with svc.sessions.begin() as session:
        pending = list((await session.scalars(select(Approval).where(Approval.status == "pending")
                                              .order_by(Approval.expires_at))).all())
        for task in pending:
            if task.expires_at is not None and task.expires_at <= now:
                # Time ran out, whether or not the platform says so: expired, never rejected.
                task.status = "expired"
                task.decided_at = task.decided_at or task.expires_at
                log.info("approval %s expired at %s", task.id, task.expires_at)
            else:
                if task.deciding_by and _stale_claim(task, now):
                    log.warning("approval %s: releasing the decision claim %r, left by a process that stopped",
                                task.id, task.deciding_by)
                    task.deciding_by = None
                if (not task.reminded and task.expires_at is not None
                        and task.expires_at - timedelta(seconds=s.APPROVAL_REMINDER_SECONDS) <= now):
                    task.reminded = True
                    await _remind(session, svc, task, now)
            await _sync_cards(session, svc, task)
    await _republish_homes(svc)
    svc.deliverer.kick()


async def _remind(session: AsyncSession, svc: Services, task: Approval, now: datetime) -> None:
    s = svc.settings
    mentions = [mention(e) for e in s.APPROVERS]
    if s.APPROVAL_ESCALATION_GROUP:
        mentions.append(mention(s.APPROVAL_ESCALATION_GROUP))
    payload = render.reminder(_view(svc, task, await _votes(session, task.id)), mentions, now)
    for message in await _cards(session, task.id):
        await outbox.thread_reply(session, message, payload)


async def _pending_views(session: AsyncSession, svc: Services) -> list[render.TaskView]:
    tasks = (await session.scalars(select(Approval).where(Approval.status == "pending")
                                   .order_by(Approval.requested_at.desc(), Approval.id))).all()
    views = []
    for task in tasks:
        views.append(_view(svc, task, await _votes(session, task.id)))
    return views


async def pending_count(svc: Services) -> int:
    async with svc.sessions() as session:
        return await session.scalar(select(func.count()).select_from(Approval).where(Approval.status == "pending"))


async def inbox_blocks(svc: Services, user_id: str) -> list[dict]:
    """`/runs approvals`: the pending tasks with their buttons."""
    async with svc.sessions() as session:
        views = await _pending_views(session, svc)
    can_decide = await svc.people.is_member(user_id, svc.settings.APPROVERS)
    return render.inbox(views, utcnow(), can_decide=can_decide, approvers=describe(svc.settings.APPROVERS))


async def _publish_homes(svc: Services, users: list[str]) -> list[render.TaskView]:
    """Queue App Home for these people, each with a new version, rendered from the pending tasks read after
    their versions were locked: whichever publish takes a later version shows the newer state."""
    deciders = {user: await svc.people.is_member(user, svc.settings.APPROVERS) for user in users}
    approvers = describe(svc.settings.APPROVERS)
    async with svc.sessions.begin() as session:
        versions = {user: await outbox.next_home_version(session, user) for user in users}
        views = await _pending_views(session, svc)
        now = utcnow()
        for user in users:
            await outbox.publish_home(session, user=user, version=versions[user],
                                      view=home_view(views, now, can_decide=deciders[user], approvers=approvers))
    svc.deliverer.kick()
    return views


async def publish_home(svc: Services, user_id: str) -> None:
    """App Home for one person (on app_home_opened)."""
    await _publish_homes(svc, [user_id])


async def _approver_ids(svc: Services) -> list[str]:
    users: set[str] = set()
    for entry in svc.settings.APPROVERS:
        users |= await svc.people.members(entry) if entry.startswith("S") else {entry}
    return sorted(users)


def _signature(views: list[render.TaskView]) -> str:
    return hashlib.sha256(json.dumps([[v.id, v.fingerprint, v.votes] for v in views]).encode()).hexdigest()[:24]


async def _republish_homes(svc: Services) -> None:
    """When the set of pending tasks (or their counts) changes, approvers' App Home is published again."""
    async with svc.sessions() as session:
        views = await _pending_views(session, svc)
        known = await session.get(KeyValue, HOME_KEY)
    previous = (known.value or {}).get("signature") if known else None
    if previous == _signature(views) or (previous is None and not views):
        return
    views = await _publish_homes(svc, await _approver_ids(svc))
    async with svc.sessions.begin() as session:
        await session.merge(KeyValue(key=HOME_KEY, value={"signature": _signature(views), "count": len(views)}))
