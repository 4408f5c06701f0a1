"""Block Kit for `/runs`: run lists, the run timeline (`show`), logs, help, the audit trail, subscriptions,
the replay and cancel prompts, the replay modal and the watch messages. Pure functions from plain views
(`bot.views`), no I/O; every piece of text goes through `bot.render.mrkdwn`."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.render.alerts import actor_words
from bot.render.approvals import approvals_list_lines
from bot.render.common import (
    SECTION_LIMIT,
    code_span,
    duration,
    mark,
    progress_bar,
    retryable_words,
    slack_date,
    trim_middle,
)
from bot.render.mrkdwn import (
    Mrkdwn,
    channel_mention,
    code_block,
    escape,
    join,
    link,
    mention_of,
    mrkdwn,
    plain,
    single_line,
)
from bot.views import ApprovalView, ErrorView, RunView, StepView

RunUrl = Callable[..., str]  # settings.run_url(run_id, step_id=None)
MAX_BLOCKS = 50
BUTTON_VALUE_LIMIT = 2000
PAYLOAD_LIMIT = 1200
PROMPT_LIMIT = 3000
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


def _section(text: Mrkdwn) -> dict:
    return SectionBlock(text=MarkdownTextObject(text=trim_middle(escape(text), SECTION_LIMIT))).to_dict()


def _context(text: Mrkdwn) -> dict:
    return ContextBlock(elements=[MarkdownTextObject(text=trim_middle(escape(text), SECTION_LIMIT))]).to_dict()


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
    blocks, current = [], Mrkdwn("")
    for line in lines:
        line = trim_middle(escape(line), limit)
        if current and len(current) + 1 + len(line) > limit:
            blocks.append(_section(current))
            current = Mrkdwn("")
        current = mrkdwn("{a}\n{b}", a=current, b=line) if current else line
    if current:
        blocks.append(_section(current))
    return blocks


def _step_words(step: StepView | None, total: int) -> Mrkdwn:
    if not step:
        return Mrkdwn("")
    where = f"step {step.index + 1} of {total}" if total else "step"
    return mrkdwn("{where} {name}", where=where, name=step.name or step.id) if (step.name or step.id) else escape(where)


# Lists of runs


def run_line(run: RunView, run_url: RunUrl, *, failed_view: bool = False) -> Mrkdwn:
    """One run on one line: mark, linked id, workflow, and what matters for its status."""
    parts: list = [mrkdwn("{mark} {run}", mark=mark(run.status), run=link(run_url(run.id), run.id)), run.workflow_name]
    if run.status == "failed":
        step_words = _step_words(run.failed_step, run.total_steps)
        if step_words:
            parts.append(step_words)
        if run.error_code:
            parts.append(code_span(run.error_code))
        parts.append(mrkdwn("failed {at}", at=slack_date(run.completed_at)))
    else:
        if not failed_view:
            parts.append(run.status)
        if run.status in ("running", "waiting", "paused", "pending"):
            parts.append(f"{run.completed_steps}/{run.total_steps} steps")
        parts.append(mrkdwn("started {at}", at=slack_date(run.started_at or run.created_at)))
        if run.duration_ms is not None:
            parts.append(duration(run.duration_ms))
    if run.model and not failed_view:
        parts.append(run.model)
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
) -> dict:
    """A compact page of runs with a Next page button when there are more. `empty_hint` is the code's words."""
    if not runs:
        text = mrkdwn(
            "No runs match {q}.{hint}", q=code_span(understood), hint=Mrkdwn(" " + empty_hint) if empty_hint else ""
        )
        return message(text, [_section(text)])
    blocks = [
        _section(mrkdwn("*{title}*", title=title)),
        *_chunked_sections(run_line(r, run_url, failed_view=failed_view) for r in runs),
    ]
    blocks.append(_context(mrkdwn("{q} · {n} shown, newest first", q=code_span(understood), n=len(runs))))
    if next_value:
        blocks.append(ActionsBlock(elements=[_button("Next page", "runs_next_page", next_value)]).to_dict())
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
                    "Replay as-is",
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
                    "Keep it running",
                    style="danger",
                )
            buttons.append(_button(label, action_id, run_id, style=style, confirm=confirm))
    return buttons


def run_detail(run: RunView, run_url: RunUrl) -> dict:
    """Overview, a progress bar, the trigger payload (trimmed), the step timeline, the failed step expanded."""
    run_id, status = run.id, run.status
    total, done = run.total_steps, run.completed_steps
    blocks = [_header(f"{mark(status)} {run_id}: {status}")]
    who = actor_words(run.actor)
    fields = [
        mrkdwn("*Workflow*\n{name}", name=run.workflow_name),
        mrkdwn("*Status*\n{mark} {status}", mark=mark(status), status=status),
        mrkdwn("*Started*\n{at}", at=slack_date(run.started_at or run.created_at)),
        mrkdwn("*Completed*\n{at}", at=slack_date(run.completed_at)),
        mrkdwn("*Duration*\n{d}", d=duration(run.duration_ms)),
        mrkdwn("*Trigger*\n{kind}{who}", kind=run.trigger_type or "—", who=mrkdwn(" {w}", w=who) if who else ""),
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
    blocks.append(_section(mrkdwn("*Progress*  {bar}", bar=code_span(progress_bar(done, total)))))
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
    if failed:
        blocks.append(DividerBlock().to_dict())
        blocks.append(_section(failed_step_text(run_id, failed, total, run_url)))
    buttons = run_buttons(run_id, status)
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
                message=mrkdwn(" {m}", m=trim_middle(error.message, 1500)) if error.message else "",
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


# Control, replay and cancel prompts


def replay_choice(run_id: str, status: str, workflow: str) -> dict:
    run_id, status, workflow = single_line(run_id, ID_LIMIT), single_line(status, 32), single_line(workflow, NAME_LIMIT)
    text = mrkdwn("Replay {run} ({workflow}, {status})?", run=run_id, workflow=workflow, status=status)
    blocks = [
        _section(
            mrkdwn(
                "Replay {run} ({workflow}, {mark} {status}): as it was, or with a new prompt or model?",
                run=code_span(run_id),
                workflow=workflow,
                mark=mark(status),
                status=status,
            )
        ),
        ActionsBlock(elements=[b for b in run_buttons(run_id, "completed")]).to_dict(),
    ]
    return message(text, blocks)


def replay_confirm(run_id: str, prompt: str | None, model: str | None, value: str) -> dict:
    run_id = single_line(run_id, ID_LIMIT)
    changes = []
    if prompt:
        changes.append(mrkdwn("*Prompt*\n>{prompt}", prompt=trim_middle(prompt, 1500)))
    if model:
        changes.append(mrkdwn("*Model* {model}", model=code_span(single_line(model, NAME_LIMIT))))
    what = " and ".join(w for w, v in (("prompt", prompt), ("model", model)) if v)
    text = mrkdwn("Replay {run} with a new {what}?", run=run_id, what=what)
    blocks = [
        _section(mrkdwn("Replay {run} with:\n{changes}", run=code_span(run_id), changes=join("\n", changes))),
        ActionsBlock(
            elements=[
                _button(
                    "Replay",
                    "run_replay_confirmed",
                    value,
                    style="primary",
                    confirm=_confirm("Replay this run?", text, "Replay", "Not now"),
                )
            ]
        ).to_dict(),
    ]
    return message(text, blocks)


def cancel_confirm(run_id: str, status: str, workflow: str) -> dict:
    run_id, status, workflow = single_line(run_id, ID_LIMIT), single_line(status, 32), single_line(workflow, NAME_LIMIT)
    text = mrkdwn("Cancel {run} ({workflow}, {status})?", run=run_id, workflow=workflow, status=status)
    blocks = [
        _section(
            mrkdwn(
                "{mark} {run} ({workflow}) is {status}. Cancel it? The button asks once more.",
                mark=mark(status),
                run=code_span(run_id),
                workflow=workflow,
                status=status,
            )
        ),
        ActionsBlock(
            elements=[
                _button(
                    "Cancel run…",
                    "run_cancel",
                    run_id,
                    style="danger",
                    confirm=_confirm(
                        "Cancel this run?",
                        mrkdwn("{run} will stop and end cancelled.", run=run_id),
                        "Cancel run",
                        "Keep it running",
                        style="danger",
                    ),
                )
            ]
        ).to_dict(),
    ]
    return message(text, blocks)


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
        text = mrkdwn(
            "{mark} {who} {verb} {run}: it is now {status}.",
            mark=mark(status),
            who=who,
            verb=verb,
            run=old_run_id,
            status=status,
        )
        rich = mrkdwn(
            "{mark} {who} {verb} {run}: it is now *{status}*.",
            mark=mark(status),
            who=who,
            verb=verb,
            run=link(run_url(old_run_id), old_run_id),
            status=status,
        )
    return message(text, [_section(rich)])


def replay_modal(run_id: str, prompt: str, model: str, private_metadata: str) -> dict:
    return View(
        type="modal",
        callback_id="replay_modal",
        title=PlainTextObject(text="Replay with changes"),
        submit=PlainTextObject(text="Replay"),
        close=PlainTextObject(text="Cancel"),
        private_metadata=private_metadata,
        blocks=[
            _section(
                mrkdwn("A new run of {run} with this prompt and model.", run=code_span(single_line(run_id, ID_LIMIT)))
            ),
            InputBlock(
                block_id="prompt",
                label=PlainTextObject(text="Prompt"),
                element=PlainTextInputElement(
                    action_id="value",
                    multiline=True,
                    max_length=PROMPT_LIMIT,
                    initial_value=prompt[:PROMPT_LIMIT] or None,
                ),
            ),
            InputBlock(
                block_id="model",
                label=PlainTextObject(text="Model"),
                element=PlainTextInputElement(action_id="value", max_length=128, initial_value=model[:128] or None),
            ),
        ],
    ).to_dict()


def modal_notice(title: str, text: str) -> dict:
    """A modal that only says something: "Replaying…", then the outcome. `text` is mrkdwn the bot made (a
    `Mrkdwn`, an error's message or a section it rendered)."""
    return View(
        type="modal",
        callback_id="replay_modal_notice",
        title=PlainTextObject(text=plain(title, 24)),
        close=PlainTextObject(text="Close"),
        blocks=[_section(Mrkdwn(text))],
    ).to_dict()


# Logs

SEVERITY_MARK = {"debug": "·", "info": "ℹ️", "warn": "⚠️", "error": "🛑"}


def logs_list(entries: Sequence[dict], *, understood: str, run_url: RunUrl, next_value: str | None) -> dict:
    """The platform's log entries (its dicts are read field by field, every field escaped)."""
    if not entries:
        text = mrkdwn(
            "No log entries match {q}. Try a lower `--severity` or a longer `--since`.", q=code_span(understood)
        )
        return message(text, [_section(text)])
    lines = []
    for e in entries:
        run_id = single_line(e.get("run_id"), ID_LIMIT) if e.get("run_id") else None
        step_id = single_line(e.get("step_id"), ID_LIMIT) if e.get("step_id") else None
        where = mrkdwn(" {run}", run=link(run_url(run_id, step_id), run_id)) if run_id else ""
        lines.append(
            mrkdwn(
                "{mark} {at} {event}{where} {message}",
                mark=SEVERITY_MARK.get(e.get("severity"), "•"),
                at=slack_date(_time(e.get("timestamp")), "{time_secs}"),
                event=code_span(single_line(e.get("event_type") or "?", NAME_LIMIT)),
                where=where,
                message=single_line(trim_middle(str(e.get("message") or ""), 300)),
            )
        )
    blocks = [_section(Mrkdwn("*Platform logs*")), *_chunked_sections(lines)]
    blocks.append(_context(mrkdwn("{q} · {n} entries, newest first", q=code_span(understood), n=len(entries))))
    if next_value:
        blocks.append(ActionsBlock(elements=[_button("Next page", "runs_next_page", next_value)]).to_dict())
    return message(mrkdwn("{n} log entries for {q}", n=len(entries), q=single_line(understood, 300)), blocks)


def _time(value: Any):
    from bot.contract import parse_time

    try:
        return parse_time(value)
    except (TypeError, ValueError, OverflowError):
        return None


# Audit, subscriptions, approvals


def audit_list(entries: Sequence[Any], *, understood: str) -> dict:
    """The bot's own audit rows (who did what in Slack); every field is escaped, people are mentioned by id."""
    if not entries:
        text = mrkdwn("Nothing in the audit trail matches {q}.", q=code_span(understood))
        return message(text, [_section(text)])
    result_mark = {"ok": "✅", "refused": "🚫", "not_found": "❓", "bad_input": "✏️", "unavailable": "📡", "error": "⚠️"}
    lines = []
    for e in entries:
        line = mrkdwn(
            "{mark} {at} {who} *{action}*{target}: {result}",
            mark=result_mark.get(e.result, "•"),
            at=slack_date(e.at),
            who=mention_of(e.user_id),
            action=single_line(e.action, NAME_LIMIT),
            target=mrkdwn(" {t}", t=code_span(single_line(e.target, ID_LIMIT))) if e.target else "",
            result=single_line(e.result, 32),
        )
        if e.message:
            line = mrkdwn("{line}, {m}", line=line, m=single_line(trim_middle(e.message, 300)))
        if e.detail:
            line = mrkdwn("{line} _({d})_", line=line, d=single_line(trim_middle(e.detail, 300)))
        lines.append(line)
    blocks = [
        _section(Mrkdwn("*Audit trail*")),
        *_chunked_sections(lines),
        _context(mrkdwn("{q} · {n} entries, newest first", q=code_span(understood), n=len(entries))),
    ]
    return message(mrkdwn("{n} audit entries for {q}", n=len(entries), q=single_line(understood, 300)), blocks)


def subscriptions_list(
    channel: str, subs: Sequence[Any], names: dict[str, str], *, alert_channel: str | None, approval_channel: str | None
) -> dict:
    lines = []
    for s in subs:
        what = " and ".join(w for w, on in (("failure alerts", s.failures), ("approval cards", s.approvals)) if on)
        lines.append(
            mrkdwn(
                "• *{name}* ({id}): {what}",
                name=single_line(names.get(s.workflow_id, s.workflow_id), NAME_LIMIT),
                id=code_span(single_line(s.workflow_id, ID_LIMIT)),
                what=what,
            )
        )
    if channel == alert_channel:
        lines.append(Mrkdwn("• every workflow's failure alerts (this is `ALERT_CHANNEL`)"))
    if channel == approval_channel:
        lines.append(Mrkdwn("• every workflow's approval cards (this is `APPROVAL_CHANNEL`)"))
    if not lines:
        text = Mrkdwn(
            "This channel receives no failure alerts or approval cards. Subscribe with "
            "`/runs subscribe WORKFLOW` (failures) or `/runs subscribe WORKFLOW --approvals`."
        )
        return message(text, [_section(text)])
    text = mrkdwn("This channel receives:\n{lines}", lines=join("\n", lines))
    return message(
        text, [_section(mrkdwn("*{channel} receives*", channel=_channel(channel))), *_chunked_sections(lines)]
    )


def _channel(channel: str) -> Mrkdwn:
    try:
        return channel_mention(channel)
    except ValueError:
        return escape(single_line(channel, 80))


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


def approvals_list(tasks: Sequence[ApprovalView], run_url: RunUrl) -> dict:
    if not tasks:
        text = Mrkdwn("No approval task is waiting for a decision.")
        return message(text, [_section(text)])
    blocks = [
        _section(mrkdwn("*{n} pending approval task{s}*", n=len(tasks), s="s" if len(tasks) != 1 else "")),
        *_chunked_sections(approvals_list_lines(list(tasks), run_url)),
    ]
    return message(mrkdwn("{n} pending approval tasks", n=len(tasks)), blocks)


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
                bar=code_span(progress_bar(run.completed_steps, run.total_steps)),
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


def button_value(data: dict) -> str | None:
    """State carried in a button, or None when it would not fit Slack's limit."""
    value = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return value if len(value) <= BUTTON_VALUE_LIMIT else None


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


SHAREABLE = ("failed", "list", "show", "logs")


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
