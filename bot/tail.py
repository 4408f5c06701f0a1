"""Live log tails: `/runs tail RUN` (or the *Tail logs* button) posts a message that shows the run's latest log
lines and is edited in place while the run is active. A scheduler job of its own (`TAIL_INTERVAL_SECONDS`) asks
the platform for each tailed run's logs since the last line shown, once per interval, for at most
`TAIL_MAX_ACTIVE` tails; edits go through the outbox, which coalesces them within Slack's edit limits. A tail
ends at a terminal status, on `/runs untail RUN`, after `TAIL_MAX_SECONDS`, or as soon as Slack refuses its post
or an edit for good (the bot is not in the channel, the channel is archived, the message was deleted): then the
person who started it is told by direct message, and its run's logs are no longer asked for."""

from __future__ import annotations

import logging
from datetime import timedelta

from slack_sdk.errors import SlackApiError

from bot import outbox
from bot.contract import TERMINAL, parse_time
from bot.errors import BadInput
from bot.platform import PlatformError, PlatformUnreachable
from bot.render.tail import log_line, tail_message, tail_out_of_reach
from bot.services import Services
from store import tails as stored
from store.models import Run, SlackMessage, utcnow

log = logging.getLogger(__name__)

LOG_PAGE = 100


def _render(svc: Services, state: dict, *, status: str, ended: str | None = None) -> dict:
    return tail_message(
        run_id=state["run"],
        workflow=state.get("workflow") or "",
        status=status,
        lines=list(state.get("lines") or []),
        run_url=svc.settings.run_url,
        interval=svc.settings.TAIL_INTERVAL_SECONDS,
        started_by=state.get("by"),
        ended=ended,
        stopped_by=state.get("stopped_by"),
    )


async def out_of_reach(svc: Services, channel: str) -> str | None:
    """Slack's reason the bot cannot post in `channel` (it cannot see it, is not a member of a private one, or
    it is archived), or None when it may (a public channel without the bot is fine: chat:write.public). When
    Slack cannot say (a missing scope for direct messages, an outage), None too: the tail job ends a tail whose
    post Slack refuses."""
    try:
        info = (await svc.slack.conversations_info(channel=channel)).get("channel") or {}
    except SlackApiError as exc:
        error = str(exc.response.get("error") or "")
        return error if error in stored.OUT_OF_REACH else None
    except Exception:  # Slack unreachable: the outbox will find out
        return None
    if info.get("is_archived"):
        return "is_archived"
    if info.get("is_member") is False and (info.get("is_private") or info.get("is_im") or info.get("is_mpim")):
        return "not_in_channel"
    return None


async def start(svc: Services, session, *, run: Run, channel: str, user: str) -> str:
    """Post a tail of `run` in `channel`; returns what to tell the person. Refuses an ended run, a second tail
    of the same run in the same place, and more than `TAIL_MAX_ACTIVE` tails at once."""
    if run.status in TERMINAL:
        raise BadInput(
            f"`{run.id}` is {run.status}: there is nothing live to tail. Its logs: `/runs logs --run {run.id}`."
        )
    for tail in await stored.tails_of(session, run.id):
        if tail.channel == channel:
            return f"`{run.id}` is already tailed there; `/runs untail {run.id}` stops it."
    if await stored.active_count(session) >= svc.settings.TAIL_MAX_ACTIVE:
        raise BadInput(
            f"{svc.settings.TAIL_MAX_ACTIVE} tails are live already, the most this bot follows at once. "
            "Stop one with `/runs untail RUN`, or wait for one to end."
        )
    await stored.forget_ended(session, run.id, channel)
    state = {
        "run": run.id,
        "workflow": run.workflow_name,
        "by": user,
        "started": utcnow().isoformat(),
        "since": None,
        "seen": [],
        "lines": [],
        "status": run.status,
    }
    await outbox.post(
        session,
        channel=channel,
        payload=_render(svc, state, status=run.status),
        kind=stored.ACTIVE,
        subject=run.id,
        state=state,
    )
    return f"Tailing `{run.id}` until it ends; `/runs untail {run.id}` stops it."


async def stop(svc: Services, session, *, run_id: str, channel: str, user: str) -> int:
    """End the tails of `run_id` in `channel` (or, from anywhere, the ones `user` started); how many."""
    ended = 0
    for tail in await stored.tails_of(session, run_id):
        if tail.channel == channel or (tail.state or {}).get("by") == user:
            run = await session.get(Run, run_id)
            await _end(
                svc,
                session,
                tail,
                status=run.status if run else tail.state.get("status"),
                why="stopped",
                stopped_by=user,
            )
            ended += 1
    return ended


async def _end(svc: Services, session, tail: SlackMessage, *, status: str, why: str, stopped_by: str | None = None):
    state = {**(tail.state or {}), "status": status, "ended": why}
    if stopped_by:
        state["stopped_by"] = stopped_by
    tail.state = state
    tail.kind = stored.ENDED
    await outbox.update_message(session, tail, _render(svc, state, status=status, ended=why))


def _merge(state: dict, entries: list[dict], keep: int) -> bool:
    """Add the entries not shown yet, oldest first; True when a line was added."""
    seen = set(state.get("seen") or [])
    fresh = sorted(
        (e for e in entries if isinstance(e, dict) and e.get("id") not in seen),
        key=lambda e: (str(e.get("timestamp") or ""), str(e.get("id") or "")),
    )
    if not fresh:
        return False
    newest = str(fresh[-1].get("timestamp") or state.get("since") or "")
    state["lines"] = ([*state.get("lines", []), *(log_line(e) for e in fresh)])[-keep:]
    # `since` is inclusive: remember the ids at the newest timestamp so they are not shown twice.
    at_newest = [str(e.get("id")) for e in entries if isinstance(e, dict) and str(e.get("timestamp")) == newest]
    state["seen"] = at_newest if newest != state.get("since") else [*seen, *at_newest]
    state["since"] = newest
    return True


async def tick(svc: Services) -> int:
    """One round of the tail job: each live tail (up to the cap) asks for its new log lines once. Returns how
    many tails were edited."""
    s = svc.settings
    async with svc.sessions() as session:
        ids = [t.id for t in await stored.active_tails(session, limit=s.TAIL_MAX_ACTIVE)]
    edited = 0
    for tail_id in ids:
        async with svc.sessions() as session:
            tail = await session.get(SlackMessage, tail_id)
            if tail is None or tail.kind != stored.ACTIVE:
                continue
            state = dict(tail.state or {})
            refused = await stored.refusal(session, tail_id)
        if refused:
            await _out_of_reach(svc, tail_id, refused)
            continue
        try:
            page = await svc.platform.logs(run_id=state["run"], since=state.get("since"), limit=LOG_PAGE)
            entries = list(page.get("data") or [])
        except (PlatformError, PlatformUnreachable) as exc:
            log.warning("tail of %s: the platform's logs could not be read (%s); next interval", state["run"], exc)
            entries = []
        async with svc.sessions.begin() as session:
            tail = await session.get(SlackMessage, tail_id, with_for_update=True)
            if tail is None or tail.kind != stored.ACTIVE:
                continue
            state = {**(tail.state or {}), **{k: state[k] for k in ("since", "seen", "lines") if k in state}}
            changed = _merge(state, entries, s.TAIL_LINES)
            run = await session.get(Run, state["run"])
            status = run.status if run is not None else state.get("status")
            changed = changed or status != state.get("status")
            state["status"] = status
            started = parse_time(state.get("started")) or utcnow()
            if run is None:
                await _end(svc, session, tail, status=status or "unknown", why="gone")
            elif status in TERMINAL:
                await _end(svc, session, _with(tail, state), status=status, why="status")
            elif utcnow() - started > timedelta(seconds=s.TAIL_MAX_SECONDS):
                await _end(svc, session, _with(tail, state), status=status, why="time")
            elif changed:
                tail.state = state
                await outbox.update_message(session, tail, _render(svc, state, status=status))
            else:
                continue
            edited += 1
    return edited


async def _out_of_reach(svc: Services, tail_id: int, error: str) -> None:
    """Slack refused the tail's post or an edit for good: end it without another edit, and tell who started it."""
    async with svc.sessions.begin() as session:
        tail = await session.get(SlackMessage, tail_id, with_for_update=True)
        if tail is None or tail.kind != stored.ACTIVE:
            return
        state = {**(tail.state or {}), "ended": "refused", "refused": error}
        tail.state, tail.kind = state, stored.ENDED
        log.info("tail of %s in %s ended: Slack refused it (%s)", state.get("run"), tail.channel, error)
        if state.get("by"):
            text = tail_out_of_reach(str(state.get("run")), tail.channel, error)
            await outbox.direct_message(session, user=state["by"], payload={"text": text})


def _with(tail: SlackMessage, state: dict) -> SlackMessage:
    tail.state = state
    return tail
