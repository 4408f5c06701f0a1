"""The short answers of `/runs`: control results, subscribe and watch answers, refusals, words quoted back,
help, the replay asked twice, and `--share` (its stamp and its refusal). Pure functions, no I/O; every piece
of text goes through `bot.render.mrkdwn`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.render.common import code_span, mark, trim_middle
from bot.render.lists import _channel
from bot.render.mrkdwn import Mrkdwn, escape, join, link, mention_of, mrkdwn, single_line
from bot.render.runs import ID_LIMIT, MAX_BLOCKS, NAME_LIMIT, RunUrl, _chunked_sections, _context, _section, message
from bot.views import RunView

# Answers to subscribe and watch


def subscription_changed(channel: str, outcome: str, workflow_name: str, workflow_id: str, *, receives: bool) -> Mrkdwn:
    """The answer to `/runs subscribe` and `/runs unsubscribe`."""
    workflow_id = single_line(workflow_id, ID_LIMIT)
    again = mrkdwn(" Subscribe again with {command}.", command=code_span(f"/runs subscribe {workflow_id}"))
    return mrkdwn(
        "{channel} now {outcome} of *{name}* ({id}).{again}",
        channel=_channel(channel),
        outcome=outcome,
        name=single_line(workflow_name, NAME_LIMIT),
        id=code_span(workflow_id),
        again="" if receives else again,
    )


def watch_reply(outcome: str, run_id: str, status: str) -> Mrkdwn:
    """The answer to `/runs watch` and `/runs unwatch`: `outcome` is ended, already, started, not_following
    or stopped."""
    run_id, status = single_line(run_id, ID_LIMIT), single_line(status, 32)
    show, unwatch = code_span(f"/runs show {run_id}"), code_span(f"/runs unwatch {run_id}")
    templates = {
        "ended": "{run} has already ended ({status}): there is nothing to follow. {show} shows it.",
        "already": "You already follow {run} ({status}); {unwatch} stops it.",
        "started": "👀 You follow {run} (now {status}): I will send you a direct message at each status change "
        "and when it ends. {unwatch} stops it.",
        "not_following": "You were not following {run}.",
        "stopped": "You no longer follow {run}.",
    }
    return mrkdwn(templates[outcome], run=run_id, status=status, show=show, unwatch=unwatch)


# Answers to control actions


def control_result(action: str, old_run_id: str, result: RunView, run_url: RunUrl, user_id: str) -> dict:
    """What the platform answered to a control action or a replay, as the user should read it."""
    old_run_id = single_line(old_run_id, ID_LIMIT)
    who = mention_of(user_id)
    status = result.status
    if action == "replay":
        new_id = result.id
        text = mrkdwn(
            "🔁 {who} replayed {old} as {new} ({status}).", who=who, old=old_run_id, new=new_id, status=status
        )
        rich = mrkdwn(
            "🔁 {who} replayed {old} as {new} ({mark} {status}).",
            who=who,
            old=link(run_url(old_run_id), old_run_id),
            new=link(run_url(new_id), new_id),
            mark=mark(status),
            status=status,
        )
    else:
        verb = {"pause": "paused", "resume": "resumed", "cancel": "cancelled"}[action]
        # The mark is the action's (a resumed run that waits again is not answered with a raised hand), and
        # "it is now paused" after "paused" says nothing: the state is added only when it is news.
        action_mark = {"pause": "⏸️", "resume": "▶️", "cancel": mark(status)}[action]
        now = "." if status == verb else ": it is now {status}."
        text = mrkdwn(
            "{mark} {who} {verb} {run}" + now, mark=action_mark, who=who, verb=verb, run=old_run_id, status=status
        )
        rich = mrkdwn(
            "{mark} {who} {verb} {run}" + now.replace("{status}", "*{status}*"),
            mark=action_mark,
            who=who,
            verb=verb,
            run=link(run_url(old_run_id), old_run_id),
            status=status,
        )
    return message(text, [_section(rich)])


def status_refusal(run_id: str, status: str, allowed: Sequence[str], wanted: str) -> Mrkdwn:
    """ "run_7Kq2 is completed: it can be replayed, not cancelled" (`allowed` and `wanted` are verbs)."""
    can = f"it can be {' or '.join(allowed)}" if allowed else "nothing can be done with it"
    return mrkdwn(
        "{run} is {status}: {can}, not {wanted}",
        run=single_line(run_id, ID_LIMIT),
        status=single_line(status, 32),
        can=can,
        wanted=wanted,
    )


def control_conflict(message: str, code: str | None) -> Mrkdwn:
    """A control action the platform refused as a conflict: the refusal (`Mrkdwn` from `status_refusal`, or the
    platform's message) and the platform's code."""
    return mrkdwn(
        "{message} (the platform said {code})",
        message=message if isinstance(message, Mrkdwn) else single_line(trim_middle(message or "", 500)),
        code=single_line(code, 64),
    )


def platform_refused(code: str | None, message: str | None) -> Mrkdwn:
    return mrkdwn(
        "The platform refused: {code}: {message}",
        code=single_line(code, 64),
        message=single_line(trim_middle(message or "", 500)),
    )


def no_such_run(run_id: str) -> Mrkdwn:
    return mrkdwn("No run {run} on the platform.", run=single_line(run_id, ID_LIMIT))


# Answers to what a person typed


def typed(text: object, limit: int = 80) -> Mrkdwn:
    """Text a person typed, quoted back in an answer (inside backticks or not): one line, escaped."""
    return escape(single_line(text, limit))


def workflow_ids(ids: Sequence[str]) -> Mrkdwn:
    return join(", ", [code_span(single_line(i, ID_LIMIT)) for i in ids])


def workflow_names(workflows: Sequence[tuple[Any, Any]]) -> Mrkdwn:
    """ "`wf_invoices` (Invoices), …" from (id, name) pairs, as the store or the platform names them."""
    return join(
        ", ",
        [
            mrkdwn("{id} ({name})", id=code_span(single_line(i, ID_LIMIT)), name=single_line(n, NAME_LIMIT))
            for i, n in workflows
        ],
    )


# Help


def help_message(entries: Sequence[tuple[str, str]], examples: Sequence[str], *, intro: str = "") -> dict:
    """`entries` and `examples` are the code's own; `intro` is mrkdwn the bot made."""
    lines = [mrkdwn("{usage}\n    {summary}", usage=code_span(usage), summary=summary) for usage, summary in entries]
    blocks = []
    if intro:
        blocks.append(_section(Mrkdwn(intro)))
    blocks.append(_section(Mrkdwn("*`/runs`: find, read and control runs from Slack*")))
    blocks.extend(_chunked_sections(lines))
    if examples:
        blocks.append(_section(mrkdwn("*Examples*\n{examples}", examples=join("\n", [code_span(e) for e in examples]))))
    blocks.append(
        _context(
            Mrkdwn(
                "Run IDs may be shortened to a unique prefix (the `run_` part may be left out). "
                "Answers are only for you unless you add `--share`."
            )
        )
    )
    text = mrkdwn(
        "{intro}/runs subcommands:\n{usages}",
        intro=Mrkdwn(intro + "\n") if intro else "",
        usages="\n".join(u for u, _ in entries),
    )
    return message(text, blocks)


def replayed_already(actor_id: str, seconds_ago: int, run_id: str, new_run_id: str | None, run_url) -> Mrkdwn:
    """Told to the second person who asks for the same replay within DEDUPE_REPLAY_WINDOW_SECONDS."""
    who = mention_of(actor_id)
    if new_run_id:
        return mrkdwn(
            "{who} replayed `{run}` {ago} s ago: {new}. It was not replayed again.",
            who=who,
            run=run_id,
            ago=seconds_ago,
            new=link(run_url(new_run_id), new_run_id),
        )
    return mrkdwn(
        "{who} is replaying `{run}` (asked {ago} s ago); it is not replayed twice.",
        who=who,
        run=run_id,
        ago=seconds_ago,
    )


SHAREABLE = ("failed", "list", "show", "logs", "cost", "diff")


def shared_by(payload: dict, actor_id: str, line: str) -> dict:
    """A `--share` answer posted in the channel, with who shared it and what they typed (escaped)."""
    stamp = {
        "type": "context",
        "elements": [
            {
                "type": "mrkdwn",
                "text": mrkdwn("Shared by {who} with `{line}`", who=mention_of(actor_id), line=single_line(line, 200)),
            }
        ],
    }
    blocks = list(payload.get("blocks") or [_section(Mrkdwn(payload.get("text") or ""))])[: MAX_BLOCKS - 1]
    return {**payload, "blocks": [*blocks, stamp]}


def share_refused(name: str) -> Mrkdwn:
    return mrkdwn(
        "`--share` posts a read-only answer in the channel: `/runs {shareable} --share`. `/runs {name}` is answered "
        "to you alone (its buttons, the audit trail and changes are not for the whole channel).",
        shareable=" | ".join(SHAREABLE),
        name=single_line(name, 40),
    )
