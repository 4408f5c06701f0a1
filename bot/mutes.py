"""Mutes (issue 16): an operator mutes a workflow's alerts, or one workflow and error code, in one channel,
for a while or until unmuted. Muted failures are still stored, listed by `/runs failed` (marked) and counted
in the digest; the channel's next alert of that workflow says how many it did not show."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot import audit, outbox
from bot.actors import OPERATE, Actor, require
from bot.errors import BadInput, NotFound
from bot.render.lifecycle import mute_modal, mute_words, muted_line, muted_reply, unmuted_words
from bot.render.mrkdwn import Mrkdwn
from bot.services import Services
from store import lifecycle as store
from store import messages
from store.models import Mute, MutedFailure, Run, utcnow

log = logging.getLogger(__name__)


def choices(svc: Services) -> list[tuple[str, int]]:
    """The durations offered, from MUTE_DURATIONS_SECONDS, and "until unmuted" (0)."""
    return [(_label(s), s) for s in svc.settings.MUTE_DURATIONS_SECONDS] + [("until unmuted", 0)]


def _label(seconds: int) -> str:
    if seconds % 3600 == 0:
        h = seconds // 3600
        return f"{h} hour{'s' if h != 1 else ''}"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


async def open_form(svc: Services, actor: Actor, option: str, channel: str) -> dict:
    """The overflow menu's choice ("wf|run_…" or "code|run_…") to the Mute form, for operators."""
    scope, _, run_id = option.partition("|")
    if scope not in ("wf", "code") or not run_id:
        raise BadInput("That menu has lost what it was about; open the run with `/runs show RUN_ID`.")
    await require(svc, actor, OPERATE, action="alert_mute", target=run_id, what="mute alerts")
    async with svc.sessions() as session:
        run = await session.get(Run, run_id)
    if run is None:
        raise NotFound(f"No run `{run_id[:64]}` is known to the bot.")
    code = run.error_code if scope == "code" else None
    metadata = json.dumps({"run": run_id, "scope": scope, "channel": channel})
    return mute_modal(metadata, mute_words(run.workflow_name, code), choices(svc))


async def mute(svc: Services, actor: Actor, metadata: str, seconds: str) -> str:
    """The Mute form submitted: the mute stored, audited, and said in the alert's thread."""
    try:
        meta = json.loads(metadata)
        run_id, scope, channel = str(meta["run"]), meta["scope"], str(meta["channel"])
        seconds_n = int(seconds)
    except (ValueError, KeyError, TypeError):
        raise BadInput("This form lost its alert; close it and choose Mute again.") from None
    if seconds_n not in [s for _, s in choices(svc)]:
        raise BadInput("Choose one of the durations offered.")
    await require(svc, actor, OPERATE, action="alert_mute", target=run_id, what="mute alerts")
    now = utcnow()
    async with svc.sessions.begin() as session:
        run = await session.get(Run, run_id)
        if run is None:
            raise NotFound(f"No run `{run_id[:64]}` is known to the bot.")
        code = run.error_code if scope == "code" else None
        until = now + timedelta(seconds=seconds_n) if seconds_n else None
        row = Mute(channel=channel, workflow_id=run.workflow_id, error_code=code, until=until, created_by=actor.id)
        session.add(row)
        await session.flush()
        what = mute_words(run.workflow_name, code)
        await audit.record(
            session,
            user_id=actor.id,
            action="alert_mute",
            target=run.workflow_id,
            detail=f"{channel} {code or '*'} {seconds_n}s",
        )
        alert = await messages.message_of(session, "alert", run_id, channel)
        if alert is not None:
            await outbox.thread_reply(session, alert, muted_reply(actor.id, what, until, row.id))
    log.info("%s muted %s/%s in %s for %ss", actor.id, run.workflow_id, code or "*", channel, seconds_n)
    return f"Muted {what}."


async def unmute(svc: Services, actor: Actor, value: str) -> str:
    if not value.isdigit():
        raise BadInput("That Unmute button has lost its mute; type `/runs subscriptions` again.")
    await require(svc, actor, OPERATE, action="alert_unmute", target=value, what="unmute alerts")
    async with svc.sessions.begin() as session:
        row = await store.end_mute(session, int(value), utcnow())
        if row is None:
            return "That mute had already ended."
        await audit.record(session, user_id=actor.id, action="alert_unmute", target=row.workflow_id, detail=row.channel)
    return unmuted_words(row.workflow_id)


async def keep_quiet(session: AsyncSession, run: Run, channel: str) -> bool:
    """True when a mute of this channel covers the failure: it is recorded as muted, with no alert."""
    for row in await store.active_mutes(session, channel, run.workflow_id, utcnow()):
        if row.error_code is None or row.error_code == run.error_code:
            session.add(MutedFailure(channel=channel, run_id=run.id, workflow_id=run.workflow_id, mute_id=row.id))
            return True
    return False


async def untold_note(session: AsyncSession, run: Run, channel: str) -> Mrkdwn | None:
    """ "🔕 3 muted failures of this workflow since the last alert", once, on the next alert shown."""
    count = await store.take_untold(session, channel, run.workflow_id)
    return muted_line(count) if count else None
