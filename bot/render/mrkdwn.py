"""The one way text enters Slack's mrkdwn: `Mrkdwn` marks text as already safe, `mrkdwn(template, **values)`
escapes every value that is not, and links and mentions are built here only, from checked urls and ids.

Slack's mrkdwn has three control characters (`&`, `<`, `>`), escaped as `&amp;`, `&lt;`, `&gt;`. A backtick
in a value would end a code span or block it sits in, and Slack has no escape for it, so every backtick in a
value becomes `ˋ` (U+02CB, a look-alike) wherever the value lands. Bidi overrides and isolates (which reorder
what a reader sees) become `�` in every value; `single_line` also turns newlines, control characters and
zero-width characters into visible replacements, for names, codes, ids, models and kinds.
"""

from __future__ import annotations

import functools
import re
import string
import unicodedata
from datetime import datetime, timezone
from typing import Any, Iterable
from urllib.parse import quote, urlsplit

BACKTICK_LOOKALIKE = "ˋ"
REPLACEMENT = "\N{REPLACEMENT CHARACTER}"
USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
SUBTEAM_ID = re.compile(r"^S[A-Z0-9]{2,}$")
CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,}$")
DATE_FORMAT = re.compile(r"^[A-Za-z0-9_{}:,. -]+$")
BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
# Characters a URL keeps as they are; everything else (`|`, `<`, `>`, whitespace, non-ASCII) is percent-encoded.
URL_SAFE = "/:?#[]@!$&'()*+,;=%~-._"


class Mrkdwn(str):
    """Text that is already valid, safe mrkdwn: it goes into `mrkdwn()` unchanged. Only this module and
    templates written in the code make one; text from outside never becomes `Mrkdwn` without `escape`."""

    __slots__ = ()

    def __add__(self, other: object) -> Mrkdwn | str:
        if isinstance(other, Mrkdwn):
            return Mrkdwn(str.__add__(self, other))
        return NotImplemented if not isinstance(other, str) else str.__add__(self, other)


def escape(value: Any) -> Mrkdwn:
    """Any value as mrkdwn that shows it literally (a `Mrkdwn` value is returned as it is)."""
    if isinstance(value, Mrkdwn):
        return value
    text = "" if value is None else str(value)
    if text.isascii():  # no bidi character is ASCII: only the four characters to replace (a hot path of lists)
        if "&" in text or "<" in text or ">" in text or "`" in text:
            text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("`", BACKTICK_LOOKALIKE)
        return Mrkdwn(text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("`", BACKTICK_LOOKALIKE)
    return Mrkdwn(BIDI.sub(REPLACEMENT, text))


class _Escaping(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, Mrkdwn) and not format_spec:
            return value
        return escape(format(value, format_spec))


_FORMATTER = _Escaping()


@functools.lru_cache(maxsize=2048)
def _parts(template: str) -> tuple[tuple[str, str | None, str], ...] | None:
    """A template's (literal text, field name, format spec) parts, parsed once (templates are the code's own
    text, a bounded set); None for a template with anything but named fields (kept to `string.Formatter`)."""
    parts = []
    for literal, field, spec, conversion in _FORMATTER.parse(template):
        if field is not None and (conversion or not field.isidentifier() or "{" in (spec or "")):
            return None
        parts.append((literal, field, spec or ""))
    return tuple(parts)


def mrkdwn(template: str, /, **values: Any) -> Mrkdwn:
    """`mrkdwn("*{name}* failed at {step}", name=..., step=...)`: the template is the code's own text; every
    value that is not `Mrkdwn` is escaped, whatever it holds. The same as `string.Formatter.vformat` with the
    escaping `format_field`, without parsing the template again on every call (a hot path of run lists)."""
    parts = _parts(template)
    if parts is None:
        return Mrkdwn(_FORMATTER.vformat(template, (), values))
    out = []
    for literal, field, spec in parts:
        out.append(literal)
        if field is not None:
            out.append(_FORMATTER.format_field(values[field], spec))
    return Mrkdwn("".join(out))


def join(separator: str, parts: Iterable[Any]) -> Mrkdwn:
    """`separator.join(parts)` with each part escaped unless it is `Mrkdwn` (the separator is the code's own)."""
    return Mrkdwn(separator.join(escape(p) for p in parts))


def single_line(value: Any, limit: int | None = None) -> str:
    """A name, code, id, model or kind made fit for one line: newlines and control characters become spaces,
    format characters (zero-width, bidi) become `�`, and the text is cut to `limit` with an ellipsis. The
    result is still plain text, to be escaped on its way into mrkdwn."""
    text = "" if value is None else str(value)
    if text.isascii() and text.isprintable():  # the usual id or name: nothing to replace (a hot path of lists)
        return text if limit is None or len(text) <= limit else text[: limit - 1] + "…"
    out = []
    for ch in text:
        category = unicodedata.category(ch)
        if category in ("Cc", "Zl", "Zp"):
            out.append(" ")
        elif category == "Cf":
            out.append(REPLACEMENT)
        else:
            out.append(ch)
    text = "".join(out)
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def code(value: Any) -> Mrkdwn:
    """An inline code span showing `value` literally (escaped; backticks cannot end the span)."""
    text = escape(value)
    return Mrkdwn(f"`{text}`" if text else "` `")


def code_block(value: Any) -> Mrkdwn:
    """A code block showing `value` literally (escaped; backticks cannot end the block)."""
    return Mrkdwn(f"```{escape(value)}```")


def encode_url(url: str) -> str:
    """An http(s) url with anything but URL characters percent-encoded (whitespace, `|`, `<`, `>`, non-ASCII,
    bidi and zero-width characters included): for a button's `url` as for a link."""
    url = str(url).strip()
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        raise ValueError(f"only http and https links are built: {url[:80]!r}")
    return quote(url, safe=URL_SAFE)


def safe_url(url: str) -> str:
    """An http(s) url made safe inside mrkdwn's `<…>`: encoded, and `&` escaped."""
    return encode_url(url).replace("&", "&amp;")


def link(url: str, label: Any) -> Mrkdwn:
    """`<url|label>` with the url checked and encoded and the label escaped (shown on one line)."""
    shown = label if isinstance(label, Mrkdwn) else escape(single_line(label))
    return Mrkdwn(f"<{safe_url(url)}|{shown}>")


def is_user_id(value: Any) -> bool:
    return isinstance(value, str) and bool(USER_ID.match(value))


def is_subteam_id(value: Any) -> bool:
    return isinstance(value, str) and bool(SUBTEAM_ID.match(value))


def user_mention(user_id: str) -> Mrkdwn:
    """`<@U…>` for a Slack user id of Slack's shape; anything else is refused."""
    if not is_user_id(user_id):
        raise ValueError(f"not a Slack user id: {str(user_id)[:40]!r}")
    return Mrkdwn(f"<@{user_id}>")


def subteam_mention(group_id: str) -> Mrkdwn:
    """`<!subteam^S…>` for a Slack user group id of Slack's shape; anything else is refused."""
    if not is_subteam_id(group_id):
        raise ValueError(f"not a Slack user group id: {str(group_id)[:40]!r}")
    return Mrkdwn(f"<!subteam^{group_id}>")


def channel_mention(channel_id: str) -> Mrkdwn:
    """`<#C…>` for a Slack channel id of Slack's shape; anything else is refused."""
    if not isinstance(channel_id, str) or not CHANNEL_ID.match(channel_id):
        raise ValueError(f"not a Slack channel id: {str(channel_id)[:40]!r}")
    return Mrkdwn(f"<#{channel_id}>")


_MENTION_FORMS = (re.compile(r"^<@([^<>|]+)>$"), re.compile(r"^<!subteam\^([^<>|]+)>$"))


def mention_of(entry: Any) -> Mrkdwn:
    """A person or a group for people to read: a mention when `entry` is a user or group id of Slack's shape
    (or such a mention already), else the entry as escaped text."""
    text = str(entry or "")
    for form in _MENTION_FORMS:
        found = form.match(text)
        if found:
            text = found.group(1)
            break
    if is_user_id(text):
        return user_mention(text)
    if is_subteam_id(text):
        return subteam_mention(text)
    return escape(single_line(entry, 80))


def date_token(moment: datetime | None, fmt: str = "{date_short_pretty} {time}") -> Mrkdwn:
    """A Slack date token: every reader sees their own local time; the fallback is UTC."""
    if moment is None:
        return Mrkdwn("—")
    if not DATE_FORMAT.match(fmt):
        raise ValueError(f"not a Slack date format: {fmt!r}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    ts = int(moment.timestamp())
    fallback = moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return Mrkdwn(f"<!date^{ts}^{fmt}|{fallback}>")


def plain(value: Any, limit: int | None = None) -> str:
    """Text for a `plain_text` object (headers, button labels, dialog titles): on one line, cut to `limit`.
    Slack shows plain text literally, so it needs no escaping (a message's `text` is mrkdwn, not this)."""
    return single_line(value, limit)
