"""`/runs` answers: the read-only subcommands (help, failed, list, show, logs, approvals, subscriptions,
audit) and the `Reply`/`Deferred` every subcommand answers with.

A subcommand answers with a `Reply` when the store can answer (fast enough for Slack's acknowledgement),
or with a `Deferred` when the platform must be asked: the listener acknowledges at once and the work
answers through `response_url`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from bot.actors import Actor
from bot.approvals.reactions import inbox_blocks
from bot.commands.grammar import DEFAULT_LIMIT, EXAMPLES, MAX_LIMIT, SUBCOMMANDS, Command, clip
from bot.commands.lookup import platform_run, stored_run
from bot.contract import parse_time, rfc3339
from bot.errors import BadInput, Unavailable, from_platform
from bot.lifecycle import marks_of
from bot.platform import PlatformError, PlatformUnreachable
from bot.render import lists, replies
from bot.render import runs as render
from bot.render.lifecycle import mutes_blocks
from bot.services import Services
from bot.views import view_of_listed, view_of_run
from store import queries
from store.lifecycle import channel_mutes
from store.models import utcnow


@dataclass
class Reply:
    payload: dict  # text and blocks
    share: bool = False
    shared_by: tuple[str, str] | None = None  # (who, what they typed) on a `--share` answer

    def message(self) -> dict:
        payload = replies.shared_by(self.payload, *self.shared_by) if self.share and self.shared_by else self.payload
        return {**payload, "response_type": "in_channel" if self.share else "ephemeral"}


@dataclass
class Deferred:
    """Work that asks the platform: acknowledged at once (with nothing shown), answered through response_url."""

    work: Callable[[], Awaitable[Reply]]
    share: bool = False


def text_reply(text: str, *, share: bool = False) -> Reply:
    return Reply(render.message(text), share)


async def do_help(svc: Services, actor: Actor, command: Command, channel: str) -> Reply:
    if command.args:
        sub = SUBCOMMANDS[command.args[0]]
        examples = [e for e in EXAMPLES if e.startswith(f"/runs {command.args[0]}")]
        return Reply(replies.help_message([(sub.usage, sub.summary)], examples), command.share)
    return Reply(replies.help_message([(s.usage, s.summary) for s in SUBCOMMANDS.values()], EXAMPLES), command.share)


# Run lists: keyset pages whose state rides in the Next page button


async def _workflow_id(svc: Services, conn, name_or_id: str | None) -> str | None:
    """The workflow `--workflow` names, read on the page's reader `conn`; BadInput in words when none or several."""
    if not name_or_id:
        return None
    found = await queries.workflow_ids(conn, name_or_id)
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise BadInput(
            f"Several workflows are named `{clip(name_or_id)}`: "
            + replies.workflow_ids(found[:10])
            + ". Give the id instead."
        )
    async with svc.sessions() as session:
        known = await queries.known_workflows(session, limit=25)
    names = (
        replies.workflow_names([(w.id, w.name) for w in known])
        or "none yet (the bot learns them from the platform's runs; try again in a minute)"
    )
    raise BadInput(f"No workflow `{clip(name_or_id)}` is known. Known workflows: {names}.")


def _since(flags: dict) -> datetime | None:
    delta = flags.get("since")
    return utcnow() - delta if delta else None


async def do_failed(svc: Services, actor: Actor, command: Command, channel: str) -> Reply:
    return await _failed(svc, svc.reader, command)  # the workflow's id and the page: the read path


async def _failed(svc: Services, conn, command: Command) -> Reply:
    workflow = await _workflow_id(svc, conn, command.flags.get("workflow"))
    state = {
        "k": "failed",
        "wf": workflow,
        "code": command.flags.get("code"),
        **_cost_state(command.flags),
        "open": bool(command.flags.get("open")),
        "since": rfc3339(_since(command.flags)),
        "n": command.flags.get("limit", DEFAULT_LIMIT),
        "q": command.line,
        "share": command.share,
    }
    return Reply(await list_page(svc, state, conn), command.share)


async def do_list(svc: Services, actor: Actor, command: Command, channel: str) -> Reply:
    return await _list(svc, svc.reader, command)  # the workflow's id and the page: the read path


async def _list(svc: Services, conn, command: Command) -> Reply:
    workflow = await _workflow_id(svc, conn, command.flags.get("workflow"))
    state = {
        "k": "list",
        "st": sorted(set(command.args)),
        "wf": workflow,
        "model": command.flags.get("model"),
        **_cost_state(command.flags),
        "since": rfc3339(_since(command.flags)),
        "n": command.flags.get("limit", DEFAULT_LIMIT),
        "q": command.line,
        "share": command.share,
    }
    return Reply(await list_page(svc, state, conn), command.share)


def _cost_state(flags: dict) -> dict:
    """`--min-cost` (kept in micro-dollars) and `--sort cost`, for the page state a Next page button carries."""
    state: dict = {}
    if flags.get("min-cost") is not None:
        state["mc"] = round(flags["min-cost"] * 1_000_000)
    if flags.get("sort") == "cost":
        state["sc"] = True
    return state


def _before(state: dict) -> tuple | None:
    if not state.get("b"):
        return None
    key, run_id = state["b"]
    if state.get("sc"):
        return (None if key is None else int(key)), str(run_id)
    return parse_time(key), str(run_id)


async def list_page(svc: Services, state: dict, conn=None) -> dict:
    """One page of `failed` or `list`; `state["b"]` is the (time or cost, id) of the previous page's last run.
    Read in one statement, a Core select of the listed columns (no ORM entities, no session), on `conn` or the
    read path (`store/reads.py`)."""
    if conn is None:
        conn = svc.reader
    limit = max(1, min(int(state.get("n") or DEFAULT_LIMIT), MAX_LIMIT))
    before = _before(state)
    since = parse_time(state.get("since"))
    by_cost, min_cost = bool(state.get("sc")), state.get("mc")
    min_cost = None if min_cost is None else int(min_cost)
    if state["k"] == "failed":
        rows = await queries.failed_runs(
            conn,
            since=since,
            workflow=state.get("wf"),
            code=state.get("code"),
            min_cost=min_cost,
            by_cost=by_cost,
            limit=limit + 1,
            before=before,
            open_only=bool(state.get("open")),
            marked=True,
            listed=True,
        )
        marks = marks_of((row.id, row if row.lc_run_id is not None else None, row.muted) for row in rows)
    else:
        marks = {}
        rows = await queries.list_runs(
            conn,
            statuses=state.get("st") or None,
            since=since,
            workflow=state.get("wf"),
            model=state.get("model"),
            min_cost=min_cost,
            by_cost=by_cost,
            limit=limit + 1,
            before=before,
            listed=True,
        )
    page, more = rows[:limit], len(rows) > limit
    next_value = None
    if more:
        last = page[-1]
        key = last.completed_at if state["k"] == "failed" else last.created_at
        key = last.cost_micros if by_cost else rfc3339(key)
        next_value = render.button_value({**state, "b": [key, last.id], "p": int(state.get("p", 1)) + 1})
    failed = state["k"] == "failed"
    title = "Failed runs" if failed else "Runs"
    if int(state.get("p", 1)) > 1:
        title += f", page {state['p']}"
    if min_cost is not None:
        hint = "Runs of unknown cost are left out by `--min-cost`; try a lower amount. "
    else:
        hint = ""
    hint += (
        "Try a longer `--since`, another `--workflow` or no `--code`."
        if failed
        else "Try other statuses, a longer `--since` or no filter."
    )
    if before is None and not page and not state.get("since") and not state.get("wf"):
        hint += " The bot may still be catching up with the platform: try again in a minute."
    return render.run_list(
        [view_of_listed(r) for r in page],
        title=title,
        understood=state.get("q") or "/runs",
        run_url=svc.settings.run_url,
        next_value=next_value,
        failed_view=failed,
        empty_hint=hint,
        order="costliest first, unknown cost last" if by_cost else "newest first",
        marks=marks,
    )


async def next_page(svc: Services, value: str) -> Reply | Deferred:
    """The Next page button: the state it carries, one page further."""
    try:
        state = json.loads(value)
        if not isinstance(state, dict) or state.get("k") not in ("failed", "list", "logs"):
            raise ValueError
    except (ValueError, TypeError):
        raise BadInput("That Next page button has lost its place; run the command again.") from None
    share = bool(state.get("share"))
    if state["k"] == "logs":
        return Deferred(lambda: _logs_page(svc, state), share)
    try:
        return Reply(await list_page(svc, state), share)
    except (KeyError, TypeError, ValueError, IndexError):
        raise BadInput("That Next page button has lost its place; run the command again.") from None


# One run


async def do_show(svc: Services, actor: Actor, command: Command, channel: str) -> Reply | Deferred:
    token = command.args[0]
    run = await stored_run(svc, token, row=True)
    if run is not None and "steps" in (run.data or {}):
        return Reply(render.run_detail(view_of_run(run), svc.settings.run_url), command.share)

    async def ask_platform() -> Reply:
        try:
            data = await platform_run(svc, run.id if run is not None else token)
        except Unavailable:
            if run is None:
                raise
            data = run.data  # the store's view is better than nothing while the platform is away
        return Reply(render.run_detail(view_of_run(data), svc.settings.run_url), command.share)

    return Deferred(ask_platform, command.share)


# Logs: not stored, asked of the platform


async def do_logs(svc: Services, actor: Actor, command: Command, channel: str) -> Reply | Deferred:
    run_id = command.flags.get("run")
    if run_id:
        run = await stored_run(svc, run_id)
        run_id = run.id if run is not None else (run_id if run_id.startswith("run_") else f"run_{run_id}")
    state = {
        "k": "logs",
        "sev": command.flags.get("severity"),
        "ev": command.flags.get("event"),
        "run": run_id,
        "since": rfc3339(_since(command.flags)),
        "n": command.flags.get("limit", 20),
        "q": command.line,
        "share": command.share,
    }
    return Deferred(lambda: _logs_page(svc, state), command.share)


async def _logs_page(svc: Services, state: dict) -> Reply:
    try:
        page = await svc.platform.logs(
            severity=state.get("sev"),
            event_type=state.get("ev"),
            run_id=state.get("run"),
            since=state.get("since"),
            limit=int(state.get("n") or 20),
            cursor=state.get("c"),
        )
    except (PlatformError, PlatformUnreachable) as exc:
        raise from_platform(exc, doing="the log search", unchanged="logs are not kept by the bot") from None
    cursor = page.get("next_cursor")
    next_value = render.button_value({**state, "c": cursor}) if cursor else None
    return Reply(
        lists.logs_list(
            page.get("data") or [],
            understood=state.get("q") or "/runs logs",
            run_url=svc.settings.run_url,
            next_value=next_value,
        ),
        bool(state.get("share")),
    )


# Approvals


async def do_approvals(svc: Services, actor: Actor, command: Command, channel: str) -> Reply:
    return Reply(render.message("Pending approval tasks", await inbox_blocks(svc, actor)), command.share)


# Subscriptions


async def do_subscriptions(svc: Services, actor: Actor, command: Command, channel: str) -> Reply:
    async with svc.sessions() as session:
        subs = await queries.channel_subscriptions(session, channel)
        muted = await channel_mutes(session, channel, utcnow())
        wf_ids = [s.workflow_id for s in subs] + [m.workflow_id for m in muted]
        names = {w.id: w.name for w in await queries.workflows_by_id(session, wf_ids)}
    payload = lists.subscriptions_list(
        channel,
        subs,
        names,
        alert_channel=svc.settings.ALERT_CHANNEL,
        approval_channel=svc.settings.APPROVAL_CHANNEL,
    )
    if muted:
        payload = {**payload, "blocks": payload["blocks"] + mutes_blocks(muted, names)}
        payload["text"] = f"{payload['text']} {len(muted)} mute(s) here."
    return Reply(payload, command.share)


# Audit


async def do_audit(svc: Services, actor: Actor, command: Command, channel: str) -> Reply:
    target = None
    if command.args:
        run = await stored_run(svc, command.args[0])
        target = run.id if run is not None else command.args[0]
    async with svc.sessions() as session:
        entries = await queries.audit_entries(
            session, target=target, since=_since(command.flags), limit=command.flags.get("limit", 20)
        )
        if not entries and target and not target.startswith("run_"):
            entries = await queries.audit_entries(
                session, target=f"run_{target}", since=_since(command.flags), limit=command.flags.get("limit", 20)
            )
        decided = await queries.approvals_by_id(
            session, [e.target for e in entries if e.action.startswith("approval.")]
        )
    approvals = {a.id: (a.action, a.run_id) for a in decided}
    return Reply(lists.audit_list(entries, understood=command.line, approvals=approvals), command.share)
