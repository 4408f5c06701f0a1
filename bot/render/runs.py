"""Block Kit for `/runs` about runs: run lists, the run timeline (`show`) and the watch messages, and the
pieces every `/runs` answer is made of (message payloads, sections, buttons, confirmations). Pure functions
from plain views (`bot.views`), no I/O; every piece of text goes through `bot.render.mrkdwn`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ConfirmObject,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.render.alerts import trigger_words
from bot.render.common import (
    SECTION_LIMIT,
    code_span,
    duration,
    keep_words,
    mark,
    progress_bar,
    retryable_words,
    slack_date,
    trim_middle,
)
from bot.render.cost import cost_breakdown, money
from bot.render.mrkdwn import Mrkdwn, code_block, escape, join, link, mrkdwn, plain, single_line
from bot.views import ErrorView, RunView, StepView

RunUrl = Callable[..., str]  # settings.run_url(run_id, step_id=None)
MAX_BLOCKS = 50
BUTTON_VALUE_LIMIT = 2000
PAYLOAD_LIMIT = 1200
ID_LIMIT = 128
NAME_LIMIT = 120

# Which buttons a run of each status offers: (action, label, action_id, style).
CONTROL_BUTTONS = {
    "pause": ("Pause", "run_pause", None),
    "resume": ("Resume", "run_resume", "primary"),
    "cancel": ("Cancel run…", "run_cancel", "danger"),
}


def message(text: str, blocks: list | None = None) -> dict:
    """A message payload: blocks with the fallback Slack shows in notifications. `text` is mrkdwn the bot
    made (a `Mrkdwn`, or the code's own words)."""
    payload: dict[str, Any] = {"text": trim_middle(text, 3000)}
    if blocks:
        payload["blocks"] = blocks[:MAX_BLOCKS]
    return payload


def _md_dict(text: str) -> dict:
    """`MarkdownTextObject(text=text).to_dict()`, built directly: run lists render dozens of these per answer,
    and the model's validation adds nothing to text already cut to SECTION_LIMIT (tests compare the two)."""
    return {"text": text, "type": "mrkdwn"} if text else {"type": "mrkdwn"}


def _section(text: Mrkdwn) -> dict:
    return {"text": _md_dict(trim_middle(escape(text), SECTION_LIMIT)), "type": "section"}


def _context(text: Mrkdwn) -> dict:
    return {"elements": [_md_dict(trim_middle(escape(text), SECTION_LIMIT))], "type": "context"}


def _next_page(value: str) -> dict:
    """`ActionsBlock(elements=[_button("Next page", "runs_next_page", value)]).to_dict()`, built directly (tests
    compare the two): the models' validation cost a run list a tenth of its rendering; `button_value` already
    bounded the value."""
    text = {"emoji": True, "text": "Next page", "type": "plain_text"}
    return {
        "elements": [{"action_id": "runs_next_page", "text": text, "type": "button", "value": value}],
        "type": "actions",
    }


def _header(text: str) -> dict:
    return HeaderBlock(text=PlainTextObject(text=plain(text, 150), emoji=True)).to_dict()


def _button(
    label: str,
    action_id: str,
    value: str | None = None,
    *,
    style: str | None = None,
    confirm: ConfirmObject | None = None,
    url: str | None = None,
) -> ButtonElement:
    return ButtonElement(
        text=PlainTextObject(text=plain(label, 75), emoji=True),
        action_id=action_id,
        value=value,
        style=style,
        confirm=confirm,
        url=url,
    )


def _confirm(title: str, text: Mrkdwn, confirm: str, deny: str, style: str | None = None) -> ConfirmObject:
    """A confirmation dialog: its text is mrkdwn (300 characters at most)."""
    return ConfirmObject(
        title=plain(title, 100),
        text=MarkdownTextObject(text=trim_middle(escape(text), 300)),
        confirm=confirm,
        deny=deny,
        style=style,
    )


def _chunked_sections(lines: Iterable[Mrkdwn], limit: int = SECTION_LIMIT) -> list[dict]:
    """Lines packed into as few sections as fit, so a 50-run page stays far under 50 blocks."""
    blocks: list[dict] = []
    current: list[str] = []
    size = 0
    for line in lines:
        line = trim_middle(escape(line), limit)
        if size and size + 1 + len(line) > limit:
            blocks.append(_section(Mrkdwn("\n".join(current))))
            current, size = [], 0
        if size:
            current.append(line)
            size += 1 + len(line)
        else:  # nothing shown yet (an empty line shows nothing): this line starts the section
            current, size = [line], len(line)
    if size:
        blocks.append(_section(Mrkdwn("\n".join(current))))
    return blocks


def _step_words(step: StepView | None, total: int) -> Mrkdwn:
    if not step:
        return Mrkdwn("")
    where = f"step {step.index + 1} of {total}" if total else "step"
    return (
        mrkdwn("{where}: {name}", where=where, name=step.name or step.id) if (step.name or step.id) else escape(where)
    )


# Lists of runs


def run_line(run: RunView, run_url: RunUrl, *, failed_view: bool = False, mark_words: Mrkdwn | None = None) -> Mrkdwn:
    """One run on one line: mark, linked id, workflow, and what matters for its status. Built with f-strings of
    escaped parts (a hot path of run lists): every value is `escape`d or made here as `Mrkdwn`."""
    parts: list = [Mrkdwn(f"{escape(mark(run.status))} {link(run_url(run.id), run.id)}"), run.workflow_name]
    if run.status == "failed":
        step_words = _step_words(run.failed_step, run.total_steps)
        if step_words:
            parts.append(step_words)
        if run.error_code:
            parts.append(code_span(run.error_code))
        parts.append(Mrkdwn(f"failed {slack_date(run.completed_at)}"))
    else:
        if not failed_view:
            parts.append(run.status)
        if run.status in ("running", "waiting", "paused", "pending"):
            parts.append(f"{run.completed_steps}/{run.total_steps} steps")
        parts.append(Mrkdwn(f"started {slack_date(run.started_at or run.created_at)}"))
        if run.duration_ms is not None:
            parts.append(duration(run.duration_ms))
    if run.model and not failed_view:
        parts.append(run.model)
    if run.usage is not None and run.usage.cost_usd is not None:
        parts.append(money(run.usage.cost_usd))
    if mark_words:
        parts.append(mark_words)  # who handles it (bot.render.lifecycle.list_mark)
    return join(" · ", parts)


def run_list(
    runs: Sequence[RunView],
    *,
    title: str,
    understood: str,
    run_url: RunUrl,
    next_value: str | None,
    failed_view: bool = False,
    empty_hint: str = "",
    order: str = "newest first",
    marks: dict | None = None,
) -> dict:
    """A compact page of runs with a Next page button when there are more. `empty_hint` is the code's words."""
    if not runs:
        text = mrkdwn(
            "No runs match {q}.{hint}", q=code_span(understood), hint=Mrkdwn(" " + empty_hint) if empty_hint else ""
        )
        return message(text, [_section(text)])
    blocks = [
        _section(mrkdwn("*{title}*", title=title)),
        *_chunked_sections(
            run_line(r, run_url, failed_view=failed_view, mark_words=(marks or {}).get(r.id)) for r in runs
        ),
    ]
    blocks.append(_context(mrkdwn("{q} · {n} shown, {order}", q=code_span(understood), n=len(runs), order=order)))
    if next_value:
        blocks.append(_next_page(next_value))
    text = mrkdwn("{title}: {ids}", title=title, ids=", ".join(r.id for r in runs))
    return message(text, blocks)


# One run: the timeline of `/runs show`


def run_buttons(run_id: str, status: str) -> list[ButtonElement]:
    from bot.contract import allowed_actions

    buttons = []
    for action in allowed_actions(status):
        if action == "replay":
            buttons.append(
                _button(
                    "Replay",
                    "run_replay",
                    run_id,
                    confirm=_confirm(
                        "Replay this run?",
                        mrkdwn("Start a new run of {run} with the same input.", run=run_id),
                        "Replay",
                        "Not now",
                    ),
                )
            )
            buttons.append(_button("Replay with changes…", "run_replay_changes", run_id))
        else:
            label, action_id, style = CONTROL_BUTTONS[action]
            confirm = None
            if action == "cancel":
                confirm = _confirm(
                    "Cancel this run?",
                    mrkdwn("{run} will stop and end cancelled.", run=run_id),
                    "Cancel run",
                    keep_words(status),
                    style="danger",
                )
            buttons.append(_button(label, action_id, run_id, style=style, confirm=confirm))
    return buttons


def run_detail(run: RunView, run_url: RunUrl) -> dict:
    """Overview, a progress bar, the trigger payload (trimmed), the step timeline, the failed step expanded."""
    run_id, status = run.id, run.status
    total, done = run.total_steps, run.completed_steps
    blocks = [_header(f"{mark(status)} {run_id}: {status}")]
    fields = [
        mrkdwn("*Workflow*\n{name}", name=run.workflow_name),
        mrkdwn("*Status*\n{mark} {status}", mark=mark(status), status=status),
        mrkdwn("*Started*\n{at}", at=slack_date(run.started_at or run.created_at)),
        mrkdwn("*Completed*\n{at}", at=slack_date(run.completed_at)),
        mrkdwn("*Duration*\n{d}", d=duration(run.duration_ms)),
        mrkdwn("*Trigger*\n{trigger}", trigger=trigger_words(run)),  # as the alert says it: "manual by @Sam"
    ]
    if run.model:
        fields.append(mrkdwn("*Model*\n{model}", model=run.model))
    if run.replay_of:
        fields.append(mrkdwn("*Replay of*\n{run}", run=link(run_url(run.replay_of), run.replay_of)))
    blocks.append(
        SectionBlock(
            text=MarkdownTextObject(text=link(run_url(run_id), "Open in the console")),
            fields=[MarkdownTextObject(text=trim_middle(f, 2000)) for f in fields[:10]],
        ).to_dict()
    )
    blocks.append(_section(mrkdwn("*Progress*  {bar}", bar=progress_bar(done, total))))
    if run.payload_json is not None:
        blocks.append(
            _section(
                mrkdwn("*Trigger payload*\n{payload}", payload=code_block(trim_middle(run.payload_json, PAYLOAD_LIMIT)))
            )
        )
    failed = run.failed_step
    if run.steps:
        lines = []
        for step in run.steps:
            took = ""
            if step.started_at and step.completed_at:
                took = f" · {duration(int((step.completed_at - step.started_at).total_seconds() * 1000))}"
            lines.append(
                mrkdwn(
                    "{mark} {n}. {name} _({type}, {status})_{took}",
                    mark=mark(step.status),
                    n=step.index + 1,
                    name=step.name or step.id,
                    type=step.type or "step",
                    status=step.status or "unknown",
                    took=took,
                )
            )
        blocks.append(_section(Mrkdwn("*Steps*")))
        blocks.extend(_chunked_sections(lines)[:30])
    elif total:
        blocks.append(_context(Mrkdwn("Steps are not known yet for this run.")))
    blocks.extend(_chunked_sections(cost_breakdown(run))[:5])
    if failed:
        blocks.append(DividerBlock().to_dict())
        blocks.append(_section(failed_step_text(run_id, failed, total, run_url)))
    buttons = run_buttons(run_id, status)
    if status in ("pending", "running", "waiting", "paused"):
        buttons.append(_button("Tail logs", "run_tail", run_id))
    if buttons:
        blocks.append(ActionsBlock(elements=buttons).to_dict())
    text = mrkdwn(
        "{run} ({workflow}): {status}, {done}/{total} steps",
        run=run_id,
        workflow=run.workflow_name,
        status=status,
        done=done,
        total=total,
    )
    return message(text, blocks)


def failed_step_text(run_id: str, step: StepView, total: int, run_url: RunUrl) -> Mrkdwn:
    error = step.error or ErrorView()
    lines = [
        mrkdwn(
            "❌ *Failed at {where}* · {jump}",
            where=_step_words(step, total),
            jump=link(run_url(run_id, step.id), "Jump to failed step"),
        )
    ]
    if error.code:
        lines.append(
            mrkdwn(
                "Error: {code}{message}",
                code=code_span(error.code),
                message=mrkdwn(" — {m}", m=trim_middle(error.message, 1500)) if error.message else "",
            )
        )
    if error.provider or error.provider_status is not None:
        lines.append(
            mrkdwn(
                "Provider: {provider}{status}",
                provider=error.provider or "—",
                status=f", HTTP {error.provider_status}" if error.provider_status is not None else "",
            )
        )
    retry = {"code": error.code, "retryable": error.retryable} if error.code or error.retryable is not None else {}
    lines.append(escape(retryable_words(retry)))
    return join("\n", lines)


# Watches


def watch_update(run: RunView, old_status: str | None, run_url: RunUrl) -> dict:
    """The direct message a watcher gets when a run's status changes (and when it ends)."""
    from bot.contract import TERMINAL

    status = run.status
    ended = status in TERMINAL
    head = mrkdwn(
        "{mark} {run} ({workflow}) is now *{status}*",
        mark=mark(status),
        run=link(run_url(run.id), run.id),
        workflow=run.workflow_name,
        status=status,
    )
    if old_status:
        head = mrkdwn("{head} (was {old})", head=head, old=single_line(old_status, 32))
    lines = [mrkdwn("{head}.", head=head)]
    if status == "failed" and run.failed_step:
        lines.append(failed_step_text(run.id, run.failed_step, run.total_steps, run_url))
    if ended:
        lines.append(
            mrkdwn("The run has ended ({d}): you will get no more messages about it.", d=duration(run.duration_ms))
        )
    else:
        lines.append(
            mrkdwn(
                "{bar} · {command} to stop.",
                bar=progress_bar(run.completed_steps, run.total_steps),
                command=code_span(f"/runs unwatch {run.id}"),
            )
        )
    text = mrkdwn(
        "{run} ({workflow}) is now {status}{end}",
        run=run.id,
        workflow=run.workflow_name,
        status=status,
        end=": it has ended." if ended else ".",
    )
    return message(text, [_section(join("\n", lines))])


def button_value(data: dict) -> str | None:
    """State carried in a button, or None when it would not fit Slack's limit."""
    value = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return value if len(value) <= BUTTON_VALUE_LIMIT else None
