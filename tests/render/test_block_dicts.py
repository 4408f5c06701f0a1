"""The run-list renderers build their section and context blocks as dicts (a hot path); they must be exactly what
slack_sdk's Block Kit models give for the same text, empty text and the longest allowed included."""

from __future__ import annotations

import pytest
from slack_sdk.models.blocks import ContextBlock, MarkdownTextObject, SectionBlock

from bot.render.common import SECTION_LIMIT, trim_middle
from bot.render.mrkdwn import Mrkdwn, escape
from bot.render.runs import _context, _section

TEXTS = ["", "*Failed runs*", "a <b> & `c`", "x" * SECTION_LIMIT, "y" * (SECTION_LIMIT + 50), "line\nline"]


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("kind", [Mrkdwn, str])  # the code's own mrkdwn, or plain text escaped on its way in
def test_section_and_context_dicts_equal_the_block_kit_models(text, kind):
    value = kind(text)
    shown = trim_middle(escape(value), SECTION_LIMIT)
    assert _section(value) == SectionBlock(text=MarkdownTextObject(text=shown)).to_dict()
    assert _context(value) == ContextBlock(elements=[MarkdownTextObject(text=shown)]).to_dict()
    assert len(_section(value).get("text", {}).get("text", "")) <= SECTION_LIMIT
