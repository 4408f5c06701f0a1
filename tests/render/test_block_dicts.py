"""The run-list renderers build their section and context blocks as dicts (a hot path); they must be exactly what
slack_sdk's Block Kit models give for the same text, empty text and the longest allowed included; so must the Next
page button's actions block, for the values a page's state gives."""

from __future__ import annotations

import pytest
from slack_sdk.models.blocks import ActionsBlock, ContextBlock, MarkdownTextObject, SectionBlock

from bot.render.common import SECTION_LIMIT, trim_middle
from bot.render.mrkdwn import Mrkdwn, escape
from bot.render.runs import _button, _context, _next_page, _section, button_value

TEXTS = ["", "*Failed runs*", "a <b> & `c`", "x" * SECTION_LIMIT, "y" * (SECTION_LIMIT + 50), "line\nline"]


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("kind", [Mrkdwn, str])  # the code's own mrkdwn, or plain text escaped on its way in
def test_section_and_context_dicts_equal_the_block_kit_models(text, kind):
    value = kind(text)
    shown = trim_middle(escape(value), SECTION_LIMIT)
    assert _section(value) == SectionBlock(text=MarkdownTextObject(text=shown)).to_dict()
    assert _context(value) == ContextBlock(elements=[MarkdownTextObject(text=shown)]).to_dict()
    assert len(_section(value).get("text", {}).get("text", "")) <= SECTION_LIMIT


@pytest.mark.parametrize(
    "state",
    [{"k": "failed", "b": ["2026-12-01T10:00:00Z", "run_1"], "p": 2}, {"k": "list", "q": "<é> & \\" * 200}],
)
def test_the_next_page_block_equals_the_block_kit_model(state):
    value = button_value(state)
    assert value is not None
    assert _next_page(value) == ActionsBlock(elements=[_button("Next page", "runs_next_page", value)]).to_dict()
