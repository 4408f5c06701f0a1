"""The `/runs` slash command: a pure parser, then one core function per subcommand.

A subcommand answers with a `Reply` when the store can answer (fast enough for Slack's acknowledgement),
or with a `Deferred` when the platform must be asked: the listener acknowledges at once and the work
answers through `response_url`. Every refusal and every bad input is a `BotError` in words.
"""

from __future__ import annotations

import difflib
import json
import re
import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot import audit, control
from bot.contract import ALLOWED_FROM, RUN_STATUSES, TERMINAL
from bot.errors import BadInput, NotAllowed, NotFound, Unavailable, WrongStatus
from bot.people import describe
from bot.platform import PlatformError, PlatformUnreachable
from bot.render import runs as render
from bot.views import view_of_approval, view_of_run
from bot.runs import parse_time, rfc3339
from bot.services import Services
from store import queries
from store.models import Run, Subscription, Watch, Workflow, utcnow

MAX_LIMIT = 50
DEFAULT_LIMIT = 10
MAX_DURATION = timedelta(days=3650)
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
DURATION = re.compile(r"^(\d{1,7})\s*(s|sec|secs|m|min|mins|h|hr|hrs|d|day|days|w|wk|wks)$", re.IGNORECASE)
DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
SEVERITIES = ("debug", "info", "warn", "error")
LOG_EVENTS = ("run.created", "run.started", "run.step.started", "run.step.completed", "run.step.failed",
              "run.paused", "run.resumed", "run.completed", "run.failed", "run.cancelled",
              "approval.requested", "approval.decided", "approval.expired")
QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "«": '"', "»": '"', "‘": "'", "’": "'", "‚": "'"})


# Parsing (pure)

@dataclass(frozen=True)
class Sub:
    usage: str
    summary: str
    args: tuple[int, int | None] = (0, 0)  # least and most positional arguments (None: any)
    flags: dict[str, str] = field(default_factory=dict)  # name -> kind: duration, limit, text, bool, severity, event, run
    arg_kind: str = ""  # run, status, workflow, topic


SUBCOMMANDS: dict[str, Sub] = {
    "help": Sub("/runs help [SUBCOMMAND]", "this help, or one subcommand's", (0, 1), arg_kind="topic"),
    "failed": Sub("/runs failed [--since 24h] [--workflow NAME] [--code ERROR_CODE] [--limit N]",
                  "failed runs, newest first, with the first failed step and its error code",
                  flags={"since": "duration", "workflow": "text", "code": "text", "limit": "limit"}),
    "list": Sub("/runs list [STATUS ...] [--since 24h] [--workflow NAME] [--model NAME] [--limit N]",
                "runs of any status (pending, running, waiting, paused, completed, failed, cancelled)", (0, None),
                flags={"since": "duration", "workflow": "text", "model": "text", "limit": "limit"}, arg_kind="status"),
    "show": Sub("/runs show RUN_ID", "a run's overview, progress, trigger payload and step timeline", (1, 1),
                arg_kind="run"),
    "logs": Sub("/runs logs [--severity error] [--event run.failed] [--run RUN_ID] [--since 1h] [--limit N]",
                "search the platform's logs across runs",
                flags={"severity": "severity", "event": "event", "run": "run", "since": "duration", "limit": "limit"}),
    "pause": Sub("/runs pause RUN_ID", "pause a running or waiting run (operators)", (1, 1), arg_kind="run"),
    "resume": Sub("/runs resume RUN_ID", "resume a paused run (operators)", (1, 1), arg_kind="run"),
    "cancel": Sub("/runs cancel RUN_ID", "cancel a run in flight, after a confirmation (operators)", (1, 1),
                  arg_kind="run"),
    "replay": Sub("/runs replay RUN_ID [--prompt TEXT] [--model NAME]",
                  "re-run a finished run as-is or with a new prompt or model (operators)", (1, 1),
                  flags={"prompt": "text", "model": "text"}, arg_kind="run"),
    "approvals": Sub("/runs approvals", "approval tasks waiting for a decision"),
    "subscribe": Sub("/runs subscribe WORKFLOW [--failures] [--approvals]",
                     "send this channel a workflow's failure alerts (default) and/or approval cards (operators)",
                     (1, None), flags={"failures": "bool", "approvals": "bool"}, arg_kind="workflow"),
    "unsubscribe": Sub("/runs unsubscribe WORKFLOW [--failures] [--approvals]",
                       "stop them (both when no flag is given) (operators)", (1, None),
                       flags={"failures": "bool", "approvals": "bool"}, arg_kind="workflow"),
    "subscriptions": Sub("/runs subscriptions", "what this channel receives"),
    "watch": Sub("/runs watch RUN_ID", "follow a run by direct message until it ends", (1, 1), arg_kind="run"),
    "unwatch": Sub("/runs unwatch RUN_ID", "stop following it", (1, 1), arg_kind="run"),
    "audit": Sub("/runs audit [RUN_ID] [--since 7d] [--limit N]", "who did what from Slack, and the result",
                 (0, 1), flags={"since": "duration", "limit": "limit"}, arg_kind="run"),
}
ALIASES = {"ls": "list", "failures": "failed", "fail": "failed", "log": "logs", "subs": "subscriptions",
           "approval": "approvals", "get": "show", "info": "show", "retry": "replay", "stop": "cancel",
           "?": "help", "-h": "help", "--help": "help"}
STATUS_ALIASES = {"canceled": "cancelled", "done": "completed", "succeeded": "completed", "success": "completed",
                  "error": "failed", "errored": "failed", "queued": "pending", "active": "running"}
EXAMPLES = ("/runs failed --since 24h", "/runs failed --workflow \"Invoice triage\" --code provider_rate_limited",
            "/runs list running waiting --limit 20", "/runs show 7Kq2", "/runs logs --severity error --since 1h",
            "/runs replay 7Kq2 --model gpt-4.1", "/runs subscribe wf_invoices --failures --approvals",
            "/runs watch 7Kq2", "/runs audit --since 7d")
SHARE = "share"


@dataclass
class Command:
    name: str
    args: list[str]
    flags: dict[str, Any]
    share: bool = False

    @property
    def line(self) -> str:
        """The command as understood, to echo back."""
        parts = ["/runs", self.name, *(shlex.quote(a) for a in self.args)]
        for name, value in self.flags.items():
            if value is True:
                parts.append(f"--{name}")
            else:
                parts.append(f"--{name} {shlex.quote(_flag_text(value))}")
        if self.share:
            parts.append("--share")
        return " ".join(parts)


def _flag_text(value: Any) -> str:
    if isinstance(value, timedelta):
        return _duration_words(value)
    return str(value)


def _duration_words(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_duration(text: str) -> timedelta:
    match = DURATION.match(text.strip())
    if not match:
        raise BadInput(f"`{_clip(text)}` is not a duration. Durations read as `30m`, `24h` or `7d`.")
    amount, unit = int(match.group(1)), match.group(2).lower()[0]
    delta = timedelta(**{DURATION_UNITS[unit]: amount})
    if delta <= timedelta(0):
        raise BadInput(f"`{_clip(text)}` is an empty duration. Durations read as `30m`, `24h` or `7d`.")
    if delta > MAX_DURATION:
        raise BadInput(f"`{_clip(text)}` reaches back more than ten years; the store keeps far less. Try `30d`.")
    return delta


def _clip(text: str, limit: int = 80) -> str:
    return render.typed(text, limit)


def normalize(text: str) -> str:
    """What Slack clients do to typed text, undone: HTML escapes, curly quotes, `--` turned into a dash."""
    text = (text or "").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").translate(QUOTES)
    return re.sub(r"(^|\s)[—–](?=\w)", r"\1--", text).strip()


def tokenize(text: str) -> list[str]:
    try:
        return shlex.split(text, posix=True)
    except ValueError as exc:
        problem = "a quote is not closed" if "quotation" in str(exc) else "a backslash ends the text"
        raise BadInput(f"I could not read `/runs {_clip(text)}`: {problem}. Put text with spaces in straight "
                       "double quotes, for example `/runs replay 7Kq2 --prompt \"Summarise in French\"`.") from None


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" Did you mean `{close[0]}`?" if close else ""


def parse(text: str) -> Command:
    """`/runs` text to a Command; raises BadInput saying what was understood and what to type instead."""
    tokens = tokenize(normalize(text))
    if not tokens:
        return Command("help", [], {})
    word = tokens[0]
    name = ALIASES.get(word.lower(), word.lower())
    if name not in SUBCOMMANDS:
        hint = _suggest(name, list(SUBCOMMANDS))
        if not hint and RUN_ID.match(word) and word.startswith("run_"):
            hint = f" To see that run, type `/runs show {_clip(word)}`."
        raise BadInput(f"`/runs {_clip(word)}` is not a subcommand I know.{hint} "
                       f"Type `/runs help` for the list; subcommands: {', '.join(SUBCOMMANDS)}.")
    sub = SUBCOMMANDS[name]
    args: list[str] = []
    flags: dict[str, Any] = {}
    share = False
    rest = tokens[1:]
    i = 0
    while i < len(rest):
        token = rest[i]
        i += 1
        if token.startswith("--") and len(token) > 2:
            flag, _, inline = token[2:].partition("=")
            flag = flag.lower()
            if flag == SHARE:
                share = True
                continue
            kind = sub.flags.get(flag)
            if kind is None:
                known = ", ".join(f"`--{f}`" for f in (*sub.flags, SHARE))
                raise BadInput(f"`/runs {name}` has no `--{_clip(flag, 40)}` flag.{_suggest(flag, list(sub.flags))} "
                               f"It takes {known}. Usage: `{sub.usage}`.")
            if kind == "bool":
                flags[flag] = True
                continue
            if inline == "" and "=" not in token:
                if i >= len(rest) or (rest[i].startswith("--") and len(rest[i]) > 2):
                    raise BadInput(f"`--{flag}` needs a value, for example `{_flag_example(name, flag)}`. "
                                   f"Usage: `{sub.usage}`.")
                inline = rest[i]
                i += 1
            flags[flag] = _flag_value(name, flag, kind, inline)
        elif token.startswith("-") and len(token) > 1 and not token.lstrip("-").isdigit():
            raise BadInput(f"`{_clip(token)}` is not a flag I read: flags start with two dashes, like "
                           f"`-{_clip(token.lstrip('-') or 'share')}`. Usage: `{sub.usage}`.")
        else:
            args.append(token)
    low, high = sub.args
    if sub.arg_kind == "workflow" and args:
        args = [" ".join(args)]  # an unquoted name with spaces is still one workflow
    if len(args) < low:
        raise BadInput(f"`/runs {name}` needs {_what(sub.arg_kind)}. Usage: `{sub.usage}`, for example "
                       f"`{_example(name)}`.")
    if high is not None and len(args) > high:
        extra = " ".join(args[high:])
        raise BadInput(f"I understood `/runs {name}{(' ' + ' '.join(args[:high])) if high else ''}`, but not "
                       f"`{_clip(extra)}`. Usage: `{sub.usage}`.")
    if sub.arg_kind == "run":
        args = [check_run_id(a) for a in args]
    elif sub.arg_kind == "status":
        args = [_status(a) for a in args]
    elif sub.arg_kind == "topic" and args:
        topic = ALIASES.get(args[0].lower(), args[0].lower())
        if topic not in SUBCOMMANDS:
            raise BadInput(f"There is no `/runs {_clip(args[0])}` to explain.{_suggest(topic, list(SUBCOMMANDS))} "
                           "Type `/runs help` for every subcommand.")
        args = [topic]
    return Command(name, args, flags, share)


def _what(kind: str) -> str:
    return {"run": "a run ID (or a unique prefix of one)", "workflow": "a workflow's id or name"}.get(kind, "an argument")


def _example(name: str) -> str:
    return next((e for e in EXAMPLES if e.startswith(f"/runs {name} ")), f"/runs {name} 7Kq2")


def _flag_example(name: str, flag: str) -> str:
    sample = {"since": "24h", "workflow": "\"Invoice triage\"", "code": "provider_rate_limited", "limit": "20",
              "model": "gpt-4.1", "severity": "error", "event": "run.failed", "run": "7Kq2",
              "prompt": "\"Summarise in French\""}
    return f"/runs {name} --{flag} {sample.get(flag, 'VALUE')}"


def _status(word: str) -> str:
    status = STATUS_ALIASES.get(word.lower(), word.lower())
    if status not in RUN_STATUSES:
        raise BadInput(f"`{_clip(word)}` is not a run status.{_suggest(status, list(RUN_STATUSES))} "
                       f"Statuses: {', '.join(RUN_STATUSES)}; for example `/runs list running waiting`.")
    return status


def check_run_id(token: str) -> str:
    if not RUN_ID.match(token):
        raise BadInput(f"`{_clip(token)}` does not look like a run ID. Run IDs look like `run_7Kq2x9`; a unique "
                       "prefix such as `7Kq2` works too.")
    return token


def _flag_value(name: str, flag: str, kind: str, value: str) -> Any:
    if kind == "duration":
        try:
            return parse_duration(value)
        except BadInput as exc:
            raise BadInput(f"{exc.message} For example `{_flag_example(name, flag)}`.") from None
    if kind == "limit":
        if not value.strip().isdigit() or not 1 <= int(value.strip()[:6]) <= MAX_LIMIT:
            raise BadInput(f"`--limit` takes a number from 1 to {MAX_LIMIT}, not `{_clip(value)}`; "
                           f"for example `{_flag_example(name, flag)}`.")
        return int(value.strip())
    if kind == "severity":
        severity = {"warning": "warn", "err": "error", "fatal": "error"}.get(value.lower(), value.lower())
        if severity not in SEVERITIES:
            raise BadInput(f"`--severity` is one of {', '.join(SEVERITIES)} (the least severe to show), "
                           f"not `{_clip(value)}`.")
        return severity
    if kind == "event":
        event = value.lower()
        if event not in LOG_EVENTS:
            raise BadInput(f"`{_clip(value)}` is not a log event type.{_suggest(event, list(LOG_EVENTS))} "
                           f"Event types: {', '.join(LOG_EVENTS)}.")
        return event
    if kind == "run":
        return check_run_id(value)
    if not value.strip():
        raise BadInput(f"`--{flag}` needs a value, for example `{_flag_example(name, flag)}`.")
    return value


# Answers

@dataclass
class Reply:
    payload: dict  # text and blocks
    share: bool = False

    def message(self) -> dict:
        return {**self.payload, "response_type": "in_channel" if self.share else "ephemeral"}


@dataclass
class Deferred:
    """Work that asks the platform: acknowledged at once, answered through response_url."""

    work: Callable[[], Awaitable[Reply]]
    share: bool = False
    notice: str = "Working on it…"


@dataclass
class Caller:
    user_id: str
    channel_id: str


def text_reply(text: str, *, share: bool = False) -> Reply:
    return Reply(render.message(text), share)


async def answer(svc: Services, caller: Caller, text: str) -> Reply | Deferred:
    """The `/runs` command: parse, then the subcommand's core function."""
    command = parse(text)
    return await HANDLERS[command.name](svc, caller, command)


async def do_help(svc: Services, caller: Caller, command: Command) -> Reply:
    if command.args:
        sub = SUBCOMMANDS[command.args[0]]
        examples = [e for e in EXAMPLES if e.startswith(f"/runs {command.args[0]}")]
        return Reply(render.help_message([(sub.usage, sub.summary)], examples), command.share)
    return Reply(render.help_message([(s.usage, s.summary) for s in SUBCOMMANDS.values()], EXAMPLES), command.share)


# Run lists: keyset pages whose state rides in the Next page button

async def _workflow_id(session, name_or_id: str | None) -> str | None:
    if not name_or_id:
        return None
    found = await queries.resolve_workflow(session, name_or_id)
    if len(found) == 1:
        return found[0].id
    if len(found) > 1:
        raise BadInput(f"Several workflows are named `{_clip(name_or_id)}`: "
                       + render.workflow_ids([w.id for w in found[:10]]) + ". Give the id instead.")
    known = await queries.known_workflows(session, limit=25)
    names = render.workflow_names([(w.id, w.name) for w in known]) or "none yet (run `runbot sync`)"
    raise BadInput(f"No workflow `{_clip(name_or_id)}` is known. Known workflows: {names}.")


def _since(flags: dict) -> datetime | None:
    delta = flags.get("since")
    return utcnow() - delta if delta else None


async def do_failed(svc: Services, caller: Caller, command: Command) -> Reply:
    async with svc.sessions() as session:
        workflow = await _workflow_id(session, command.flags.get("workflow"))
    state = {"k": "failed", "wf": workflow, "code": command.flags.get("code"),
             "since": rfc3339(_since(command.flags)), "n": command.flags.get("limit", DEFAULT_LIMIT),
             "q": command.line, "share": command.share}
    return Reply(await list_page(svc, state), command.share)


async def do_list(svc: Services, caller: Caller, command: Command) -> Reply:
    async with svc.sessions() as session:
        workflow = await _workflow_id(session, command.flags.get("workflow"))
    state = {"k": "list", "st": sorted(set(command.args)), "wf": workflow, "model": command.flags.get("model"),
             "since": rfc3339(_since(command.flags)), "n": command.flags.get("limit", DEFAULT_LIMIT),
             "q": command.line, "share": command.share}
    return Reply(await list_page(svc, state), command.share)


async def list_page(svc: Services, state: dict) -> dict:
    """One page of `failed` or `list`; `state["b"]` is the (time, id) of the previous page's last run."""
    limit = max(1, min(int(state.get("n") or DEFAULT_LIMIT), MAX_LIMIT))
    before = (parse_time(state["b"][0]), str(state["b"][1])) if state.get("b") else None
    since = parse_time(state.get("since"))
    async with svc.sessions() as session:
        if state["k"] == "failed":
            rows = await queries.failed_runs(session, since=since, workflow=state.get("wf"), code=state.get("code"),
                                             limit=limit + 1, before=before)
        else:
            rows = await queries.list_runs(session, statuses=state.get("st") or None, since=since,
                                           workflow=state.get("wf"), model=state.get("model"), limit=limit + 1,
                                           before=before)
    page, more = rows[:limit], len(rows) > limit
    next_value = None
    if more:
        last = page[-1]
        key = last.completed_at if state["k"] == "failed" else last.created_at
        next_value = render.button_value({**state, "b": [rfc3339(key), last.id], "p": int(state.get("p", 1)) + 1})
    failed = state["k"] == "failed"
    title = "Failed runs" if failed else "Runs"
    if int(state.get("p", 1)) > 1:
        title += f", page {state['p']}"
    hint = ("Try a longer `--since`, another `--workflow` or no `--code`." if failed
            else "Try other statuses, a longer `--since` or no filter.")
    if before is None and not page and not state.get("since") and not state.get("wf"):
        hint += " The store may still be filling: `runbot sync` fills it from the platform."
    return render.run_list([view_of_run(r) for r in page], title=title, understood=state.get("q") or "/runs", run_url=svc.settings.run_url,
                           next_value=next_value, failed_view=failed, empty_hint=hint)


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


# Resolving run IDs as git resolves commits: a unique prefix, case-sensitive, `run_` optional

def _ambiguous(token: str, ids: list[str]) -> BadInput:
    shown = ", ".join(f"`{i}`" for i in ids[:5])
    more = " and more" if len(ids) > 5 else ""
    return BadInput(f"`{token}` matches several runs: {shown}{more}. Type more characters of the one you mean.")


def _pick(token: str, ids: list[str]) -> str | None:
    exact = [i for i in ids if i in (token, f"run_{token}")]
    if exact:
        return exact[0]
    if len(ids) > 1:
        raise _ambiguous(token, ids)
    return ids[0] if ids else None


async def stored_run(svc: Services, token: str) -> Run | None:
    """The stored run a token names; None when the store has none; BadInput when ambiguous."""
    async with svc.sessions() as session:
        rows = await queries.runs_by_prefix(session, token, limit=6)
    # A case-insensitive or linguistic collation may widen the range: git's rule is a plain prefix.
    rows = [r for r in rows if r.id.startswith(token) or r.id.startswith(f"run_{token}")]
    run_id = _pick(token, [r.id for r in rows])
    return next((r for r in rows if r.id == run_id), None)


async def platform_run(svc: Services, token: str) -> dict:
    """Ask the platform for a run the store does not know, by exact id or by prefix."""
    try:
        candidates = [token] if token.startswith("run_") else [f"run_{token}", token]
        for candidate in candidates:
            try:
                return await svc.platform.get_run(candidate)
            except PlatformError as exc:
                if exc.status != 404:
                    raise
        ids: list[str] = []
        for candidate in candidates:
            page = await svc.platform.list_runs(run_id=candidate, limit=6)
            ids.extend(r["id"] for r in page.get("data", []) if r["id"] not in ids)
        run_id = _pick(token, ids)
        if run_id is None:
            raise NotFound(f"No run `{token}` in the bot's store or on the platform. Check the ID, or find it with "
                           "`/runs list` or `/runs failed`.")
        return await svc.platform.get_run(run_id)
    except PlatformError as exc:
        raise Unavailable(f"The platform refused the lookup of `{token}`: {exc.code}: {exc.message}") from None
    except PlatformUnreachable as exc:
        raise Unavailable(f"The platform could not be reached to look up `{token}` ({exc}). "
                          "Try again in a minute.") from None


async def resolve_run_id(svc: Services, token: str) -> str:
    run = await stored_run(svc, token)
    return run.id if run is not None else str((await platform_run(svc, token))["id"])


# One run

async def do_show(svc: Services, caller: Caller, command: Command) -> Reply | Deferred:
    token = command.args[0]
    run = await stored_run(svc, token)
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


async def do_control(svc: Services, caller: Caller, command: Command) -> Reply | Deferred:
    """pause, resume: act after the ack; a terminal run is answered at once without the platform."""
    action, token = command.name, command.args[0]
    run = await stored_run(svc, token)
    if run is not None and run.status in TERMINAL and run.status not in ALLOWED_FROM[action]:
        await control.act(svc, caller.user_id, action, run.id)  # raises WrongStatus, audited, no platform call
    return Deferred(lambda: act_reply(svc, caller.user_id, action, run.id if run else token, share=command.share),
                    command.share)


async def act_reply(svc: Services, user_id: str, action: str, token: str, *, share: bool = False,
                    prompt: str | None = None, model: str | None = None) -> Reply:
    # The role first: a crafted button naming any run, real or not, gets no further than a refusal.
    await control.require_operator(svc, user_id, action, token)
    run_id = await resolve_run_id(svc, token)
    result = await control.act(svc, user_id, action, run_id, prompt=prompt, model=model)
    return Reply(render.control_result(action, run_id, view_of_run(result), svc.settings.run_url, user_id), share)


async def do_cancel(svc: Services, caller: Caller, command: Command) -> Reply | Deferred:
    token = command.args[0]
    run = await stored_run(svc, token)
    if run is not None:
        if run.status in TERMINAL:
            await control.act(svc, caller.user_id, "cancel", run.id)  # raises WrongStatus without the platform
        return Reply(render.cancel_confirm(run.id, run.status, run.workflow_name), command.share)

    async def ask_platform() -> Reply:
        data = await platform_run(svc, token)
        if data["status"] in TERMINAL:
            await control.act(svc, caller.user_id, "cancel", data["id"])  # refused and audited, nothing sent
        return Reply(render.cancel_confirm(data["id"], data["status"], (data.get("workflow") or {}).get("name", "")),
                     command.share)

    return Deferred(ask_platform, command.share)


async def do_replay(svc: Services, caller: Caller, command: Command) -> Reply | Deferred:
    token = command.args[0]
    prompt, model = command.flags.get("prompt"), command.flags.get("model")
    run = await stored_run(svc, token)

    def build(run_id: str, status: str, workflow: str) -> Reply:
        if status not in TERMINAL:
            raise WrongStatus(control.status_refusal(run_id, status, "replay") + ". Replay it once it has ended.")
        if not prompt and not model:
            return Reply(render.replay_choice(run_id, status, workflow), command.share)
        value = render.button_value({"run": run_id, "prompt": prompt, "model": model})
        if value is None:
            raise BadInput("That prompt is too long to carry in a button. Type `/runs replay "
                           f"{run_id}` and choose *Replay with changes…* to edit it in a form.")
        return Reply(render.replay_confirm(run_id, prompt, model, value), command.share)

    if run is not None and run.status in TERMINAL:
        return build(run.id, run.status, run.workflow_name)

    async def ask_platform() -> Reply:
        data = await platform_run(svc, run.id if run is not None else token)
        return build(str(data["id"]), str(data["status"]), (data.get("workflow") or {}).get("name", ""))

    return Deferred(ask_platform, command.share)


# Logs: not stored, asked of the platform

async def do_logs(svc: Services, caller: Caller, command: Command) -> Reply | Deferred:
    run_id = command.flags.get("run")
    if run_id:
        run = await stored_run(svc, run_id)
        run_id = run.id if run is not None else (run_id if run_id.startswith("run_") else f"run_{run_id}")
    state = {"k": "logs", "sev": command.flags.get("severity"), "ev": command.flags.get("event"), "run": run_id,
             "since": rfc3339(_since(command.flags)), "n": command.flags.get("limit", 20), "q": command.line,
             "share": command.share}
    return Deferred(lambda: _logs_page(svc, state), command.share)


async def _logs_page(svc: Services, state: dict) -> Reply:
    try:
        page = await svc.platform.logs(severity=state.get("sev"), event_type=state.get("ev"), run_id=state.get("run"),
                                       since=state.get("since"), limit=int(state.get("n") or 20),
                                       cursor=state.get("c"))
    except PlatformError as exc:
        raise Unavailable(f"The platform refused the log search ({exc.code}): {exc.message}") from None
    except PlatformUnreachable as exc:
        raise Unavailable(f"The platform could not be reached for its logs ({exc}). Logs are not kept by the bot; "
                          "try again in a minute.") from None
    cursor = page.get("next_cursor")
    next_value = render.button_value({**state, "c": cursor}) if cursor else None
    return Reply(render.logs_list(page.get("data") or [], understood=state.get("q") or "/runs logs",
                                  run_url=svc.settings.run_url, next_value=next_value), bool(state.get("share")))


# Approvals

async def do_approvals(svc: Services, caller: Caller, command: Command) -> Reply:
    from bot import approvals

    inbox = getattr(approvals, "inbox_blocks", None)
    if inbox is not None:
        blocks = await inbox(svc, caller.user_id)
        return Reply(render.message("Pending approval tasks", blocks), command.share)
    async with svc.sessions() as session:
        tasks = await queries.pending_approvals(session, limit=25)
    return Reply(render.approvals_list([view_of_approval(t) for t in tasks], svc.settings.run_url), command.share)


# Subscriptions: operators only, audited

async def _require_operator(svc: Services, caller: Caller, action: str, target: str | None, what: str) -> None:
    if not await svc.people.is_member(caller.user_id, svc.settings.OPERATORS):
        await audit.record_now(svc.sessions, user_id=caller.user_id, action=action, target=target,
                               detail=f"channel {caller.channel_id}", result="refused", message="not an operator")
        raise NotAllowed(f"Only operators may {what}. Operators: {describe(svc.settings.OPERATORS)}.")


async def do_subscribe(svc: Services, caller: Caller, command: Command) -> Reply | Deferred:
    name = command.name
    target = command.args[0]
    await _require_operator(svc, caller, name, target, f"{name} channels")
    async with svc.sessions() as session:
        found = await queries.resolve_workflow(session, target)
    if len(found) > 1:
        raise BadInput(f"Several workflows are named `{_clip(target)}`: "
                       + render.workflow_ids([w.id for w in found[:10]]) + ". Give the id instead.")
    if found:
        return await _subscribe(svc, caller, command, found[0].id, found[0].name)

    async def ask_platform() -> Reply:
        try:
            workflows = await svc.platform.workflows()
        except (PlatformError, PlatformUnreachable) as exc:
            raise Unavailable(f"No workflow `{_clip(target)}` is in the store and the platform could not be asked "
                              f"({exc}). Try again in a minute.") from None
        folded = target.casefold()
        match = [w for w in workflows if w.get("id") == target] or \
                [w for w in workflows if str(w.get("name", "")).casefold() == folded]
        if len(match) != 1:
            names = render.workflow_names([(w.get("id"), w.get("name")) for w in workflows[:25]]) or "none"
            detail = "several match" if match else "none matches"
            await audit.record_now(svc.sessions, user_id=caller.user_id, action=name, target=target,
                                   detail=f"channel {caller.channel_id}", result="not_found", message=detail)
            raise BadInput(f"No single workflow is `{_clip(target)}` ({detail}). Workflows: {names}.")
        async with svc.sessions.begin() as session:
            await session.merge(Workflow(id=match[0]["id"], name=match[0].get("name") or match[0]["id"]))
        return await _subscribe(svc, caller, command, match[0]["id"], match[0].get("name") or match[0]["id"])

    return Deferred(ask_platform, command.share)


async def _subscribe(svc: Services, caller: Caller, command: Command, workflow_id: str, workflow_name: str) -> Reply:
    failures, approvals = bool(command.flags.get("failures")), bool(command.flags.get("approvals"))
    subscribing = command.name == "subscribe"
    if not failures and not approvals:
        failures, approvals = (True, False) if subscribing else (True, True)
    async with svc.sessions.begin() as session:
        sub = await session.get(Subscription, (caller.channel_id, workflow_id))
        if subscribing:
            if sub is None:
                sub = Subscription(channel=caller.channel_id, workflow_id=workflow_id, failures=False,
                                   approvals=False, created_by=caller.user_id)
                session.add(sub)
            sub.failures = sub.failures or failures
            sub.approvals = sub.approvals or approvals
            now = (sub.failures, sub.approvals)
        else:
            if sub is not None:
                sub.failures = sub.failures and not failures
                sub.approvals = sub.approvals and not approvals
                now = (sub.failures, sub.approvals)
                if not sub.failures and not sub.approvals:
                    await session.delete(sub)
            else:
                now = (False, False)
        receives = " and ".join(w for w, on in zip(("failure alerts", "approval cards"), now) if on)
        outcome = f"receives {receives}" if receives else "receives nothing"
        await audit.record(session, user_id=caller.user_id, action=command.name, target=workflow_id,
                           detail=f"channel {caller.channel_id} failures={failures} approvals={approvals}",
                           result="ok", message=f"channel now {outcome}")
    text = render.subscription_changed(caller.channel_id, outcome, workflow_name, workflow_id, receives=bool(receives))
    return text_reply(text, share=command.share)


async def do_subscriptions(svc: Services, caller: Caller, command: Command) -> Reply:
    async with svc.sessions() as session:
        subs = await queries.channel_subscriptions(session, caller.channel_id)
        names = {w.id: w.name for w in await queries.workflows_by_id(session, [s.workflow_id for s in subs])}
    return Reply(render.subscriptions_list(caller.channel_id, subs, names, alert_channel=svc.settings.ALERT_CHANNEL,
                                           approval_channel=svc.settings.APPROVAL_CHANNEL), command.share)


# Watches: direct messages on each status change (bot/watches.py sends them)

async def do_watch(svc: Services, caller: Caller, command: Command) -> Reply | Deferred:
    token = command.args[0]
    run = await stored_run(svc, token)
    if run is not None:
        return await _watch(svc, caller, command, run.id, run.status)

    async def ask_platform() -> Reply:
        data = await platform_run(svc, token)
        return await _watch(svc, caller, command, str(data["id"]), str(data["status"]))

    return Deferred(ask_platform, command.share)


async def _watch(svc: Services, caller: Caller, command: Command, run_id: str, status: str) -> Reply:
    async with svc.sessions.begin() as session:
        watch = await session.get(Watch, (run_id, caller.user_id))
        if command.name == "watch":
            if status in TERMINAL:
                text = render.watch_reply("ended", run_id, status)
                result = "refused"
            elif watch is not None:
                text = render.watch_reply("already", run_id, status)
                result = "ok"
            else:
                session.add(Watch(run_id=run_id, user_id=caller.user_id, last_status=status))
                text = render.watch_reply("started", run_id, status)
                result = "ok"
        else:
            if watch is None:
                text = render.watch_reply("not_following", run_id, status)
                result = "not_found"
            else:
                await session.delete(watch)
                text = render.watch_reply("stopped", run_id, status)
                result = "ok"
        await audit.record(session, user_id=caller.user_id, action=command.name, target=run_id, result=result,
                           message=text)
    return text_reply(text, share=command.share)


# Audit

async def do_audit(svc: Services, caller: Caller, command: Command) -> Reply:
    target = None
    if command.args:
        run = await stored_run(svc, command.args[0])
        target = run.id if run is not None else command.args[0]
    async with svc.sessions() as session:
        entries = await queries.audit_entries(session, target=target, since=_since(command.flags),
                                              limit=command.flags.get("limit", 20))
        if not entries and target and not target.startswith("run_"):
            entries = await queries.audit_entries(session, target=f"run_{target}", since=_since(command.flags),
                                                  limit=command.flags.get("limit", 20))
    return Reply(render.audit_list(entries, understood=command.line), command.share)


HANDLERS: dict[str, Callable[[Services, Caller, Command], Awaitable[Reply | Deferred]]] = {
    "help": do_help, "failed": do_failed, "list": do_list, "show": do_show, "logs": do_logs,
    "pause": do_control, "resume": do_control, "cancel": do_cancel, "replay": do_replay,
    "approvals": do_approvals, "subscribe": do_subscribe, "unsubscribe": do_subscribe,
    "subscriptions": do_subscriptions, "watch": do_watch, "unwatch": do_watch, "audit": do_audit,
}


def replay_request(value: str) -> tuple[str, str | None, str | None]:
    """The run, prompt and model a `run_replay_confirmed` button carries."""
    try:
        data = json.loads(value)
        run_id = check_run_id(str(data["run"]))
        prompt, model = data.get("prompt"), data.get("model")
    except (ValueError, TypeError, KeyError, BadInput):
        raise BadInput("That Replay button has lost its run; type `/runs replay RUN_ID` again.") from None
    return run_id, (str(prompt) if prompt else None), (str(model) if model else None)
