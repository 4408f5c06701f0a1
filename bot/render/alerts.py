"""Failure alerts as Block Kit: pure functions from a `RunView` and the alert's stored state to a message
payload (`{"text", "blocks"}`) and its thread replies, never doing I/O. Every piece of text goes through
`bot.render.mrkdwn`."""

from __future__ import annotations

import re

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
    progress_bar,
    retryable_words,
    shorten,
    slack_date,
    trim_middle,
)
from bot.render.compare import compare_button
from bot.render.cost import alert_cost_words
from bot.render.lifecycle import (
    NO_REPLAY_AS_IS,
    advice_for,
    header_words,
    lifecycle_buttons,
    lifecycle_lines,
    mute_overflow,
    state_of,
    text_prefix,
)
from bot.render.mrkdwn import (
    Mrkdwn,
    code_block,
    encode_url,
    escape,
    is_user_id,
    join,
    link,
    mention_of,
    mrkdwn,
    plain,
    single_line,
    user_mention,
)
from bot.views import ActorView, ErrorView, RunView, StepView

ERROR_MESSAGE_LIMIT = 1000  # characters of an error message shown in the alert; the whole text goes to the thread
THREAD_TEXT_LIMIT = 35_000  # one thread reply's text (Slack's message limit is 40,000)
HEADER_LIMIT = 150
NAME_LIMIT = 120  # names and codes the platform sends may be of any length; Slack's blocks are not
# The bot's own actor string for the platform ("slack:U0ANA (Ana Ruiz)", see bot.people.People.actor).
SLACK_ACTOR = re.compile(r"^slack:([UW][A-Z0-9]{2,})\b")
REPLAY_MARK = {
    "pending": "🔄",
    "running": "🔄",
    "waiting": "✋",
    "paused": "⏸️",
    "completed": "✅",
    "failed": "❌",
    "cancelled": "🚫",
}


def _header(text: str) -> HeaderBlock:
    return HeaderBlock(text=PlainTextObject(text=plain(text, HEADER_LIMIT), emoji=True))


def _mrkdwn(text: Mrkdwn, limit: int = SECTION_LIMIT) -> MarkdownTextObject:
    """A mrkdwn text object within Slack's limit, measured after escaping (section fields: 2,000)."""
    return MarkdownTextObject(text=trim_middle(escape(text), limit))


# Pieces of a run, in words


def step_position(run: RunView, step: StepView) -> str:
    """ "step 3 of 5" (the platform's `index` is 0-based)."""
    return f"step {step.index + 1} of {run.total_steps}"


def slack_user_of(actor: dict | ActorView | None) -> str | None:
    """The Slack user behind a trigger's actor: its `slack_user_id`, or the bot's own `slack:U…` actor name;
    only an id of Slack's shape."""
    if isinstance(actor, ActorView):
        user, name = actor.slack_user_id, actor.name
    else:
        actor = actor if isinstance(actor, dict) else {}
        user, name = actor.get("slack_user_id"), actor.get("name")
    if is_user_id(user):
        return user
    found = SLACK_ACTOR.match(name if isinstance(name, str) else "")
    return found.group(1) if found else None


def actor_words(actor: ActorView | None) -> Mrkdwn | None:
    """Who started a run, for people: a Slack mention when known, else the name or the email."""
    if actor is None:
        return None
    user = slack_user_of(actor)
    if user:
        return user_mention(user)
    name = actor.name or actor.email
    return escape(name) if name else None


def trigger_words(run: RunView) -> Mrkdwn:
    who = actor_words(run.actor)
    kind = run.trigger_type or "unknown"
    return mrkdwn("{kind} by {who}", kind=kind, who=who) if who else escape(kind)


def error_message_too_long(run: RunView) -> bool:
    return len(run.error.message or "") > ERROR_MESSAGE_LIMIT


def is_retryable(run: RunView) -> bool:
    return bool(run.error.retryable)


def _error_words(error: ErrorView) -> dict:
    """The facts of an error in the words `retryable_words` reads."""
    return {"code": error.code, "retryable": error.retryable} if error.code or error.retryable is not None else {}


def provider_words(error: ErrorView) -> Mrkdwn | None:
    provider, status = error.provider, error.provider_status
    if provider and status is not None:
        return mrkdwn("{provider} answered HTTP {status}", provider=provider, status=status)
    if provider:
        return escape(provider)
    if status is not None:
        return mrkdwn("upstream HTTP {status}", status=status)
    return None


# The alert


def replay_line(replay: dict, run_url_of) -> Mrkdwn:
    """ "🔄 Replayed by <@U0ANA> as run_Y: running" with the replay's outcome once it ends."""
    run_id = single_line(replay["run_id"], NAME_LIMIT)
    status = replay.get("status") or "pending"
    line = mrkdwn(
        "{mark} Replayed {by} as {run}",
        mark=REPLAY_MARK.get(status, "🔄"),
        by=_replay_by(replay),
        run=link(run_url_of(run_id), run_id),
    )
    if status in ("completed", "failed", "cancelled"):
        outcome = {"completed": "succeeded", "failed": "failed", "cancelled": "was cancelled"}[status]
        detail = (
            mrkdwn(" ({code})", code=code_span(single_line(replay["error_code"], NAME_LIMIT)))
            if status == "failed" and replay.get("error_code")
            else ""
        )
        return mrkdwn("{line}: the replay {outcome}{detail}", line=line, outcome=outcome, detail=detail)
    return mrkdwn("{line}: in progress", line=line)


def _replay_by(replay: dict) -> Mrkdwn:
    """The stored "by …" words: made by `replay_by_words` (the bot's own state), kept as they were made."""
    return Mrkdwn(replay.get("by") or "from the console")


def replay_by_words(user: str | None, actor: ActorView | dict | None) -> Mrkdwn:
    """ "by <@U0ANA>" for a replay started from Slack; "from the console (by Dana)" otherwise."""
    if is_user_id(user):
        return mrkdwn("by {who}", who=user_mention(user))
    if isinstance(actor, dict):
        actor = ActorView(
            name=single_line(actor.get("name") or "", 200) or None,
            email=single_line(actor.get("email") or "", 200) or None,
            slack_user_id=actor.get("slack_user_id") if is_user_id(actor.get("slack_user_id")) else None,
        )
    if actor is not None and slack_user_of(actor):
        return mrkdwn("by {who}", who=actor_words(actor))
    who = actor_words(actor)
    return mrkdwn("from the console by {who}", who=who) if who else Mrkdwn("from the console")


def _buttons(run_id: str, *, retryable: bool, replay_allowed: bool, workflow: str) -> list[ButtonElement]:
    show = ButtonElement(text="Show run", action_id="run_show", value=run_id)
    if not replay_allowed:
        return [show]
    # A confirmation dialog's text is mrkdwn.
    confirm = ConfirmObject(
        title="Replay this run?",
        text=_mrkdwn(
            mrkdwn(
                "A new run of {workflow} starts with the same input, prompt and model as {run}.",
                workflow=workflow,
                run=run_id,
            ),
            300,
        ),
        confirm="Replay",
        deny="Cancel",
    )
    replay = ButtonElement(
        text="Replay", action_id="run_replay", value=run_id, confirm=confirm, style="primary" if retryable else None
    )
    changes = ButtonElement(
        text="Replay with changes…",
        action_id="run_replay_changes",
        value=run_id,
        style=None if retryable else "primary",
    )
    return [replay, changes, show] if retryable else [changes, replay, show]


def alert_message(
    run: RunView,
    *,
    run_url_of,
    step_url: str | None,
    owners: list[str],
    replays: list[dict] | None = None,
    lifecycle: dict | None = None,
    notes: list[Mrkdwn] | None = None,
    approvers: list[str] | None = None,
) -> dict:
    """A failed run's alert: what failed where, why, whether to retry, who owns it, what to do. `owners` are
    Slack user or group ids (or mentions of them); anything else is shown as text. `lifecycle` is who handles
    it (`bot.alert_cards.view_of`); `notes` are lines the bot made (the failure's context, muted failures)."""
    run_id = run.id
    workflow = shorten(run.workflow_name, NAME_LIMIT)
    step = run.failed_step
    error = run.error
    retryable = bool(error.retryable)
    replays = replays or []
    run_url = run_url_of(run_id)
    failed_at = run.completed_at or run.updated_at

    settled = state_of(lifecycle) in ("resolved", "recovered")
    blocks: list = [_header(header_words(lifecycle, f"❌ {workflow} failed"))]
    # One context line for when and who (GitHub's Slack app is the bar for compactness).
    when_who = mrkdwn(
        "{run} · {trigger} · started {started}, failed {failed} after {d} · {bar} steps done",
        run=link(run_url, run_id),
        trigger=trigger_words(run),
        started=slack_date(run.started_at or run.created_at),
        failed=slack_date(failed_at, "{time_secs}"),
        d=duration(run.duration_ms),
        bar=progress_bar(run.completed_steps, run.total_steps),
    )
    blocks.append(ContextBlock(elements=[_mrkdwn(when_who)]))

    if step is not None:
        lines = [
            mrkdwn(
                "*Failed at {where}: {name}*",
                where=step_position(run, step),
                name=shorten(step.name or step.id, NAME_LIMIT),
            )
        ]
        provider = provider_words(error)
        lines.append(
            mrkdwn(
                "*Error* {code}{provider}",
                code=code_span(shorten(error.code or "unknown", NAME_LIMIT)),
                provider=mrkdwn(" · {p}", p=provider) if provider else "",
            )
        )
        if error.message:
            lines.append(
                mrkdwn(
                    "{message}{more}",
                    message=code_span(trim_middle(error.message, ERROR_MESSAGE_LIMIT)),
                    more=Mrkdwn(" _(whole message in the thread)_") if error_message_too_long(run) else "",
                )
            )
        lines.append(mrkdwn("*{words}*", words=retryable_words(_error_words(error) or None)))
        accessory = (
            ButtonElement(text="Jump to failed step", action_id="run_jump", url=encode_url(step_url))
            if step_url
            else None
        )
        blocks.append(SectionBlock(text=_mrkdwn(trim_middle(join("\n", lines), SECTION_LIMIT)), accessory=accessory))
    else:
        blocks.append(
            SectionBlock(
                text=_mrkdwn(Mrkdwn("*The platform did not say which step failed.* Open the run for details."))
            )
        )

    context: list[Mrkdwn] = []
    if owners:
        context.append(mrkdwn("Owner: {who}", who=join(" ", [mention_of(o) for o in owners])))
    if run.replay_of:
        context.append(mrkdwn("Replay of {run}", run=link(run_url_of(run.replay_of), run.replay_of)))
    if run.model:
        context.append(mrkdwn("Model {model}", model=code_span(run.model)))
    context.append(alert_cost_words(run))
    if context:
        blocks.append(ContextBlock(elements=[_mrkdwn(join(" · ", context))]))
    if notes:
        blocks.append(ContextBlock(elements=[_mrkdwn(join("\n", notes))]))
    handled = lifecycle_lines(lifecycle, run_url_of)
    recovered_by = ((lifecycle or {}).get("recovered") or {}).get("by")
    if recovered_by and any(r.get("run_id") == recovered_by and r.get("status") == "completed" for r in replays[-5:]):
        handled = []  # the replay's own line says it succeeded: "Recovered by" the same run would repeat it
    if handled:
        blocks.append(SectionBlock(text=_mrkdwn(join("\n", handled))))

    last = replays[-1] if replays else None
    replay_running = last is not None and last.get("status") not in ("completed", "failed", "cancelled")
    recovered = any(r.get("status") == "completed" for r in replays)
    if replays:
        blocks.append(DividerBlock())
        shown = replays[-5:]
        text = join("\n", [replay_line(r, run_url_of) for r in shown])
        if len(replays) > len(shown):
            text = mrkdwn("_{n} earlier replays in the thread_\n{text}", n=len(replays) - len(shown), text=text)
        blocks.append(SectionBlock(text=_mrkdwn(trim_middle(text, 2900))))
    advice = advice_for(error.code, approvers or [])
    if step is not None and advice and not replays and not settled:
        blocks.append(ContextBlock(elements=[_mrkdwn(advice)]))
    elif step is not None and not retryable and not replays and not settled:
        blocks.append(
            ContextBlock(
                elements=[
                    _mrkdwn(
                        Mrkdwn(
                            "⚠️ Not retryable: replaying as-is will likely fail the same way. *Replay with changes…* lets you "
                            "change the prompt or the model."
                        )
                    )
                ]
            )
        )
    # Once a replay succeeded, or while one runs, replaying again would start a second run of the same work.
    replay_allowed = not recovered and not replay_running and not settled
    # An expired approval is replayed as-is (and decided in time): Replay comes first.
    elements = _buttons(
        run_id,
        retryable=retryable or error.code == "approval_expired",
        replay_allowed=replay_allowed,
        workflow=workflow,
    )
    if error.code in NO_REPLAY_AS_IS:
        elements = [e for e in elements if e.action_id != "run_replay"]
    elements[-1:-1] = lifecycle_buttons(f"run:{run_id}", lifecycle)
    if not settled:
        elements.append(mute_overflow(run_id, error.code))
    if run.replay_of:
        elements.append(compare_button(run.replay_of, run_id))
    blocks.append(ActionsBlock(block_id=f"alert:{run_id}"[:255], elements=elements))

    text = mrkdwn("{prefix}{text}", prefix=text_prefix(lifecycle), text=alert_text(run, owners=owners, replays=replays))
    return {"text": text, "blocks": [b.to_dict() for b in blocks]}


def alert_text(run: RunView, *, owners: list[str], replays: list[dict] | None = None) -> Mrkdwn:
    """The notification and plain-text fallback: every fact of the alert, in one paragraph (mrkdwn, escaped)."""
    step = run.failed_step
    error = run.error
    parts = [mrkdwn("❌ {workflow} failed: {run}", workflow=run.workflow_name, run=run.id)]
    if step is not None:
        parts.append(mrkdwn("at {where} ({name})", where=step_position(run, step), name=step.name or step.id))
    if error.code:
        parts.append(mrkdwn("with {code}", code=error.code))
    provider = provider_words(error)
    text = mrkdwn(
        "{parts}{provider}.", parts=join(" ", parts), provider=mrkdwn(", {p}", p=provider) if provider else ""
    )
    if error.message:
        text = mrkdwn(
            "{text} {message}.",
            text=text,
            message=Mrkdwn(escape(single_line(trim_middle(error.message, 300))).rstrip(".")),
        )
    if step is not None:
        text = mrkdwn("{text} {words}.", text=text, words=retryable_words(_error_words(error) or None))
    text = mrkdwn("{text} Triggered {trigger}.", text=text, trigger=trigger_words(run))
    if owners:
        text = mrkdwn("{text} Owner: {who}.", text=text, who=join(" ", [mention_of(o) for o in owners]))
    for replay in (replays or [])[-1:]:
        text = mrkdwn(
            "{text} Replayed {by} as {run}: {status}.",
            text=text,
            by=_replay_by(replay),
            run=single_line(replay["run_id"], NAME_LIMIT),
            status=replay.get("status"),
        )
    return text


def full_error_replies(run: RunView) -> list[dict]:
    """The whole error message, in the alert's thread, split into replies Slack accepts."""
    message = run.error.message or ""
    # Escaping may make a chunk longer (`<` becomes `&lt;`): cut the escaped text, on entity boundaries.
    escaped = escape(message)
    chunks, start = [], 0
    while start < len(escaped):
        end = min(start + THREAD_TEXT_LIMIT, len(escaped))
        cut = escaped.rfind("&", max(end - 5, start), end)
        if end < len(escaped) and cut > start and ";" not in escaped[cut:end]:
            end = cut
        chunks.append(Mrkdwn(escaped[start:end]))
        start = end
    chunks = chunks or [Mrkdwn("")]
    replies = []
    for n, chunk in enumerate(chunks, 1):
        label = "Whole error message" + (f" ({n}/{len(chunks)})" if len(chunks) > 1 else "")
        replies.append({"text": mrkdwn("{label} of {run}:\n{block}", label=label, run=run.id, block=code_block(chunk))})
    return replies


def replay_started_reply(run_id: str, replay_id: str, by: Mrkdwn, replay_url: str) -> dict:
    """`by` is what `replay_by_words` made."""
    return {
        "text": mrkdwn(
            "🔄 {run} was replayed {by} as {replay}.",
            run=single_line(run_id, NAME_LIMIT),
            by=Mrkdwn(by),
            replay=link(replay_url, single_line(replay_id, NAME_LIMIT)),
        )
    }


def replay_ended_reply(replay: dict, replay_url: str) -> dict:
    status = replay.get("status")
    words = {"completed": "succeeded", "failed": "failed", "cancelled": "was cancelled"}.get(status, status)
    detail = (
        mrkdwn(" with {code}", code=code_span(single_line(replay["error_code"], NAME_LIMIT)))
        if status == "failed" and replay.get("error_code")
        else ""
    )
    return {
        "text": mrkdwn(
            "{mark} The replay {run} {words}{detail}.",
            mark=REPLAY_MARK.get(status, "•"),
            run=link(replay_url, single_line(replay["run_id"], NAME_LIMIT)),
            words=single_line(words, 32),
            detail=detail,
        )
    }
