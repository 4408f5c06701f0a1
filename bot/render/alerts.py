"""Failure alerts and storm cards as Block Kit: pure functions from a run (the platform's run object) and
the alert's stored state to a message payload (`{"text", "blocks"}`), never doing I/O."""

from __future__ import annotations

import re
from datetime import datetime

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.render.common import (
    SECTION_LIMIT,
    code_span,
    duration,
    escape,
    link,
    mark,
    progress_bar,
    retryable_words,
    shorten,
    slack_date,
    trim_middle,
)
from bot.runs import first_failed_step

ERROR_MESSAGE_LIMIT = 1000  # characters of an error message shown in the alert; the whole text goes to the thread
THREAD_TEXT_LIMIT = 35_000  # one thread reply's text (Slack's message limit is 40,000)
STORM_NEWEST = 5  # runs shown on a storm card
STORM_LIST_PER_SECTION = 10
HEADER_LIMIT = 150
# The bot's own actor string for the platform ("slack:U0ANA (Ana Ruiz)", see bot.people.People.actor).
SLACK_ACTOR = re.compile(r"^slack:([UW][A-Z0-9]+)\b")
REPLAY_MARK = {"pending": "🔄", "running": "🔄", "waiting": "✋", "paused": "⏸️", "completed": "✅",
               "failed": "❌", "cancelled": "🚫"}


def _parse(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _header(text: str) -> HeaderBlock:
    return HeaderBlock(text=PlainTextObject(text=shorten(text, HEADER_LIMIT), emoji=True))


NAME_LIMIT = 120  # names and codes the platform sends may be of any length; Slack's blocks are not


def _mrkdwn(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=text)


# Pieces of a run, in words

def total_steps(run: dict) -> int:
    return int((run.get("progress") or {}).get("total_steps") or len(run.get("steps") or []))


def step_position(run: dict, step: dict) -> str:
    """"step 3 of 5" (the platform's `index` is 0-based)."""
    return f"step {int(step.get('index', 0)) + 1} of {total_steps(run)}"


def slack_user_of(actor: dict | None) -> str | None:
    """The Slack user behind a trigger's actor: its `slack_user_id`, or the bot's own `slack:U…` actor name."""
    actor = actor or {}
    if actor.get("slack_user_id"):
        return actor["slack_user_id"]
    found = SLACK_ACTOR.match(actor.get("name") or "")
    return found.group(1) if found else None


def actor_words(actor: dict | None) -> str | None:
    """Who started a run, for people: a Slack mention when known, else the name or the email."""
    actor = actor or {}
    user = slack_user_of(actor)
    if user:
        return f"<@{user}>"
    name = actor.get("name") or actor.get("email")
    return escape(name) if name else None


def trigger_words(run: dict) -> str:
    trigger = run.get("trigger") or {}
    kind = trigger.get("type") or "unknown"
    who = actor_words(trigger.get("actor"))
    return f"{kind} by {who}" if who else kind


def error_of(run: dict) -> dict:
    return (first_failed_step(run) or {}).get("error") or {}


def error_message_too_long(run: dict) -> bool:
    return len(str(error_of(run).get("message") or "")) > ERROR_MESSAGE_LIMIT


def is_retryable(run: dict) -> bool:
    return bool(error_of(run).get("retryable"))


def provider_words(error: dict) -> str | None:
    provider, status = error.get("provider"), error.get("provider_status")
    if provider and status is not None:
        return f"{escape(provider)} answered HTTP {status}"
    if provider:
        return f"{escape(provider)}"
    if status is not None:
        return f"upstream HTTP {status}"
    return None


# The alert

def replay_line(replay: dict, run_url_of) -> str:
    """"🔄 Replayed by <@U0ANA> as run_Y: running" with the replay's outcome once it ends."""
    run_id = replay["run_id"]
    status = replay.get("status") or "pending"
    by = replay.get("by") or "from the console"
    line = f"{REPLAY_MARK.get(status, '🔄')} Replayed {by} as {link(run_url_of(run_id), run_id)}"
    if status in ("completed", "failed", "cancelled"):
        outcome = {"completed": "succeeded", "failed": "failed", "cancelled": "was cancelled"}[status]
        detail = f" ({code_span(replay['error_code'])})" if status == "failed" and replay.get("error_code") else ""
        return f"{line}: the replay {outcome}{detail}"
    return f"{line}: in progress"


def replay_by_words(user: str | None, actor: dict | None) -> str:
    """"by <@U0ANA>" for a replay started from Slack; "from the console (by Dana)" otherwise."""
    if user:
        return f"by <@{user}>"
    who = actor_words(actor)
    if who and who.startswith("<@"):
        return f"by {who}"
    return f"from the console by {who}" if who else "from the console"


def _buttons(run_id: str, *, retryable: bool, replay_allowed: bool, workflow: str) -> list[ButtonElement]:
    show = ButtonElement(text="Show run", action_id="run_show", value=run_id)
    if not replay_allowed:
        return [show]
    confirm = ConfirmObject(
        title="Replay this run?",
        text=f"A new run of {escape(workflow)} starts with the same input, prompt and model as {run_id}.",
        confirm="Replay", deny="Cancel")
    replay = ButtonElement(text="Replay", action_id="run_replay", value=run_id, confirm=confirm,
                           style="primary" if retryable else None)
    changes = ButtonElement(text="Replay with changes…", action_id="run_replay_changes", value=run_id,
                            style=None if retryable else "primary")
    return [replay, changes, show] if retryable else [changes, replay, show]


def alert_message(run: dict, *, run_url_of, step_url: str | None, owners: list[str],
                  replays: list[dict] | None = None) -> dict:
    """A failed run's alert: what failed where, why, whether to retry, who owns it, what to do."""
    run_id = run["id"]
    workflow = shorten((run.get("workflow") or {}).get("name") or (run.get("workflow") or {}).get("id") or "workflow",
                      NAME_LIMIT)
    step = first_failed_step(run)
    error = (step or {}).get("error") or {}
    retryable = bool(error.get("retryable"))
    replays = replays or []
    run_url = run_url_of(run_id)
    progress = run.get("progress") or {}
    done, total = int(progress.get("completed_steps") or 0), total_steps(run)
    failed_at = _parse(run.get("completed_at")) or _parse(run.get("updated_at"))

    blocks: list = [_header(f"❌ {workflow} failed")]
    blocks.append(SectionBlock(fields=[
        _mrkdwn(f"*Run*\n{link(run_url, run_id)}"),
        _mrkdwn(f"*Trigger*\n{trigger_words(run)}"),
        _mrkdwn(f"*Started*\n{slack_date(_parse(run.get('started_at')) or _parse(run.get('created_at')))}"),
        _mrkdwn(f"*Failed*\n{slack_date(failed_at)}"),
        _mrkdwn(f"*Duration*\n{duration(run.get('duration_ms'))}"),
        _mrkdwn(f"*Progress*\n`{progress_bar(done, total)}` steps done"),
    ]))

    if step is not None:
        lines = [f"*Failed at {step_position(run, step)}: {escape(shorten(step.get('name') or step.get('id'), NAME_LIMIT))}*"]
        code = shorten(error.get("code") or "unknown", NAME_LIMIT)
        provider = shorten(provider_words(error), NAME_LIMIT * 2)
        lines.append(f"*Error* {code_span(escape(code))}" + (f" · {provider}" if provider else ""))
        if error.get("message"):
            message = escape(trim_middle(str(error["message"]), ERROR_MESSAGE_LIMIT))
            lines.append(code_span(message) + (" _(whole message in the thread)_" if error_message_too_long(run) else ""))
        lines.append(f"*{retryable_words(error or None)}*")
        accessory = (ButtonElement(text="Jump to failed step", action_id="run_jump", url=step_url)
                     if step_url else None)
        blocks.append(SectionBlock(text=_mrkdwn(trim_middle("\n".join(lines), SECTION_LIMIT)), accessory=accessory))
    else:
        blocks.append(SectionBlock(text=_mrkdwn("*The platform did not say which step failed.* Open the run for details.")))

    context = []
    if owners:
        context.append(f"Owner: {' '.join(owners)}")
    if run.get("replay_of"):
        context.append(f"Replay of {link(run_url_of(run['replay_of']), run['replay_of'])}")
    if run.get("model"):
        context.append(f"Model {code_span(run['model'])}")
    if context:
        blocks.append(ContextBlock(elements=[_mrkdwn(" · ".join(context))]))

    last = replays[-1] if replays else None
    replay_running = last is not None and last.get("status") not in ("completed", "failed", "cancelled")
    recovered = any(r.get("status") == "completed" for r in replays)
    if replays:
        blocks.append(DividerBlock())
        shown = replays[-5:]
        text = "\n".join(replay_line(r, run_url_of) for r in shown)
        if len(replays) > len(shown):
            text = f"_{len(replays) - len(shown)} earlier replays in the thread_\n" + text
        blocks.append(SectionBlock(text=_mrkdwn(trim_middle(text, 2900))))
    if step is not None and not retryable and not replays:
        blocks.append(ContextBlock(elements=[_mrkdwn(
            "⚠️ Not retryable: replaying as-is will likely fail the same way. *Replay with changes…* lets you "
            "change the prompt or the model.")]))
    # Once a replay succeeded, or while one runs, replaying again would start a second run of the same work.
    replay_allowed = not recovered and not replay_running
    elements = _buttons(run_id, retryable=retryable, replay_allowed=replay_allowed, workflow=workflow)
    blocks.append(ActionsBlock(block_id=f"alert:{run_id}"[:255], elements=elements))

    return {"text": alert_text(run, owners=owners, replays=replays), "blocks": [b.to_dict() for b in blocks]}


def alert_text(run: dict, *, owners: list[str], replays: list[dict] | None = None) -> str:
    """The notification and plain-text fallback: every fact of the alert, in one paragraph."""
    workflow = (run.get("workflow") or {}).get("name") or (run.get("workflow") or {}).get("id")
    step = first_failed_step(run)
    error = (step or {}).get("error") or {}
    parts = [f"❌ {workflow} failed: {run['id']}"]
    if step is not None:
        parts.append(f"at {step_position(run, step)} ({step.get('name') or step.get('id')})")
    if error.get("code"):
        parts.append(f"with {error['code']}")
    provider = provider_words(error)
    text = " ".join(parts) + (f", {provider}" if provider else "") + "."
    if error.get("message"):
        text += f" {escape(trim_middle(str(error['message']), 300)).rstrip('.')}."
    if step is not None:
        text += f" {retryable_words(error or None)}."
    text += f" Triggered {trigger_words(run)}."
    if owners:
        text += f" Owner: {' '.join(owners)}."
    for replay in (replays or [])[-1:]:
        text += f" Replayed {replay.get('by') or 'from the console'} as {replay['run_id']}: {replay.get('status')}."
    return text


def full_error_replies(run: dict) -> list[dict]:
    """The whole error message, in the alert's thread, split into replies Slack accepts."""
    message = str(error_of(run).get("message") or "")
    chunks = [message[i:i + THREAD_TEXT_LIMIT] for i in range(0, len(message), THREAD_TEXT_LIMIT)] or [""]
    replies = []
    for n, chunk in enumerate(chunks, 1):
        label = "Whole error message" + (f" ({n}/{len(chunks)})" if len(chunks) > 1 else "")
        replies.append({"text": f"{label} of {run['id']}:\n```{chunk.replace('```', 'ˋˋˋ')}```"})
    return replies


def replay_started_reply(run_id: str, replay_id: str, by: str, replay_url: str) -> dict:
    return {"text": f"🔄 {run_id} was replayed {by} as {link(replay_url, replay_id)}."}


def replay_ended_reply(replay: dict, replay_url: str) -> dict:
    status = replay.get("status")
    mark_ = REPLAY_MARK.get(status, "•")
    words = {"completed": "succeeded", "failed": "failed", "cancelled": "was cancelled"}.get(status, status)
    detail = f" with {code_span(replay['error_code'])}" if status == "failed" and replay.get("error_code") else ""
    return {"text": f"{mark_} The replay {link(replay_url, replay['run_id'])} {words}{detail}."}


# Storms

def storm_message(state: dict, *, run_url_of, workflow_url: str | None = None) -> dict:
    """One grouped card for a burst of failures of one workflow with one error code in one channel."""
    workflow = state.get("workflow_name") or state["workflow_id"]
    code = state.get("error_code") or "unknown"
    count = int(state.get("count") or 0)
    first, last = _parse(state.get("first_at")), _parse(state.get("last_at"))
    span = duration(int((last - first).total_seconds() * 1000)) if first and last else "—"
    recovered = state.get("recovered")
    title = f"{'✅' if recovered else '🌩️'} {workflow}: {count} failures with {code}"
    blocks: list = [_header(title)]
    blocks.append(SectionBlock(fields=[
        _mrkdwn(f"*Failures*\n{count}"),
        _mrkdwn(f"*Error*\n{code_span(code)}"),
        _mrkdwn(f"*First*\n{slack_date(first)}"),
        _mrkdwn(f"*Newest*\n{slack_date(last)}"),
        _mrkdwn(f"*Over*\n{span}"),
        _mrkdwn(f"*Retryable*\n{'yes' if state.get('retryable') else 'no' if state.get('retryable') is False else 'unknown'}"),
    ]))
    newest = list(state.get("newest") or [])[-STORM_NEWEST:]
    if newest:
        lines = "\n".join(f"{mark('failed')} {link(run_url_of(rid), rid)}" for rid in reversed(newest))
        blocks.append(SectionBlock(text=_mrkdwn(f"*Newest runs*\n{lines}")))
    if recovered:
        blocks.append(SectionBlock(text=_mrkdwn(
            f"✅ *Recovered*: {link(run_url_of(recovered['run_id']), recovered['run_id'])} completed "
            f"{slack_date(_parse(recovered.get('at')))}.")))
    else:
        blocks.append(ContextBlock(elements=[_mrkdwn(
            "Grouped to spare the channel: every run of this burst is listed in the thread, and "
            f"`/runs failed {state['workflow_id']}` finds them all.")]))
    newest_id = newest[-1] if newest else None
    if newest_id:
        blocks.append(ActionsBlock(block_id=f"storm:{state['workflow_id']}:{code}"[:255], elements=[
            ButtonElement(text="Show newest run", action_id="run_show", value=newest_id),
        ]))
    text = (f"{'Recovered: ' if recovered else ''}{workflow} failed {count} times with {code} "
            f"over {span}; newest {newest_id or '—'}. The runs are listed in the thread.")
    return {"text": text, "blocks": [b.to_dict() for b in blocks]}


def storm_runs_reply(runs: list[dict], *, run_url_of, note: str | None = None) -> dict:
    """A thread reply listing failed runs of a storm: id, failed step and time, one a line."""
    lines = []
    for r in runs:
        where = f" at {r['step']}" if r.get("step") else ""
        lines.append(f"{mark('failed')} {link(run_url_of(r['run_id']), r['run_id'])}{where} · "
                     f"{slack_date(_parse(r.get('at')), '{time_secs}')}")
    blocks: list = []
    if note:
        blocks.append(SectionBlock(text=_mrkdwn(note)))
    for i in range(0, len(lines), STORM_LIST_PER_SECTION):
        blocks.append(SectionBlock(text=_mrkdwn("\n".join(lines[i:i + STORM_LIST_PER_SECTION]))))
    text = (note + " " if note else "") + "Failed: " + ", ".join(r["run_id"] for r in runs)
    return {"text": text, "blocks": [b.to_dict() for b in blocks]}


def storm_recovered_reply(run_id: str, run_url: str) -> dict:
    return {"text": f"✅ Recovered: {link(run_url, run_id)} completed."}
