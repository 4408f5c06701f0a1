"""Block Kit / message validation mirroring the errors Slack's Web API returns."""

from __future__ import annotations

from typing import Any

from reference.slack import blockkit

MAX_TEXT = 40_000


class ApiError(Exception):
    """A Slack Web API error: answered as ``{"ok": false, "error": ..., **extra}``."""

    def __init__(self, error: str, status: int = 200, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.status = status
        self.extra = extra


def _invalid_blocks(problems: list[blockkit.Problem]) -> ApiError:
    """Slack's answer to bad blocks in a message: `invalid_blocks` with every problem and its JSON pointer."""
    errors = [str(p) for p in problems]
    return ApiError("invalid_blocks", errors=errors, response_metadata={"messages": [f"[ERROR] {e}" for e in errors]})


def validate_blocks(blocks: Any) -> None:
    """Raise the error Slack answers for bad Block Kit in a message (see ``reference.slack.blockkit``)."""
    if blocks is None:
        return
    if not isinstance(blocks, list):
        raise ApiError("invalid_blocks_format")
    problems = blockkit.message_problems(blocks)
    if problems:
        raise _invalid_blocks(problems)
    if blockkit.blocks_too_long(blocks):
        raise ApiError("msg_blocks_too_long")  # chat.postMessage: "blocks submitted with this message are too long"


def validate_message(args: dict, *, require_content: bool = True) -> None:
    """Checks shared by chat.postMessage / chat.update / chat.postEphemeral / response_url."""
    text = args.get("text")
    blocks = args.get("blocks")
    attachments = args.get("attachments")
    if text is not None and not isinstance(text, str):
        text = str(text)
    if require_content and not text and not blocks and not attachments:
        raise ApiError("no_text")
    if text and len(text) > MAX_TEXT:
        raise ApiError("msg_too_long")
    validate_blocks(blocks)
    if attachments is not None and not isinstance(attachments, list):
        raise ApiError("invalid_attachments")
    md = args.get("metadata")
    if md is not None:
        if (
            not isinstance(md, dict)
            or not isinstance(md.get("event_type"), str)
            or not isinstance(md.get("event_payload"), dict)
        ):
            raise ApiError("invalid_metadata_format")


def validate_view(view: Any) -> None:
    """Raise the error Slack's views.open/update/push/publish answer for a bad view: `invalid_arguments` with
    every problem and its JSON pointer, or `view_too_large`."""
    problems = blockkit.view_problems(view)
    if problems:
        raise ApiError("invalid_arguments", response_metadata={"messages": [f"[ERROR] {p}" for p in problems]})
    if blockkit.view_too_large(view):
        raise ApiError("view_too_large")  # views.open: "the view is too large" (over 250 kB)
