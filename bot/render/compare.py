"""The *Compare with original* button a replay's alert carries (`/runs diff` of the original and the replay)."""

from __future__ import annotations

import json

from slack_sdk.models.blocks import ButtonElement


def diff_value(a: str, b: str) -> str:
    return json.dumps({"a": a, "b": b}, separators=(",", ":"))


def compare_button(original: str, replay: str) -> ButtonElement:
    return ButtonElement(text="Compare with original", action_id="run_diff", value=diff_value(original, replay))


def with_compare_button(payload: dict, original: str, replay: str) -> dict:
    """A thread reply about a replay, with the button under its text."""
    text = payload.get("text") or ""
    section = {"type": "section", "text": {"type": "mrkdwn", "text": text}}
    actions = {"type": "actions", "elements": [compare_button(original, replay).to_dict()]}
    return {**payload, "blocks": [*(payload.get("blocks") or [section]), actions]}
