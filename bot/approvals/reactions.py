"""Approval cards as reactions to stored changes: a task arriving or changing (webhook, poll, decision), the
gated run's progress, reminders and expiry (the scheduler), the `/runs approvals` inbox and App Home.

A card is a SlackMessage (kind "approval", subject the task id) per approval channel, rebuilt whole from the
store on every change. Its buttons carry the fingerprint of the task as shown (kind, action, run, expiry):
a click re-reads the task from the platform and is refused when it changed (`bot/approvals/decisions.py`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timedelta

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from bot import home, outbox
from bot.actors import Actor
from bot.contract import parse_time, rfc3339
from bot.home_publish import home_key
from bot.people import describe, mention
from bot.render import approvals as render
from bot.render.metadata import approval_metadata
from bot.runs import RunChange
from bot.services import Services
from store import approvals as stored
from store.models import Approval, utcnow
from store.queries import approval_channels

log = logging.getLogger(__name__)


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


def task_view(svc: Services, task: Approval, votes: list[str], *, changed: bool = False) -> render.TaskView:
    s = svc.settings
    return render.TaskView(
        id=task.id,
        run_id=task.run_id,
        step_id=task.step_id,
        workflow_id=task.workflow_id,
        workflow_name=task.workflow_name,
        kind=task.kind,
        action=task.action,
        requested_by=task.requested_by,
        expires_at=task.expires_at,
        status=task.status,
        fingerprint=task.fingerprint or task_fingerprint(task),
        run_url=s.run_url(task.run_id),
        review_url=s.run_url(task.run_id, task.step_id),
        decided_by=task.decided_by,
        decided_at=task.decided_at,
        comment=task.comment,
        required=s.approvals_required(task.kind, task.workflow_id),
        votes=votes,
        console_only=task.kind in s.APPROVAL_CONSOLE_ONLY_KINDS,
        confirm=task.kind in s.APPROVAL_CONFIRM_KINDS,
        changed=changed,
    )


def _digest(payload: dict) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:24]


async def sync_cards(session: AsyncSession, svc: Services, task: Approval, *, changed: bool = False) -> None:
    """Post the card where it is missing (pending tasks) and rebuild every card whose content moved."""
    cards = await stored.cards(session, task.id)
    changed = changed or any((c.state or {}).get("changed") for c in cards)
    view = task_view(svc, task, await stored.votes(session, task.id), changed=changed)
    payload = {**render.card(view, utcnow()), "metadata": approval_metadata(view)}
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
            await outbox.post(
                session,
                channel=channel,
                payload=payload,
                kind=stored.CARD,
                subject=task.id,
                state={"digest": digest, "changed": changed, "run_id": task.run_id},
            )


# Entry points called by bot/events.py inside the event's transaction


async def on_task_change(
    session: AsyncSession, svc: Services, task: Approval, old_status: str | None, *, source: str
) -> None:
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
        await stored.drop_votes(session, task.id)
        log.info("approval %s changed on the platform after it was posted (%s); cards rebuilt", task.id, source)
    await sync_cards(session, svc, task, changed=changed)


async def on_run_change(session: AsyncSession, svc: Services, change: RunChange) -> None:
    """The gated run's progress follows in each card's thread."""
    if not change.status_changed or change.is_new or change.new_status in ("waiting", "pending"):
        return
    run = change.run
    cards = await stored.cards_of_run(session, run.id)
    if not cards:
        return
    payload = render.run_progress(
        run_id=run.id,
        run_url=svc.settings.run_url(run.id),
        status=run.status,
        completed_steps=run.completed_steps,
        total_steps=run.total_steps,
        error_code=run.error_code if run.status == "failed" else None,
    )
    for message in cards:
        await outbox.thread_reply(session, message, payload)


def stale_claim(task: Approval, now: datetime, stale_seconds: float) -> bool:
    """A claim whose holder died between the claim and the platform's answer (the call times out well before):
    older than APPROVAL_CLAIM_STALE_SECONDS."""
    try:
        at = int(task.deciding_by.split()[1])
    except (AttributeError, IndexError, ValueError):
        return False
    return now.timestamp() - at > stale_seconds


# Expiry, reminders, time left, App Home (the scheduler, every min(TRACK_INTERVAL_SECONDS, 5) s)


async def expire_and_remind(svc: Services) -> None:
    now = utcnow()
    s = svc.settings
    async with svc.sessions.begin() as session:
        for task in await stored.pending_by_expiry(session):
            if task.expires_at is not None and task.expires_at <= now:
                # Time ran out, whether or not the platform says so: expired, never rejected.
                task.status = "expired"
                task.decided_at = task.decided_at or task.expires_at
                log.info("approval %s expired at %s", task.id, task.expires_at)
            else:
                if task.deciding_by and stale_claim(task, now, s.APPROVAL_CLAIM_STALE_SECONDS):
                    log.warning(
                        "approval %s: releasing the decision claim %r, left by a process that stopped",
                        task.id,
                        task.deciding_by,
                    )
                    task.deciding_by = None
                if (
                    not task.reminded
                    and task.expires_at is not None
                    and task.expires_at - timedelta(seconds=s.APPROVAL_REMINDER_SECONDS) <= now
                ):
                    task.reminded = True
                    await _remind(session, svc, task, now)
            await sync_cards(session, svc, task)
    await _republish_homes(svc)


async def _remind(session: AsyncSession, svc: Services, task: Approval, now: datetime) -> None:
    s = svc.settings
    mentions = [mention(e) for e in s.APPROVERS]
    if s.APPROVAL_ESCALATION_GROUP:
        mentions.append(mention(s.APPROVAL_ESCALATION_GROUP))
    payload = render.reminder(task_view(svc, task, await stored.votes(session, task.id)), mentions, now)
    for message in await stored.cards(session, task.id):
        await outbox.thread_reply(session, message, payload)


async def _pending_views(session: AsyncSession, svc: Services) -> list[render.TaskView]:
    tasks = await stored.pending_newest_first(session)
    views = []
    for task in tasks:
        views.append(task_view(svc, task, await stored.votes(session, task.id)))
    return views


async def inbox_blocks(svc: Services, actor: Actor) -> list[dict]:
    """`/runs approvals`: the pending tasks, with their buttons for approvers."""
    async with svc.sessions() as session:
        views = await _pending_views(session, svc)
    # What needs deciding first leads: the soonest expiry, then tasks that never expire (newest first).
    views.sort(key=lambda v: (v.expires_at is None, v.expires_at or datetime.max))
    can_decide = await actor.is_approver()
    return render.inbox(views, utcnow(), can_decide=can_decide, approvers=describe(svc.settings.APPROVERS))


async def _publish_homes(svc: Services, actors: list[Actor]) -> list[render.TaskView]:
    """Queue App Home for these people, each with a new version, rendered from the store read after their
    versions were locked: whichever publish takes a later version shows the newer state."""
    deciders = {actor.id: await actor.is_approver() for actor in actors}
    channels = {actor.id: await svc.people.channels(actor.id) for actor in actors}  # Slack first, then the lock
    users = list(deciders)
    approvers = describe(svc.settings.APPROVERS)
    async with svc.sessions.begin() as session:
        versions = {user: await outbox.next_home_version(session, user) for user in users}
        views = await _pending_views(session, svc)
        now = utcnow()
        for user in users:
            view = await home.home_for(
                session,
                svc,
                user,
                views,
                can_decide=deciders[user],
                channels=channels[user],
                approvers=approvers,
                now=now,
            )
            await outbox.publish_home(session, user=user, version=versions[user], view=view)
    return views


async def refresh_homes(session: AsyncSession, svc: Services, change: RunChange) -> None:
    """A run's status moved: the App Home of those who watch or triggered it is published again once this
    transaction has committed (so it is rendered from the new state)."""
    users = await home.people_concerned(session, change, home_key)
    if users:
        refresh = lambda _session: svc.spawn(  # noqa: E731
            _publish_homes(svc, [Actor.of(svc, u) for u in users]), name="refresh App Home"
        )
        event.listen(session.sync_session, "after_commit", refresh, once=True)


async def publish_home(svc: Services, actor: Actor) -> None:
    """App Home for one person (on app_home_opened)."""
    await _publish_homes(svc, [actor])


async def refresh_homes_of_failure(svc: Services, actor: Actor, run_id: str | None) -> None:
    """Someone changed who handles a failure (on it, resolved): their App Home, and that of those who follow the
    run (watchers, who triggered it, who is on it), is published again, for those who have one."""
    async with svc.sessions() as session:
        users = await home.homes_to_refresh(session, {actor.id}, run_id, home_key)
    if users:
        await _publish_homes(svc, [actor if u == actor.id else Actor.of(svc, u) for u in users])


def republish_on_conflict(svc: Services):
    """The deliverer's `on_home_conflict` (bot/home_publish.py): render that person's App Home again from the store."""
    return lambda user: svc.spawn(publish_home(svc, Actor.of(svc, user)), name="republish App Home")


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
        previous = await stored.home_signature(session)
    if previous == _signature(views) or (previous is None and not views):
        return
    views = await _publish_homes(svc, [Actor.of(svc, user) for user in await _approver_ids(svc)])
    async with svc.sessions.begin() as session:
        await stored.set_home_signature(session, _signature(views), len(views))
