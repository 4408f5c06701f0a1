"""Block Kit / message validation mirroring the errors Slack's Web API returns."""

from __future__ import annotations

from typing import Any

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_TEXT = 40_000
SECTION_TEXT_MAX = 3000
SECTION_FIELD_MAX = 2000  # Slack's real limit for each section field
SECTION_FIELDS_MAX = 10
HEADER_TEXT_MAX = 150
BUTTON_TEXT_MAX = 75
ACTION_ID_MAX = 255
BLOCK_ID_MAX = 255
BUTTON_VALUE_MAX = 2000
ACTIONS_ELEMENTS_MAX = 25
CONTEXT_ELEMENTS_MAX = 10
MODAL_TITLE_MAX = 24
PRIVATE_METADATA_MAX = 3000

KNOWN_BLOCKS = {
    "section",
    "header",
    "divider",
    "actions",
    "context",
    "image",
    "input",
    "rich_text",
    "markdown",
    "video",
    "file",
    "call",
    "table",
    "context_actions",
}
TEXT_TYPES = {"plain_text", "mrkdwn"}


class ApiError(Exception):
    """A Slack Web API error: answered as ``{"ok": false, "error": ..., **extra}``."""

    def __init__(self, error: str, status: int = 200, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.status = status
        self.extra = extra


def _blocks_error(message: str, pointer: str, error: str = "invalid_blocks") -> ApiError:
    msg = f"{message} [json-pointer:{pointer}]"
    return ApiError(error, errors=[msg], response_metadata={"messages": [f"[ERROR] {msg}"]})


def _check_text_obj(obj: Any, pointer: str, *, max_len: int | None = None, plain_only: bool = False) -> None:
    if not isinstance(obj, dict) or obj.get("type") not in TEXT_TYPES or not isinstance(obj.get("text"), str):
        raise _blocks_error("must provide a valid text object", pointer)
    if plain_only and obj["type"] != "plain_text":
        raise _blocks_error("must be a plain_text text object", pointer + "/type")
    if max_len is not None and len(obj["text"]) > max_len:
        raise _blocks_error(f"must be less than {max_len + 1} characters", pointer + "/text")


def _check_element(el: Any, pointer: str) -> None:
    if not isinstance(el, dict) or not isinstance(el.get("type"), str):
        raise _blocks_error("must provide an object with a type", pointer)
    if "action_id" in el and (not isinstance(el["action_id"], str) or len(el["action_id"]) > ACTION_ID_MAX):
        raise _blocks_error(f"must be less than {ACTION_ID_MAX + 1} characters", pointer + "/action_id")
    if el["type"] == "button":
        if "text" not in el:
            raise _blocks_error("missing required field: text", pointer)
        _check_text_obj(el["text"], pointer + "/text", max_len=BUTTON_TEXT_MAX, plain_only=True)
        if "value" in el and (not isinstance(el["value"], str) or len(el["value"]) > BUTTON_VALUE_MAX):
            raise _blocks_error(f"must be less than {BUTTON_VALUE_MAX + 1} characters", pointer + "/value")
        if "style" in el and el["style"] not in ("primary", "danger"):
            raise _blocks_error("must be one of: primary, danger", pointer + "/style")


def validate_blocks(blocks: Any, *, max_blocks: int = MAX_MESSAGE_BLOCKS, in_view: bool = False) -> None:
    """Raise ``ApiError("invalid_blocks")`` the way Slack does for bad Block Kit."""
    if blocks is None:
        return
    if not isinstance(blocks, list):
        raise ApiError("invalid_blocks_format")
    if len(blocks) > max_blocks:
        raise _blocks_error(f"no more than {max_blocks} items allowed", "/blocks")
    seen_block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        p = f"/blocks/{i}"
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            raise _blocks_error("must provide an object with a type", p)
        btype = block["type"]
        if btype not in KNOWN_BLOCKS:
            raise _blocks_error(f"unsupported type: {btype}", p + "/type")
        if btype == "input" and not in_view:
            # Slack accepts input blocks in messages only with dispatch_action; keep it lenient.
            pass
        bid = block.get("block_id")
        if bid is not None:
            if not isinstance(bid, str) or len(bid) > BLOCK_ID_MAX:
                raise _blocks_error(f"must be less than {BLOCK_ID_MAX + 1} characters", p + "/block_id")
            if bid in seen_block_ids:
                raise _blocks_error(f"duplicate block_id: {bid}", p + "/block_id")
            seen_block_ids.add(bid)
        if btype == "section":
            if "text" not in block and "fields" not in block:
                raise _blocks_error("must provide either text or fields", p)
            if "text" in block:
                _check_text_obj(block["text"], p + "/text", max_len=SECTION_TEXT_MAX)
            if "fields" in block:
                fields = block["fields"]
                if not isinstance(fields, list) or not fields:
                    raise _blocks_error("must provide a non-empty list", p + "/fields")
                if len(fields) > SECTION_FIELDS_MAX:
                    raise _blocks_error(f"no more than {SECTION_FIELDS_MAX} items allowed", p + "/fields")
                for j, f in enumerate(fields):
                    _check_text_obj(f, f"{p}/fields/{j}", max_len=SECTION_FIELD_MAX)
            if "accessory" in block:
                _check_element(block["accessory"], p + "/accessory")
        elif btype == "header":
            _check_text_obj(block.get("text"), p + "/text", max_len=HEADER_TEXT_MAX, plain_only=True)
        elif btype == "actions":
            els = block.get("elements")
            if not isinstance(els, list) or not els:
                raise _blocks_error("must provide a non-empty list", p + "/elements")
            if len(els) > ACTIONS_ELEMENTS_MAX:
                raise _blocks_error(f"no more than {ACTIONS_ELEMENTS_MAX} items allowed", p + "/elements")
            for j, el in enumerate(els):
                ep = f"{p}/elements/{j}"
                _check_element(el, ep)
                if el.get("type") == "button" and not el.get("action_id"):
                    raise _blocks_error("missing required field: action_id", ep)
        elif btype == "context":
            els = block.get("elements")
            if not isinstance(els, list) or not els:
                raise _blocks_error("must provide a non-empty list", p + "/elements")
            if len(els) > CONTEXT_ELEMENTS_MAX:
                raise _blocks_error(f"no more than {CONTEXT_ELEMENTS_MAX} items allowed", p + "/elements")
            for j, el in enumerate(els):
                if isinstance(el, dict) and el.get("type") in TEXT_TYPES:
                    _check_text_obj(el, f"{p}/elements/{j}", max_len=SECTION_TEXT_MAX)
        elif btype == "input":
            _check_text_obj(block.get("label"), p + "/label", max_len=2000, plain_only=True)
            _check_element(block.get("element"), p + "/element")


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
    """A subset of the checks Slack applies to views.open/update/push/publish."""
    if not isinstance(view, dict):
        raise ApiError("invalid_arguments", response_metadata={"messages": ["[ERROR] missing required field: view"]})
    vtype = view.get("type")
    if vtype not in ("modal", "home"):
        raise ApiError(
            "invalid_arguments",
            response_metadata={"messages": ["[ERROR] must be one of: modal, home [json-pointer:/view/type]"]},
        )
    blocks = view.get("blocks")
    if not isinstance(blocks, list):
        raise ApiError(
            "invalid_arguments",
            response_metadata={"messages": ["[ERROR] missing required field: blocks [json-pointer:/view]"]},
        )
    try:
        validate_blocks(blocks, max_blocks=MAX_VIEW_BLOCKS, in_view=True)
    except ApiError as e:
        if e.error == "invalid_blocks":
            raise ApiError("invalid_arguments", response_metadata=e.extra.get("response_metadata")) from None
        raise
    if vtype == "modal":
        try:
            _check_text_obj(view.get("title"), "/view/title", max_len=MODAL_TITLE_MAX, plain_only=True)
            for key in ("submit", "close"):
                if view.get(key) is not None:
                    _check_text_obj(view[key], f"/view/{key}", max_len=MODAL_TITLE_MAX, plain_only=True)
        except ApiError as e:
            raise ApiError("invalid_arguments", response_metadata=e.extra.get("response_metadata")) from None
        if any(b.get("type") == "input" for b in blocks) and not view.get("submit"):
            raise ApiError(
                "invalid_arguments",
                response_metadata={
                    "messages": [
                        "[ERROR] must provide submit when input blocks are present [json-pointer:/view/submit]"
                    ]
                },
            )
    pm = view.get("private_metadata")
    if pm is not None and (not isinstance(pm, str) or len(pm) > PRIVATE_METADATA_MAX):
        raise ApiError(
            "invalid_arguments",
            response_metadata={
                "messages": [
                    f"[ERROR] must be less than {PRIVATE_METADATA_MAX + 1} characters "
                    "[json-pointer:/view/private_metadata]"
                ]
            },
        )
