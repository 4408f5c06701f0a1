"""The `/runs` slash command and the buttons on its answers.

- grammar.py: the pure parser (text to a `Command`, or `BadInput` in words)
- lookup.py: which run a typed token names (store, then platform)
- answers.py: the read-only subcommands and the `Reply`/`Deferred` every subcommand answers with
- operations.py: the write operations (control actions, subscriptions, watches), each taking an `Actor`

`answer` is what the listener calls: parse, then the subcommand's core function.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace

from bot.actors import Actor
from bot.commands.answers import (
    Deferred,
    Reply,
    do_approvals,
    do_audit,
    do_failed,
    do_help,
    do_list,
    do_logs,
    do_show,
    do_subscriptions,
    next_page,
)
from bot.commands.cost import do_cost
from bot.commands.diff import diff_request, do_diff, full_diff_view
from bot.commands.grammar import ALIASES, Command, check_run_id, normalize, parse, replay_request
from bot.commands.lookup import replay_form, replayable_run
from bot.commands.operations import act_reply, do_cancel, do_control, do_replay, do_subscribe, do_watch
from bot.commands.tail import do_tail
from bot.errors import BadInput
from bot.render.replies import SHAREABLE, share_refused
from bot.services import Services

# What the listeners use.
__all__ = [
    "Command",
    "Deferred",
    "Reply",
    "act_reply",
    "answer",
    "check_run_id",
    "diff_request",
    "do_diff",
    "do_show",
    "full_diff_view",
    "do_tail",
    "next_page",
    "only_reads",
    "replay_form",
    "replay_request",
    "replayable_run",
]

HANDLERS: dict[str, Callable[[Services, Actor, Command, str], Awaitable[Reply | Deferred]]] = {
    "help": do_help,
    "failed": do_failed,
    "list": do_list,
    "show": do_show,
    "logs": do_logs,
    "pause": do_control,
    "resume": do_control,
    "cancel": do_cancel,
    "replay": do_replay,
    "approvals": do_approvals,
    "subscribe": do_subscribe,
    "unsubscribe": do_subscribe,
    "subscriptions": do_subscriptions,
    "watch": do_watch,
    "unwatch": do_watch,
    "audit": do_audit,
    "cost": do_cost,
    "tail": do_tail,
    "untail": do_tail,
    "diff": do_diff,
}

# Subcommands that only read: answered twice, they change nothing, so a request delivered again is answered again
# rather than paying a once-only receipt (a write transaction) before every answer (`handlers/once.py`). A `--share`
# posts for everyone: it acts.
READ_ONLY = frozenset({"help", "failed", "list", "show", "logs", "approvals", "subscriptions", "audit", "cost", "diff"})


def only_reads(text: str) -> bool:
    """Whether `/runs text` only reads, read from its first word without parsing the whole line (the listener
    parses it): a `--share` anywhere, or a first word that is no read-only subcommand, counts as acting."""
    line = normalize(text)
    words = line.split(None, 1)
    name = ALIASES.get(words[0].lower(), words[0].lower()) if words else "help"
    return name in READ_ONLY and "--share" not in line.lower()


async def answer(svc: Services, actor: Actor, text: str, *, channel: str) -> Reply | Deferred:
    """The `/runs` command as typed in `channel`: parse, then the subcommand's core function."""
    command = parse(text)
    if command.share and command.name == "tail":  # a tail in a channel is posted for everyone: a share already
        if command.flags.get("dm"):
            raise BadInput("`--share` posts the tail in this channel and `--dm` sends it to you alone: choose one.")
        command = replace(command, share=False)
    if command.share and command.name not in SHAREABLE:
        raise BadInput(share_refused(command.name))
    outcome = await HANDLERS[command.name](svc, actor, command, channel)
    if not command.share:
        return outcome
    stamp = (actor.id, command.line)
    if isinstance(outcome, Reply):
        return replace(outcome, shared_by=stamp)
    work = outcome.work

    async def stamped() -> Reply:
        return replace(await work(), shared_by=stamp)

    return replace(outcome, work=stamped)
