"""Block Kit for `/runs`: run lists, the run timeline (`show`), logs, help, the audit trail, subscriptions,
the replay and cancel prompts, the replay modal and the watch messages. Pure functions: no I/O."""

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

from bot.render.common import (
    SECTION_LIMIT,
    code_span,
    duration,
    escape,
    link,
    mark,
    progress_bar,
    retryable_words,
    slack_date,
    trim_middle,
)
from bot.runs import first_failed_step, parse_time

RunUrl = Callable[..., str]  # settings.run_url(run_id, step_id=None)
MAX_BLOCKS = 50
BUTTON_VALUE_LIMIT = 2000
PAYLOAD_LIMIT = 1200
PROMPT_LIMIT = 3000

# Which buttons a run of each status offers: (action, label, action_id, style).
CONTROL_BUTTONS = {
    "pause": ("Pause", "run_pause", None),
    "resume": ("Resume", "run_resume", "primary"),
    "cancel": ("Cancel run…", "run_cancel", "danger"),
}


def message(text: str, blocks: list | None = None) -> dict:
    """A message payload: blocks with the plain-text fallback Slack shows in notifications."""
    payload: dict[str, Any] = {"text": trim_middle(text, 3000)}
    if blocks:
        payload["blocks"] = blocks[:MAX_BLOCKS]
    return payload


def _section(text: str) -> dict:
    return SectionBlock(text=MarkdownTextObject(text=trim_middle(text, SECTION_LIMIT))).to_dict()


def _context(text: str) -> dict:
    return ContextBlock(elements=[MarkdownTextObject(text=trim_middle(text, SECTION_LIMIT))]).to_dict()


def _header(text: str) -> dict:
    return HeaderBlock(text=PlainTextObject(text=trim_middle(text, 150), emoji=True)).to_dict()


def _button(label: str, action_id: str, value: str | None = None, *, style: str | None = None,
            confirm: ConfirmObject | None = None, url: str | None = None) -> ButtonElement:
    return ButtonElement(text=PlainTextObject(text=label[:75], emoji=True), action_id=action_id, value=value,
                         style=style, confirm=confirm, url=url)


def _chunked_sections(lines: Iterable[str], limit: int = SECTION_LIMIT) -> list[dict]:
    """Lines packed into as few sections as fit, so a 50-run page stays far under 50 blocks."""
    blocks, current = [], ""
    for line in lines:
        line = trim_middle(line, limit)
        if current and len(current) + 1 + len(line) > limit:
            blocks.append(_section(current))
            current = ""
        current = f"{current}\n{line}" if current else line
    if current:
        blocks.append(_section(current))
    return blocks


def _step_words(step: dict | None, total: int) -> str:
    if not step:
        return ""
    index = step.get("index")
    where = f"step {int(index) + 1} of {total}" if isinstance(index, int) and total else "step"
    return f"{where} {escape(step.get('name') or step.get('id') or '')}".strip()


# Lists of runs

def run_line(run: Any, run_url: RunUrl, *, failed_view: bool = False) -> str:
    """One run on one line: mark, linked id, workflow, and what matters for its status."""
    parts = [f"{mark(run.status)} {link(run_url(run.id), run.id)}", escape(run.workflow_name)]
    if run.status == "failed":
        step = first_failed_step(run.data or {})
        step_words = _step_words(step, run.total_steps)
        if step_words:
            parts.append(step_words)
        if run.error_code:
            parts.append(code_span(run.error_code))
        parts.append(f"failed {slack_date(run.completed_at)}")
    else:
        if not failed_view:
            parts.append(run.status)
        if run.status in ("running", "waiting", "paused", "pending"):
            parts.append(f"{run.completed_steps}/{run.total_steps} steps")
        parts.append(f"started {slack_date(run.started_at or run.created_at)}")
        if run.duration_ms is not None:
            parts.append(duration(run.duration_ms))
    if run.model and not failed_view:
        parts.append(escape(run.model))
    return " · ".join(parts)


def run_list(runs: Sequence[Any], *, title: str, understood: str, run_url: RunUrl, next_value: str | None,
             failed_view: bool = False, empty_hint: str = "") -> dict:
    """A compact page of runs with a Next page button when there are more."""
    if not runs:
        text = f"No runs match `{understood}`.{(' ' + empty_hint) if empty_hint else ''}"
        return message(text, [_section(text)])
    blocks = [_section(f"*{escape(title)}*"), *_chunked_sections(run_line(r, run_url, failed_view=failed_view)
                                                                 for r in runs)]
    blocks.append(_context(f"`{escape(understood)}` · {len(runs)} shown, newest first"))
    if next_value:
        blocks.append(ActionsBlock(elements=[_button("Next page", "runs_next_page", next_value)]).to_dict())
    text = f"{title}: " + ", ".join(r.id for r in runs)
    return message(text, blocks)


# One run: the timeline of `/runs show`

def _actor_words(trigger: dict) -> str:
    actor = trigger.get("actor") or {}
    if actor.get("slack_user_id"):
        return f"<@{actor['slack_user_id']}>"
    return escape(actor.get("name") or actor.get("email") or "")


def run_buttons(run_id: str, status: str) -> list[ButtonElement]:
    from bot.contract import allowed_actions

    buttons = []
    for action in allowed_actions(status):
        if action == "replay":
            buttons.append(_button("Replay as-is", "run_replay", run_id, confirm=ConfirmObject(
                title="Replay this run?", text=f"Start a new run of {run_id} with the same input.",
                confirm="Replay", deny="Not now")))
            buttons.append(_button("Replay with changes…", "run_replay_changes", run_id))
        else:
            label, action_id, style = CONTROL_BUTTONS[action]
            confirm = None
            if action == "cancel":
                confirm = ConfirmObject(title="Cancel this run?", text=f"{run_id} will stop and end cancelled.",
                                        confirm="Cancel run", deny="Keep it running", style="danger")
            buttons.append(_button(label, action_id, run_id, style=style, confirm=confirm))
    return buttons


def run_detail(run: dict, run_url: RunUrl) -> dict:
    """Overview, a progress bar, the trigger payload (trimmed), the step timeline, the failed step expanded."""
    run_id = str(run.get("id"))
    status = str(run.get("status"))
    workflow = run.get("workflow") or {}
    trigger = run.get("trigger") or {}
    progress = run.get("progress") or {}
    total = int(progress.get("total_steps") or 0)
    done = int(progress.get("completed_steps") or 0)
    blocks = [_header(f"{mark(status)} {run_id}: {status}")]
    fields = [
        f"*Workflow*\n{escape(workflow.get('name') or workflow.get('id') or '?')}",
        f"*Status*\n{mark(status)} {status}",
        f"*Started*\n{slack_date(parse_time(run.get('started_at')) or parse_time(run.get('created_at')))}",
        f"*Completed*\n{slack_date(parse_time(run.get('completed_at')))}",
        f"*Duration*\n{duration(run.get('duration_ms'))}",
        f"*Trigger*\n{escape(trigger.get('type') or '—')} {_actor_words(trigger)}".rstrip(),
    ]
    if run.get("model"):
        fields.append(f"*Model*\n{escape(run['model'])}")
    if run.get("replay_of"):
        fields.append(f"*Replay of*\n{link(run_url(run['replay_of']), run['replay_of'])}")
    blocks.append(SectionBlock(text=MarkdownTextObject(text=f"{link(run_url(run_id), 'Open in the console')}"),
                               fields=[MarkdownTextObject(text=trim_middle(f, 2000)) for f in fields[:10]]).to_dict())
    blocks.append(_section(f"*Progress*  `{progress_bar(done, total)}`"))
    payload = trigger.get("payload")
    if payload is not None:
        shown = trim_middle(json.dumps(payload, ensure_ascii=False, indent=1), PAYLOAD_LIMIT).replace("```", "ˋˋˋ")
        blocks.append(_section(f"*Trigger payload*\n```{shown}```"))
    steps = sorted(run.get("steps") or [], key=lambda s: s.get("index", 0))
    failed = first_failed_step(run)
    if steps:
        lines = []
        for step in steps:
            took = ""
            started, ended = parse_time(step.get("started_at")), parse_time(step.get("completed_at"))
            if started and ended:
                took = f" · {duration(int((ended - started).total_seconds() * 1000))}"
            lines.append(f"{mark(step.get('status'))} {int(step.get('index', 0)) + 1}. {escape(step.get('name') or step.get('id'))}"
                         f" _({escape(step.get('type') or 'step')}, {escape(step.get('status'))})_{took}")
        blocks.append(_section("*Steps*"))
        blocks.extend(_chunked_sections(lines)[:30])
    elif total:
        blocks.append(_context("Steps are not known yet for this run."))
    if failed:
        blocks.append(DividerBlock().to_dict())
        blocks.append(_section(failed_step_text(run_id, failed, total, run_url)))
    buttons = run_buttons(run_id, status)
    if buttons:
        blocks.append(ActionsBlock(elements=buttons).to_dict())
    text = f"{run_id} ({workflow.get('name') or workflow.get('id')}): {status}, {done}/{total} steps"
    return message(text, blocks)


def failed_step_text(run_id: str, step: dict, total: int, run_url: RunUrl) -> str:
    error = step.get("error") or {}
    lines = [f"❌ *Failed at {_step_words(step, total)}* · {link(run_url(run_id, step.get('id')), 'Jump to failed step')}"]
    if error.get("code"):
        lines.append(f"Error: {code_span(error['code'])}" + (f" {escape(error['message'])}" if error.get("message") else ""))
    if error.get("provider") or error.get("provider_status") is not None:
        lines.append(f"Provider: {escape(error.get('provider') or '—')}"
                     + (f", HTTP {error['provider_status']}" if error.get("provider_status") is not None else ""))
    lines.append(retryable_words(error))
    return "\n".join(lines)


# Control, replay and cancel prompts

def replay_choice(run_id: str, status: str, workflow: str) -> dict:
    text = f"Replay {run_id} ({workflow}, {status})?"
    blocks = [_section(f"Replay {code_span(run_id)} ({escape(workflow)}, {mark(status)} {status}): as it was, or "
                       "with a new prompt or model?"),
              ActionsBlock(elements=[b for b in run_buttons(run_id, "completed")]).to_dict()]
    return message(text, blocks)


def replay_confirm(run_id: str, prompt: str | None, model: str | None, value: str) -> dict:
    changes = []
    if prompt:
        changes.append(f"*Prompt*\n>{escape(trim_middle(prompt, 1500))}")
    if model:
        changes.append(f"*Model* {code_span(model)}")
    text = f"Replay {run_id} with a new " + " and ".join(w for w, v in (("prompt", prompt), ("model", model)) if v) + "?"
    blocks = [_section(f"Replay {code_span(run_id)} with:\n" + "\n".join(changes)),
              ActionsBlock(elements=[_button("Replay", "run_replay_confirmed", value, style="primary",
                                             confirm=ConfirmObject(title="Replay this run?", text=text[:300],
                                                                   confirm="Replay", deny="Not now"))]).to_dict()]
    return message(text, blocks)


def cancel_confirm(run_id: str, status: str, workflow: str) -> dict:
    text = f"Cancel {run_id} ({workflow}, {status})?"
    blocks = [_section(f"{mark(status)} {code_span(run_id)} ({escape(workflow)}) is {status}. Cancel it? "
                       "The button asks once more."),
              ActionsBlock(elements=[_button("Cancel run…", "run_cancel", run_id, style="danger", confirm=ConfirmObject(
                  title="Cancel this run?", text=f"{run_id} will stop and end cancelled.", confirm="Cancel run",
                  deny="Keep it running", style="danger"))]).to_dict()]
    return message(text, blocks)


def control_result(action: str, old_run_id: str, result: dict, run_url: RunUrl, user_id: str) -> dict:
    """What the platform answered to a control action or a replay, as the user should read it."""
    if action == "replay":
        new_id = str(result.get("id"))
        text = f"🔁 <@{user_id}> replayed {old_run_id} as {new_id} ({result.get('status')})."
        rich = (f"🔁 <@{user_id}> replayed {link(run_url(old_run_id), old_run_id)} as "
                f"{link(run_url(new_id), new_id)} ({mark(result.get('status'))} {escape(result.get('status'))}).")
    else:
        status = result.get("status")
        verb = {"pause": "paused", "resume": "resumed", "cancel": "cancelled"}[action]
        text = f"{mark(status)} <@{user_id}> {verb} {old_run_id}: it is now {status}."
        rich = f"{mark(status)} <@{user_id}> {verb} {link(run_url(old_run_id), old_run_id)}: it is now *{escape(status)}*."
    return message(text, [_section(rich)])


def replay_modal(run_id: str, prompt: str, model: str, private_metadata: str) -> dict:
    return View(
        type="modal", callback_id="replay_modal", title=PlainTextObject(text="Replay with changes"),
        submit=PlainTextObject(text="Replay"), close=PlainTextObject(text="Cancel"),
        private_metadata=private_metadata,
        blocks=[
            _section(f"A new run of {code_span(run_id)} with this prompt and model."),
            InputBlock(block_id="prompt", label=PlainTextObject(text="Prompt"),
                       element=PlainTextInputElement(action_id="value", multiline=True, max_length=PROMPT_LIMIT,
                                                     initial_value=prompt[:PROMPT_LIMIT] or None)),
            InputBlock(block_id="model", label=PlainTextObject(text="Model"),
                       element=PlainTextInputElement(action_id="value", max_length=128,
                                                     initial_value=model[:128] or None)),
        ],
    ).to_dict()


def modal_notice(title: str, text: str) -> dict:
    """A modal that only says something: "Replaying…", then the outcome."""
    return View(type="modal", callback_id="replay_modal_notice", title=PlainTextObject(text=title[:24]),
                close=PlainTextObject(text="Close"), blocks=[_section(text)]).to_dict()


# Logs

SEVERITY_MARK = {"debug": "·", "info": "ℹ️", "warn": "⚠️", "error": "🛑"}


def logs_list(entries: Sequence[dict], *, understood: str, run_url: RunUrl, next_value: str | None) -> dict:
    if not entries:
        text = f"No log entries match `{understood}`. Try a lower `--severity` or a longer `--since`."
        return message(text, [_section(text)])
    lines = []
    for e in entries:
        run_id = e.get("run_id")
        where = f" {link(run_url(run_id, e.get('step_id')), run_id)}" if run_id else ""
        lines.append(f"{SEVERITY_MARK.get(e.get('severity'), '•')} {slack_date(parse_time(e.get('timestamp')), '{time_secs}')}"
                     f" {code_span(e.get('event_type') or '?')}{where} {escape(trim_middle(e.get('message') or '', 300))}")
    blocks = [_section("*Platform logs*"), *_chunked_sections(lines)]
    blocks.append(_context(f"`{escape(understood)}` · {len(entries)} entries, newest first"))
    if next_value:
        blocks.append(ActionsBlock(elements=[_button("Next page", "runs_next_page", next_value)]).to_dict())
    return message(f"{len(entries)} log entries for {understood}", blocks)


# Audit, subscriptions, approvals

def audit_list(entries: Sequence[Any], *, understood: str) -> dict:
    if not entries:
        text = f"Nothing in the audit trail matches `{understood}`."
        return message(text, [_section(text)])
    result_mark = {"ok": "✅", "refused": "🚫", "not_found": "❓", "bad_input": "✏️", "unavailable": "📡", "error": "⚠️"}
    lines = []
    for e in entries:
        line = (f"{result_mark.get(e.result, '•')} {slack_date(e.at)} <@{e.user_id}> *{escape(e.action)}*"
                f"{(' ' + code_span(e.target)) if e.target else ''}: {escape(e.result)}")
        if e.message:
            line += f", {escape(trim_middle(e.message, 300))}"
        if e.detail:
            line += f" _({escape(trim_middle(e.detail, 300))})_"
        lines.append(line)
    blocks = [_section("*Audit trail*"), *_chunked_sections(lines),
              _context(f"`{escape(understood)}` · {len(entries)} entries, newest first")]
    return message(f"{len(entries)} audit entries for {understood}", blocks)


def subscriptions_list(channel: str, subs: Sequence[Any], names: dict[str, str], *, alert_channel: str | None,
                       approval_channel: str | None) -> dict:
    lines = []
    for s in subs:
        what = " and ".join(w for w, on in (("failure alerts", s.failures), ("approval cards", s.approvals)) if on)
        lines.append(f"• *{escape(names.get(s.workflow_id, s.workflow_id))}* ({code_span(s.workflow_id)}): {what}")
    if channel == alert_channel:
        lines.append("• every workflow's failure alerts (this is `ALERT_CHANNEL`)")
    if channel == approval_channel:
        lines.append("• every workflow's approval cards (this is `APPROVAL_CHANNEL`)")
    if not lines:
        text = ("This channel receives no failure alerts or approval cards. Subscribe with "
                "`/runs subscribe WORKFLOW` (failures) or `/runs subscribe WORKFLOW --approvals`.")
        return message(text, [_section(text)])
    text = "This channel receives:\n" + "\n".join(lines)
    return message(text, [_section(f"*<#{channel}> receives*"), *_chunked_sections(lines)])


def approvals_list(tasks: Sequence[Any], run_url: RunUrl) -> dict:
    if not tasks:
        text = "No approval task is waiting for a decision."
        return message(text, [_section(text)])
    lines = []
    for t in tasks:
        expires = f", expires {slack_date(t.expires_at)}" if t.expires_at else ""
        lines.append(f"✋ *{escape(t.action)}* ({escape(t.kind)}) · {escape(t.workflow_name)} · "
                     f"{link(run_url(t.run_id, t.step_id), t.run_id)}{expires}")
    blocks = [_section(f"*{len(tasks)} pending approval task{'s' if len(tasks) != 1 else ''}*"),
              *_chunked_sections(lines)]
    return message(f"{len(tasks)} pending approval tasks", blocks)


# Watches

def watch_update(run: Any, old_status: str | None, run_url: RunUrl) -> dict:
    """The direct message a watcher gets when a run's status changes (and when it ends)."""
    from bot.contract import TERMINAL

    status = run.status
    ended = status in TERMINAL
    head = f"{mark(status)} {link(run_url(run.id), run.id)} ({escape(run.workflow_name)}) is now *{escape(status)}*"
    if old_status:
        head += f" (was {escape(old_status)})"
    lines = [head + "."]
    if status == "failed":
        step = first_failed_step(run.data or {})
        if step:
            lines.append(failed_step_text(run.id, step, run.total_steps, run_url))
    if ended:
        lines.append(f"The run has ended ({duration(run.duration_ms)}): you will get no more messages about it.")
    else:
        lines.append(f"`{progress_bar(run.completed_steps, run.total_steps)}` · `/runs unwatch {run.id}` to stop.")
    text = f"{run.id} ({run.workflow_name}) is now {status}" + (": it has ended." if ended else ".")
    return message(text, [_section("\n".join(lines))])


# Help

def help_message(entries: Sequence[tuple[str, str]], examples: Sequence[str], *, intro: str = "") -> dict:
    lines = [f"`{escape(usage)}`\n    {escape(summary)}" for usage, summary in entries]
    blocks = []
    if intro:
        blocks.append(_section(intro))
    blocks.append(_section("*`/runs`: find, read and control runs from Slack*"))
    blocks.extend(_chunked_sections(lines))
    if examples:
        blocks.append(_section("*Examples*\n" + "\n".join(f"`{escape(e)}`" for e in examples)))
    blocks.append(_context("Run IDs may be shortened to a unique prefix (the `run_` part may be left out). "
                           "Answers are only for you unless you add `--share`."))
    text = (intro + "\n" if intro else "") + "/runs subcommands:\n" + "\n".join(u for u, _ in entries)
    return message(text, blocks)


def button_value(data: dict) -> str | None:
    """State carried in a button, or None when it would not fit Slack's limit."""
    value = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return value if len(value) <= BUTTON_VALUE_LIMIT else None
