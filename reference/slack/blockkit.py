"""Block Kit as Slack checks it: the limits of Slack's Block Kit reference (blocks, block elements, composition
objects, views), as a list of problems with Slack's JSON pointers. Pure: ``reference.slack.blocks`` turns the
problems into the errors the Web API answers (``invalid_blocks`` for messages, ``invalid_arguments`` for views).

Limits (https://docs.slack.dev/reference/block-kit/): 50 blocks a message, 100 a modal or Home tab; section
text 3,000, at most 10 fields of 2,000; header plain_text 150; context at most 10 elements; actions at most 25
elements; button text 75, value 2,000, url 3,000; action_id and block_id 255, unique; confirm title 100, text
300, confirm/deny 30; option text 75, value 150, description 75, at most 100 options; modal title, submit,
close 24; private_metadata 3,000; callback_id and external_id 255; input label and hint 2,000; placeholder
150; plain_text_input max_length at most 3,000; markdown blocks 12,000 in all (``msg_blocks_too_long``);
a view at most 250 kB (``view_too_large``). No empty text object; no unknown block, element or key."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

MESSAGE_BLOCKS_MAX = 50
VIEW_BLOCKS_MAX = 100
MARKDOWN_TOTAL_MAX = 12_000  # "the cumulative limit for all markdown blocks in a single payload"
VIEW_BYTES_MAX = 250_000  # views.*: view_too_large
ID_MAX = 255  # action_id, block_id, callback_id, external_id
MODAL_TEXT_MAX = 24  # title, submit, close
PRIVATE_METADATA_MAX = 3000
OPTIONS_MAX = 100
TEXT_TYPES = ("plain_text", "mrkdwn")
TEXT_KEYS = {"type", "text", "emoji", "verbatim"}


@dataclass(frozen=True)
class Problem:
    message: str
    pointer: str

    def __str__(self) -> str:
        return f"{self.message} [json-pointer:{self.pointer}]"


class _Check:
    """Walks one payload, collecting problems."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.action_ids: set[str] = set()

    def fail(self, message: str, pointer: str) -> None:
        self.problems.append(Problem(message, pointer))

    def keys(self, obj: dict, allowed: set[str], pointer: str) -> None:
        for key in obj:
            if key not in allowed:
                self.fail(f"unsupported field: {key}", f"{pointer}/{key}")

    def string(self, obj: dict, key: str, pointer: str, limit: int, *, required: bool = False) -> None:
        value = obj.get(key)
        if value is None:
            if required:
                self.fail(f"missing required field: {key}", pointer)
            return
        if not isinstance(value, str):
            self.fail("must be a string", f"{pointer}/{key}")
        elif len(value) > limit:
            self.fail(f"must be less than {limit + 1} characters", f"{pointer}/{key}")

    def text(self, obj: Any, pointer: str, limit: int, *, plain: bool = False, required: bool = True) -> None:
        """A text object: plain_text (or mrkdwn where allowed), 1 to `limit` characters."""
        if obj is None:
            if required:
                self.fail("must provide a text object", pointer)
            return
        if not isinstance(obj, dict) or obj.get("type") not in TEXT_TYPES:
            self.fail("must provide a valid text object", pointer)
            return
        self.keys(obj, TEXT_KEYS, pointer)
        if plain and obj["type"] != "plain_text":
            self.fail("must be a plain_text text object", f"{pointer}/type")
        text = obj.get("text")
        if not isinstance(text, str):
            self.fail("must provide a string", f"{pointer}/text")
        elif not text:
            self.fail("must be more than 0 characters", f"{pointer}/text")  # no empty text object
        elif len(text) > limit:
            self.fail(f"must be less than {limit + 1} characters", f"{pointer}/text")

    def action_id(self, el: dict, pointer: str) -> None:
        """Optional (Slack makes one up); 255 characters, unique among the action_ids of its block."""
        self.string(el, "action_id", pointer, ID_MAX)
        aid = el.get("action_id")
        if isinstance(aid, str):
            if aid in self.action_ids:
                self.fail(f"duplicate action_id: {aid}", f"{pointer}/action_id")
            self.action_ids.add(aid)

    def confirm(self, obj: Any, pointer: str) -> None:
        if not isinstance(obj, dict):
            self.fail("must provide an object", pointer)
            return
        self.keys(obj, {"title", "text", "confirm", "deny", "style"}, pointer)
        self.text(obj.get("title"), f"{pointer}/title", 100, plain=True)
        self.text(obj.get("text"), f"{pointer}/text", 300)
        self.text(obj.get("confirm"), f"{pointer}/confirm", 30, plain=True)
        self.text(obj.get("deny"), f"{pointer}/deny", 30, plain=True)
        if "style" in obj and obj["style"] not in ("primary", "danger"):
            self.fail("must be one of: primary, danger", f"{pointer}/style")

    def options(self, opts: Any, pointer: str, *, plain: bool = True, url: bool = False, low: int = 1) -> None:
        if not isinstance(opts, list) or len(opts) < low:
            self.fail(f"must provide at least {low} items", pointer)
            return
        if len(opts) > OPTIONS_MAX:
            self.fail(f"no more than {OPTIONS_MAX} items allowed", pointer)
        for i, opt in enumerate(opts):
            p = f"{pointer}/{i}"
            if not isinstance(opt, dict):
                self.fail("must provide an object", p)
                continue
            self.keys(opt, {"text", "value", "description", "url"} if url else {"text", "value", "description"}, p)
            self.text(opt.get("text"), f"{p}/text", 75, plain=plain)
            self.string(opt, "value", p, 150, required=True)
            self.text(opt.get("description"), f"{p}/description", 75, plain=plain, required=False)
            if url:
                self.string(opt, "url", p, 3000)


# Keys each element may carry beyond `type` and `action_id` (Slack's block elements reference).
_COMMON = {"confirm", "focus_on_load", "placeholder"}
ELEMENT_KEYS: dict[str, set[str]] = {
    "button": {"text", "url", "value", "style", "confirm", "accessibility_label"},
    "overflow": {"options", "confirm"},
    "static_select": _COMMON | {"options", "option_groups", "initial_option"},
    "multi_static_select": _COMMON | {"options", "option_groups", "initial_options", "max_selected_items"},
    "external_select": _COMMON | {"initial_option", "min_query_length"},
    "multi_external_select": _COMMON | {"initial_options", "min_query_length", "max_selected_items"},
    "users_select": _COMMON | {"initial_user"},
    "multi_users_select": _COMMON | {"initial_users", "max_selected_items"},
    "conversations_select": _COMMON
    | {"initial_conversation", "default_to_current_conversation", "response_url_enabled", "filter"},
    "multi_conversations_select": _COMMON
    | {"initial_conversations", "default_to_current_conversation", "max_selected_items", "filter"},
    "channels_select": _COMMON | {"initial_channel", "response_url_enabled"},
    "multi_channels_select": _COMMON | {"initial_channels", "max_selected_items"},
    "datepicker": _COMMON | {"initial_date"},
    "timepicker": _COMMON | {"initial_time", "timezone"},
    "datetimepicker": {"initial_date_time", "confirm", "focus_on_load"},
    "checkboxes": {"options", "initial_options", "confirm", "focus_on_load"},
    "radio_buttons": {"options", "initial_option", "confirm", "focus_on_load"},
    "plain_text_input": {
        "initial_value",
        "multiline",
        "min_length",
        "max_length",
        "dispatch_action_config",
        "focus_on_load",
        "placeholder",
    },
    "number_input": {
        "is_decimal_allowed",
        "initial_value",
        "min_value",
        "max_value",
        "dispatch_action_config",
        "focus_on_load",
        "placeholder",
    },
    "email_text_input": {"initial_value", "dispatch_action_config", "focus_on_load", "placeholder"},
    "url_text_input": {"initial_value", "dispatch_action_config", "focus_on_load", "placeholder"},
    "rich_text_input": {"initial_value", "dispatch_action_config", "focus_on_load", "placeholder"},
    "file_input": {"filetypes", "max_files"},
    "image": {"image_url", "slack_file", "alt_text"},
}
INPUT_ELEMENTS = set(ELEMENT_KEYS) - {"button", "overflow", "image"}
ACTIONS_ELEMENTS = (
    set(ELEMENT_KEYS)
    - {"image", "plain_text_input", "number_input", "email_text_input"}
    - {
        "url_text_input",
        "rich_text_input",
        "file_input",
    }
)
ACCESSORY_ELEMENTS = ACTIONS_ELEMENTS | {"image"}

BLOCK_KEYS: dict[str, set[str]] = {
    "section": {"text", "fields", "accessory", "expand"},
    "header": {"text"},
    "divider": set(),
    "actions": {"elements"},
    "context": {"elements"},
    "image": {"image_url", "slack_file", "alt_text", "title"},
    "input": {"label", "element", "dispatch_action", "hint", "optional"},
    "rich_text": {"elements"},
    "markdown": {"text"},
    "video": {
        "alt_text",
        "author_name",
        "description",
        "provider_icon_url",
        "provider_name",
        "title",
        "title_url",
        "thumbnail_url",
        "video_url",
    },
    "file": {"external_id", "source"},
}


def _element(c: _Check, el: Any, pointer: str, allowed_types: set[str]) -> None:
    if not isinstance(el, dict) or not isinstance(el.get("type"), str):
        c.fail("must provide an object with a type", pointer)
        return
    etype = el["type"]
    if etype not in allowed_types:
        c.fail(f"unsupported type: {etype}", f"{pointer}/type")
        return
    c.keys(el, ELEMENT_KEYS[etype] | ({"type"} if etype == "image" else {"type", "action_id"}), pointer)
    if etype != "image":
        c.action_id(el, pointer)
    if "confirm" in el:
        c.confirm(el["confirm"], f"{pointer}/confirm")
    if "placeholder" in el:
        c.text(el["placeholder"], f"{pointer}/placeholder", 150, plain=True)
    if etype == "button":
        c.text(el.get("text"), f"{pointer}/text", 75, plain=True)
        c.string(el, "value", pointer, 2000)
        c.string(el, "url", pointer, 3000)
        c.string(el, "accessibility_label", pointer, 75)
        if "style" in el and el["style"] not in ("primary", "danger"):
            c.fail("must be one of: primary, danger", f"{pointer}/style")
    elif etype == "overflow":
        c.options(el.get("options"), f"{pointer}/options", url=True, low=1)
        if isinstance(el.get("options"), list) and len(el["options"]) > 5:
            c.fail("no more than 5 items allowed", f"{pointer}/options")
    elif etype in ("static_select", "multi_static_select"):
        if "option_groups" in el:
            groups = el["option_groups"]
            if not isinstance(groups, list) or not groups or len(groups) > OPTIONS_MAX:
                c.fail(f"must provide 1 to {OPTIONS_MAX} items", f"{pointer}/option_groups")
            else:
                for i, g in enumerate(groups):
                    gp = f"{pointer}/option_groups/{i}"
                    if not isinstance(g, dict):
                        c.fail("must provide an object", gp)
                        continue
                    c.keys(g, {"label", "options"}, gp)
                    c.text(g.get("label"), f"{gp}/label", 75, plain=True)
                    c.options(g.get("options"), f"{gp}/options")
        else:
            c.options(el.get("options"), f"{pointer}/options")
    elif etype in ("checkboxes", "radio_buttons"):
        c.options(el.get("options"), f"{pointer}/options", plain=False)
        if isinstance(el.get("options"), list) and len(el["options"]) > 10:
            c.fail("no more than 10 items allowed", f"{pointer}/options")
    elif etype == "plain_text_input":
        for key in ("max_length", "min_length"):
            n = el.get(key)
            if n is not None and (not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= 3000):
                c.fail("must be an integer from 0 to 3000", f"{pointer}/{key}")
        c.string(el, "initial_value", pointer, 3000)
    elif etype == "image":
        c.string(el, "alt_text", pointer, 2000, required=True)
        c.string(el, "image_url", pointer, 3000)


def _block(c: _Check, block: Any, pointer: str) -> None:
    c.action_ids = set()
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        c.fail("must provide an object with a type", pointer)
        return
    btype = block["type"]
    if btype not in BLOCK_KEYS:
        c.fail(f"unsupported type: {btype}", f"{pointer}/type")
        return
    c.keys(block, BLOCK_KEYS[btype] | {"type", "block_id"}, pointer)
    c.string(block, "block_id", pointer, ID_MAX)
    if btype == "section":
        if "text" not in block and "fields" not in block:
            c.fail("must provide either text or fields", pointer)
        if "text" in block:
            c.text(block["text"], f"{pointer}/text", 3000)
        if "fields" in block:
            fields = block["fields"]
            if not isinstance(fields, list) or not fields:
                c.fail("must provide at least 1 items", f"{pointer}/fields")
            else:
                if len(fields) > 10:
                    c.fail("no more than 10 items allowed", f"{pointer}/fields")
                for j, f in enumerate(fields):
                    c.text(f, f"{pointer}/fields/{j}", 2000)
        if "accessory" in block:
            _element(c, block["accessory"], f"{pointer}/accessory", ACCESSORY_ELEMENTS)
    elif btype == "header":
        c.text(block.get("text"), f"{pointer}/text", 150, plain=True)
    elif btype in ("actions", "context"):
        els = block.get("elements")
        most = 25 if btype == "actions" else 10
        if not isinstance(els, list) or not els:
            c.fail("must provide at least 1 items", f"{pointer}/elements")
            return
        if len(els) > most:
            c.fail(f"no more than {most} items allowed", f"{pointer}/elements")
        for j, el in enumerate(els):
            ep = f"{pointer}/elements/{j}"
            if btype == "actions":
                _element(c, el, ep, ACTIONS_ELEMENTS)
            elif isinstance(el, dict) and el.get("type") in TEXT_TYPES:
                c.text(el, ep, 3000)
            else:
                _element(c, el, ep, {"image"})
    elif btype == "image":
        c.string(block, "alt_text", pointer, 2000, required=True)
        c.string(block, "image_url", pointer, 3000)
        c.text(block.get("title"), f"{pointer}/title", 2000, plain=True, required=False)
    elif btype == "input":
        c.text(block.get("label"), f"{pointer}/label", 2000, plain=True)
        c.text(block.get("hint"), f"{pointer}/hint", 2000, plain=True, required=False)
        _element(c, block.get("element"), f"{pointer}/element", INPUT_ELEMENTS)
    elif btype == "markdown":
        c.string(block, "text", pointer, MARKDOWN_TOTAL_MAX, required=True)


def _blocks(c: _Check, blocks: Any, pointer: str, most: int) -> None:
    if not isinstance(blocks, list):
        c.fail("must provide an array", pointer)
        return
    if len(blocks) > most:
        c.fail(f"no more than {most} items allowed", pointer)
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        _block(c, block, f"{pointer}/{i}")
        bid = block.get("block_id") if isinstance(block, dict) else None
        if isinstance(bid, str):
            if bid in block_ids:
                c.fail(f"duplicate block_id: {bid}", f"{pointer}/{i}/block_id")
            block_ids.add(bid)


def message_problems(blocks: Any) -> list[Problem]:
    """What Slack's chat.postMessage/postEphemeral/update and response_url refuse in `blocks`."""
    c = _Check()
    _blocks(c, blocks, "/blocks", MESSAGE_BLOCKS_MAX)
    return c.problems


def blocks_too_long(blocks: Any) -> bool:
    """``msg_blocks_too_long``: the markdown blocks of one payload hold more than 12,000 characters in all."""
    if not isinstance(blocks, list):
        return False
    return (
        sum(
            len(b["text"])
            for b in blocks
            if isinstance(b, dict) and b.get("type") == "markdown" and isinstance(b.get("text"), str)
        )
        > MARKDOWN_TOTAL_MAX
    )


VIEW_KEYS = {
    "type",
    "title",
    "blocks",
    "close",
    "submit",
    "private_metadata",
    "callback_id",
    "clear_on_close",
    "notify_on_close",
    "external_id",
    "submit_disabled",
}


def view_problems(view: Any) -> list[Problem]:
    """What Slack's views.open/update/push/publish refuse in `view` (pointers under /view)."""
    c = _Check()
    if not isinstance(view, dict):
        c.fail("missing required field: view", "/view")
        return c.problems
    vtype = view.get("type")
    if vtype not in ("modal", "home"):
        c.fail("must be one of: modal, home", "/view/type")
        return c.problems
    c.keys(view, VIEW_KEYS, "/view")
    if "blocks" not in view:
        c.fail("missing required field: blocks", "/view")
    else:
        _blocks(c, view["blocks"], "/view/blocks", VIEW_BLOCKS_MAX)
    c.string(view, "private_metadata", "/view", PRIVATE_METADATA_MAX)
    c.string(view, "callback_id", "/view", ID_MAX)
    c.string(view, "external_id", "/view", ID_MAX)
    if vtype == "modal":
        c.text(view.get("title"), "/view/title", MODAL_TEXT_MAX, plain=True)
        for key in ("submit", "close"):
            c.text(view.get(key), f"/view/{key}", MODAL_TEXT_MAX, plain=True, required=False)
        blocks = view.get("blocks") if isinstance(view.get("blocks"), list) else []
        if not view.get("submit") and any(isinstance(b, dict) and b.get("type") == "input" for b in blocks):
            c.fail("must provide submit when input blocks are present", "/view/submit")
    return c.problems


def view_too_large(view: Any) -> bool:
    """``view_too_large``: a view of more than 250 kB."""
    return len(json.dumps(view, separators=(",", ":")).encode()) > VIEW_BYTES_MAX
