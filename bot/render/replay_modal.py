"""The *Replay with changes* modal: it names the workflow and the error it replays, and offers the models seen
on the workflow's runs as a select, with "Other" and a free-text field for a model not seen yet. Pure."""

from __future__ import annotations

from slack_sdk.models.blocks import (
    InputBlock,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.render.common import code_span
from bot.render.mrkdwn import mrkdwn, plain, single_line
from bot.render.prompts import PROMPT_LIMIT
from bot.render.runs import ID_LIMIT, NAME_LIMIT, _section

OTHER = "__other__"
MAX_MODELS = 99  # a static select takes 100 options; one is "Other"
MODEL_LIMIT = 75  # an option's value and text are at most 75 characters


def replay_changes_modal(
    run_id: str,
    prompt: str,
    model: str,
    private_metadata: str,
    *,
    workflow: str,
    error_code: str | None,
    step_words: str | None,
    models: list[str],
) -> dict:
    seen = [m for m in dict.fromkeys([model, *models]) if m and len(m) <= MODEL_LIMIT][:MAX_MODELS]
    options = [Option(value=m, text=PlainTextObject(text=plain(m, MODEL_LIMIT))) for m in seen]
    options.append(Option(value=OTHER, text=PlainTextObject(text="Other (type it below)")))
    initial = next((o for o in options if o.value == model), None)
    failed = (
        mrkdwn(", which failed at {where} with {code}", where=step_words or "a step", code=code_span(error_code))
        if error_code
        else ""
    )
    intro = mrkdwn(
        "A new run of *{workflow}* replaying {run}{failed}, with this prompt and model.",
        workflow=single_line(workflow, NAME_LIMIT),
        run=code_span(single_line(run_id, ID_LIMIT)),
        failed=failed,
    )
    return View(
        type="modal",
        callback_id="replay_modal",
        title=PlainTextObject(text="Replay with changes"),
        submit=PlainTextObject(text="Replay"),
        close=PlainTextObject(text="Cancel"),
        private_metadata=private_metadata,
        blocks=[
            _section(intro),
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
                block_id="model_choice",
                label=PlainTextObject(text="Model"),
                element=StaticSelectElement(action_id="value", options=options, initial_option=initial),
                hint=PlainTextObject(text="Models seen on this workflow's runs"),
            ),
            InputBlock(
                block_id="model",
                label=PlainTextObject(text="Other model"),
                optional=True,
                element=PlainTextInputElement(action_id="value", max_length=128),
                hint=PlainTextObject(text='Used when "Other" is chosen, or instead of the choice above'),
            ),
        ],
    ).to_dict()
