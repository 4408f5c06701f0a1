"""The `/runs` grammar: text as typed in Slack to a `Command`, or a `BadInput` saying what was understood and
what to type instead. Pure: no I/O, so it is tested (and fuzzed) on its own."""

from __future__ import annotations

import difflib
import json
import re
import shlex
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bot.contract import RUN_STATUSES
from bot.errors import BadInput
from bot.render.replies import typed

MAX_LIMIT = 50
DEFAULT_LIMIT = 10
MAX_DURATION = timedelta(days=3650)
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
DURATION = re.compile(r"^(\d{1,7})\s*(s|sec|secs|m|min|mins|h|hr|hrs|d|day|days|w|wk|wks)$", re.IGNORECASE)
DURATION_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
SEVERITIES = ("debug", "info", "warn", "error")
LOG_EVENTS = (
    "run.created",
    "run.started",
    "run.step.started",
    "run.step.completed",
    "run.step.failed",
    "run.paused",
    "run.resumed",
    "run.completed",
    "run.failed",
    "run.cancelled",
    "approval.requested",
    "approval.decided",
    "approval.expired",
)
QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "«": '"', "»": '"', "‘": "'", "’": "'", "‚": "'"})


@dataclass(frozen=True)
class Sub:
    usage: str
    summary: str
    args: tuple[int, int | None] = (0, 0)  # least and most positional arguments (None: any)
    flags: dict[str, str] = field(
        default_factory=dict
    )  # name -> kind: duration, limit, text, bool, severity, event, run
    arg_kind: str = ""  # run, status, workflow, topic


LIST_FLAGS = {"since": "duration", "workflow": "text", "min-cost": "money", "sort": "sort", "limit": "limit"}
SORTS = ("time", "cost")
COST_GROUPS = ("workflow", "model", "status")
MAX_COST = 1_000_000  # dollars: a --min-cost above is a typo
SUBCOMMANDS: dict[str, Sub] = {
    "help": Sub("/runs help [SUBCOMMAND]", "this help, or one subcommand's", (0, 1), arg_kind="topic"),
    "failed": Sub(
        "/runs failed [--since 24h] [--workflow NAME] [--code ERROR_CODE] [--open] [--min-cost 0.50] [--sort cost] "
        "[--limit N]",
        "failed runs, newest first (or the costliest), with the first failed step, its error code and who handles "
        "it (with --open, only those nobody handles)",
        flags={**LIST_FLAGS, "code": "text", "open": "bool"},
    ),
    "list": Sub(
        "/runs list [STATUS ...] [--since 24h] [--workflow NAME] [--model NAME] [--min-cost 0.50] [--sort cost] "
        "[--limit N]",
        "runs of any status (pending, running, waiting, paused, completed, failed, cancelled)",
        (0, None),
        flags={**LIST_FLAGS, "model": "text"},
        arg_kind="status",
    ),
    "show": Sub(
        "/runs show RUN_ID", "a run's overview, progress, trigger payload and step timeline", (1, 1), arg_kind="run"
    ),
    "logs": Sub(
        "/runs logs [--severity error] [--event run.failed] [--run RUN_ID] [--since 1h] [--limit N]",
        "search the platform's logs across runs",
        flags={"severity": "severity", "event": "event", "run": "run", "since": "duration", "limit": "limit"},
    ),
    "pause": Sub("/runs pause RUN_ID", "pause a running or waiting run (operators)", (1, 1), arg_kind="run"),
    "resume": Sub("/runs resume RUN_ID", "resume a paused run (operators)", (1, 1), arg_kind="run"),
    "cancel": Sub(
        "/runs cancel RUN_ID", "cancel a run in flight, after a confirmation (operators)", (1, 1), arg_kind="run"
    ),
    "replay": Sub(
        "/runs replay RUN_ID [--prompt TEXT] [--model NAME]",
        "re-run a finished run as-is or with a new prompt or model (operators)",
        (1, 1),
        flags={"prompt": "text", "model": "text"},
        arg_kind="run",
    ),
    "cost": Sub(
        "/runs cost [--since 7d] [--by workflow|model|status]",
        "spend over a period (UTC days) by workflow, model or status, on failed runs, and against the period before",
        flags={"since": "duration", "by": "by"},
    ),
    "approvals": Sub("/runs approvals", "approval tasks waiting for a decision"),
    "subscribe": Sub(
        "/runs subscribe WORKFLOW [--failures] [--approvals]",
        "send this channel a workflow's failure alerts (default) and/or approval cards (operators)",
        (1, None),
        flags={"failures": "bool", "approvals": "bool"},
        arg_kind="workflow",
    ),
    "unsubscribe": Sub(
        "/runs unsubscribe WORKFLOW [--failures] [--approvals]",
        "stop them (both when no flag is given) (operators)",
        (1, None),
        flags={"failures": "bool", "approvals": "bool"},
        arg_kind="workflow",
    ),
    "subscriptions": Sub("/runs subscriptions", "what this channel receives"),
    "watch": Sub("/runs watch RUN_ID", "follow a run by direct message until it ends", (1, 1), arg_kind="run"),
    "unwatch": Sub("/runs unwatch RUN_ID", "stop following it", (1, 1), arg_kind="run"),
    "tail": Sub(
        "/runs tail RUN_ID [--dm]",
        "post the run's live log lines here (or by direct message), edited in place until it ends",
        (1, 1),
        flags={"dm": "bool"},
        arg_kind="run",
    ),
    "untail": Sub("/runs untail RUN_ID", "stop a live log tail", (1, 1), arg_kind="run"),
    "diff": Sub("/runs diff RUN_A RUN_B", "two runs of one workflow side by side", (2, 2), arg_kind="run"),
    "audit": Sub(
        "/runs audit [RUN_ID] [--since 7d] [--limit N]",
        "who did what from Slack, and the result",
        (0, 1),
        flags={"since": "duration", "limit": "limit"},
        arg_kind="run",
    ),
}
ALIASES = {
    "ls": "list",
    "failures": "failed",
    "fail": "failed",
    "log": "logs",
    "subs": "subscriptions",
    "approval": "approvals",
    "get": "show",
    "info": "show",
    "retry": "replay",
    "stop": "cancel",
    "?": "help",
    "-h": "help",
    "--help": "help",
}
STATUS_ALIASES = {
    "canceled": "cancelled",
    "done": "completed",
    "succeeded": "completed",
    "success": "completed",
    "error": "failed",
    "errored": "failed",
    "queued": "pending",
    "active": "running",
}
EXAMPLES = (
    "/runs failed --since 24h",
    '/runs failed --workflow "Invoice triage" --code provider_rate_limited',
    "/runs list running waiting --limit 20",
    "/runs show 7Kq2",
    "/runs logs --severity error --since 1h",
    "/runs replay 7Kq2 --model gpt-4.1",
    "/runs subscribe wf_invoices --failures --approvals",
    "/runs watch 7Kq2",
    "/runs audit --since 7d",
    "/runs failed --min-cost 0.50 --sort cost",
    "/runs cost --since 30d --by model",
)
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
        raise BadInput(f"`{clip(text)}` is not a duration. Durations read as `30m`, `24h` or `7d`.")
    amount, unit = int(match.group(1)), match.group(2).lower()[0]
    delta = timedelta(**{DURATION_UNITS[unit]: amount})
    if delta <= timedelta(0):
        raise BadInput(f"`{clip(text)}` is an empty duration. Durations read as `30m`, `24h` or `7d`.")
    if delta > MAX_DURATION:
        raise BadInput(f"`{clip(text)}` reaches back more than ten years; the store keeps far less. Try `30d`.")
    return delta


def clip(text: str, limit: int = 80) -> str:
    return typed(text, limit)


def normalize(text: str) -> str:
    """What Slack clients do to typed text, undone: HTML escapes, curly quotes, `--` turned into a dash."""
    text = (text or "").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").translate(QUOTES)
    return re.sub(r"(^|\s)[—–](?=\w)", r"\1--", text).strip()


def tokenize(text: str) -> list[str]:
    if text.isascii() and text.isprintable() and not any(c in text for c in "'\"\\"):
        # No quote, no backslash, and a space the only whitespace: what shlex would give (a hot path of commands).
        return text.split()
    try:
        return shlex.split(text, posix=True)
    except ValueError as exc:
        problem = "a quote is not closed" if "quotation" in str(exc) else "a backslash ends the text"
        raise BadInput(
            f"I could not read `/runs {clip(text)}`: {problem}. Put text with spaces in straight "
            'double quotes, for example `/runs replay 7Kq2 --prompt "Summarise in French"`.'
        ) from None


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
            hint = f" To see that run, type `/runs show {clip(word)}`."
        raise BadInput(
            f"`/runs {clip(word)}` is not a subcommand I know.{hint} "
            f"Type `/runs help` for the list; subcommands: {', '.join(SUBCOMMANDS)}."
        )
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
                raise BadInput(
                    f"`/runs {name}` has no `--{clip(flag, 40)}` flag.{_suggest(flag, list(sub.flags))} "
                    f"It takes {known}. Usage: `{sub.usage}`."
                )
            if kind == "bool":
                flags[flag] = True
                continue
            if inline == "" and "=" not in token:
                if i >= len(rest) or (rest[i].startswith("--") and len(rest[i]) > 2):
                    raise BadInput(
                        f"`--{flag}` needs a value, for example `{_flag_example(name, flag)}`. Usage: `{sub.usage}`."
                    )
                inline = rest[i]
                i += 1
            flags[flag] = _flag_value(name, flag, kind, inline)
        elif token.startswith("-") and len(token) > 1 and not token.lstrip("-").isdigit():
            raise BadInput(
                f"`{clip(token)}` is not a flag I read: flags start with two dashes, like "
                f"`-{clip(token.lstrip('-') or 'share')}`. Usage: `{sub.usage}`."
            )
        else:
            args.append(token)
    low, high = sub.args
    if sub.arg_kind == "workflow" and args:
        args = [" ".join(args)]  # an unquoted name with spaces is still one workflow
    if len(args) < low:
        raise BadInput(
            f"`/runs {name}` needs {_what(sub.arg_kind)}. Usage: `{sub.usage}`, for example `{_example(name)}`."
        )
    if high is not None and len(args) > high:
        extra = " ".join(args[high:])
        raise BadInput(
            f"I understood `/runs {name}{(' ' + ' '.join(args[:high])) if high else ''}`, but not "
            f"`{clip(extra)}`. Usage: `{sub.usage}`."
        )
    if sub.arg_kind == "run":
        args = [check_run_id(a) for a in args]
    elif sub.arg_kind == "status":
        args = [_status(a) for a in args]
    elif sub.arg_kind == "topic" and args:
        topic = ALIASES.get(args[0].lower(), args[0].lower())
        if topic not in SUBCOMMANDS:
            raise BadInput(
                f"There is no `/runs {clip(args[0])}` to explain.{_suggest(topic, list(SUBCOMMANDS))} "
                "Type `/runs help` for every subcommand."
            )
        args = [topic]
    return Command(name, args, flags, share)


def _what(kind: str) -> str:
    return {"run": "a run ID (or a unique prefix of one)", "workflow": "a workflow's id or name"}.get(
        kind, "an argument"
    )


def _example(name: str) -> str:
    return next((e for e in EXAMPLES if e.startswith(f"/runs {name} ")), f"/runs {name} 7Kq2")


def _flag_example(name: str, flag: str) -> str:
    sample = {
        "since": "24h",
        "workflow": '"Invoice triage"',
        "code": "provider_rate_limited",
        "limit": "20",
        "model": "gpt-4.1",
        "severity": "error",
        "event": "run.failed",
        "run": "7Kq2",
        "prompt": '"Summarise in French"',
        "min-cost": "0.50",
        "sort": "cost",
        "by": "model",
    }
    return f"/runs {name} --{flag} {sample.get(flag, 'VALUE')}"


def _status(word: str) -> str:
    status = STATUS_ALIASES.get(word.lower(), word.lower())
    if status not in RUN_STATUSES:
        raise BadInput(
            f"`{clip(word)}` is not a run status.{_suggest(status, list(RUN_STATUSES))} "
            f"Statuses: {', '.join(RUN_STATUSES)}; for example `/runs list running waiting`."
        )
    return status


def check_run_id(token: str) -> str:
    if not RUN_ID.match(token):
        raise BadInput(
            f"`{clip(token)}` does not look like a run ID. Run IDs look like `run_7Kq2x9`; a unique "
            "prefix such as `7Kq2` works too."
        )
    return token


def _flag_value(name: str, flag: str, kind: str, value: str) -> Any:
    if kind == "duration":
        try:
            return parse_duration(value)
        except BadInput as exc:
            raise BadInput(f"{exc.message} For example `{_flag_example(name, flag)}`.") from None
    if kind == "limit":
        if not value.strip().isdigit() or not 1 <= int(value.strip()[:6]) <= MAX_LIMIT:
            raise BadInput(
                f"`--limit` takes a number from 1 to {MAX_LIMIT}, not `{clip(value)}`; "
                f"for example `{_flag_example(name, flag)}`."
            )
        return int(value.strip())
    if kind == "severity":
        severity = {"warning": "warn", "err": "error", "fatal": "error"}.get(value.lower(), value.lower())
        if severity not in SEVERITIES:
            raise BadInput(
                f"`--severity` is one of {', '.join(SEVERITIES)} (the least severe to show), not `{clip(value)}`."
            )
        return severity
    if kind == "event":
        event = value.lower()
        if event not in LOG_EVENTS:
            raise BadInput(
                f"`{clip(value)}` is not a log event type.{_suggest(event, list(LOG_EVENTS))} "
                f"Event types: {', '.join(LOG_EVENTS)}."
            )
        return event
    if kind == "run":
        return check_run_id(value)
    if kind in ("sort", "by"):
        choices = SORTS if kind == "sort" else COST_GROUPS
        if value.lower() not in choices:
            raise BadInput(f"`--{flag}` is one of {', '.join(choices)}, not `{clip(value)}`.")
        return value.lower()
    if kind == "money":
        return _money(value, name, flag)
    if not value.strip():
        raise BadInput(f"`--{flag}` needs a value, for example `{_flag_example(name, flag)}`.")
    return value


def _money(value: str, name: str, flag: str) -> float:
    """Dollars as typed: `0.50`, `$0.50`, `.5`."""
    text = value.strip().lstrip("$").replace(",", "")
    try:
        dollars = float(text) if re.fullmatch(r"\d{0,9}(\.\d{0,6})?", text) and text not in ("", ".") else -1.0
    except ValueError:
        dollars = -1.0
    if not 0 <= dollars <= MAX_COST:
        raise BadInput(f"`--{flag}` takes an amount of US dollars such as `0.50`, not `{clip(value)}`.")
    return dollars


def replay_request(value: str) -> tuple[str, str | None, str | None]:
    """The run, prompt and model a `run_replay_confirmed` button carries."""
    try:
        data = json.loads(value)
        run_id = check_run_id(str(data["run"]))
        prompt, model = data.get("prompt"), data.get("model")
    except (ValueError, TypeError, KeyError, BadInput):
        raise BadInput("That Replay button has lost its run; type `/runs replay RUN_ID` again.") from None
    return run_id, (str(prompt) if prompt else None), (str(model) if model else None)
