"""Block Kit for what `/runs` asks before it changes a run: the replay and cancel prompts, and the replay
modal with its notices. Pure functions, no I/O; every piece of text goes through `bot.render.mrkdwn`."""

from __future__ import annotations

from slack_sdk.models.blocks import ActionsBlock, PlainTextObject
from slack_sdk.models.views import View

from bot.render.common import code_span, keep_words, mark, trim_middle
from bot.render.mrkdwn import Mrkdwn, join, mrkdwn, plain, single_line
from bot.render.runs import ID_LIMIT, NAME_LIMIT, _button, _confirm, _section, message, run_buttons

PROMPT_LIMIT = 3000


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
                        keep_words(status),
                        style="danger",
                    ),
                )
            ]
        ).to_dict(),
    ]
    return message(text, blocks)


def modal_notice(title: str, text: str, *, callback_id: str = "replay_modal_notice") -> dict:
    """A modal that only says something: "Loading…", "Replaying…", then the outcome. `text` is mrkdwn the bot
    made (a `Mrkdwn`, an error's message or a section it rendered)."""
    return View(
        type="modal",
        callback_id=callback_id,
        title=PlainTextObject(text=plain(title, 24)),
        close=PlainTextObject(text="Close"),
        blocks=[_section(Mrkdwn(text))],
    ).to_dict()
