"""Small pieces every message uses: Slack date tokens, status marks, progress bars, durations, trimming
(escaping, links and mentions live in `bot.render.mrkdwn`)."""

from __future__ import annotations

import re
from datetime import datetime

from bot.render.mrkdwn import Mrkdwn, code, date_token, escape, link, mrkdwn

__all__ = ["Mrkdwn", "escape", "link", "mrkdwn"]

STATUS_MARK = {
    "pending": "⏳",
    "running": "🔄",
    "waiting": "✋",
    "paused": "⏸️",
    "completed": "✅",
    "failed": "❌",
    "cancelled": "🚫",
    "skipped": "⏭️",
    "approved": "✅",
    "rejected": "🚫",
    "expired": "⌛",
}

RETRYABLE_WORDS = {
    "provider_rate_limited": "the provider was rate-limited",
    "provider_timeout": "the provider timed out",
    "provider_unavailable": "the provider was unavailable",
    "provider_error": "the provider had an internal error",
    "step_timeout": "the step ran out of time",
    "internal_error": "the platform had an internal error",
}
NOT_RETRYABLE_WORDS = {
    "invalid_request": "the request was invalid; change the prompt or the input",
    "content_policy": "the provider's content policy refused it; change the prompt",
    "auth_failed": "the provider refused the credentials; fix them first",
    "approval_expired": "nobody decided the approval in time",
}

SECTION_LIMIT = 3000


def mark(status: str | None) -> str:
    return STATUS_MARK.get(status or "", "•")


def slack_date(moment: datetime | None, fmt: str = "{date_short_pretty} {time}") -> Mrkdwn:
    """A Slack date token: every reader sees their own local time; the fallback is UTC."""
    return date_token(moment, fmt)


def progress_bar(done: int, total: int, width: int = 10) -> str:
    if total <= 0:
        return "░" * width + " 0/0"
    filled = round(width * min(done, total) / total)
    return "█" * filled + "░" * (width - filled) + f" {done}/{total}"


def duration(ms: int | None) -> str:
    if ms is None:
        return "—"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{seconds:.0f}s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {sec}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes}m"


def relative(seconds: float) -> str:
    """ "in 42 minutes" / "3 minutes ago"."""
    future = seconds >= 0
    s = abs(int(seconds))
    if s < 60:
        words = f"{s} second{'s' if s != 1 else ''}"
    elif s < 3600:
        words = f"{s // 60} minute{'s' if s // 60 != 1 else ''}"
    elif s < 86400:
        words = f"{s // 3600} hour{'s' if s // 3600 != 1 else ''}"
    else:
        words = f"{s // 86400} day{'s' if s // 86400 != 1 else ''}"
    return f"in {words}" if future else f"{words} ago"


def shorten(text: object, limit: int) -> str:
    """Cut to `limit` characters at the end, marked with an ellipsis."""
    text = str(text or "")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def trim_middle(text: str, limit: int) -> str:
    """Cut to `limit` characters keeping the start and the end, saying how much was cut. `Mrkdwn` stays
    `Mrkdwn`: a link, token or entity the cut goes through is dropped whole, never left half open."""
    text = text if isinstance(text, str) else str(text)
    if len(text) <= limit:
        return text
    marker = " … [{n} characters cut] … "
    room = limit - len(marker.format(n=len(text)))
    head_len = max(room * 2 // 3, 1)
    tail_len = max(room - head_len, 1)
    head, tail = str(text)[:head_len], str(text)[-tail_len:]
    if isinstance(text, Mrkdwn):
        head = _OPEN_AT_END.sub("", head)
        tail = _CLOSED_AT_START.sub("", tail)
        return Mrkdwn(head + marker.format(n=len(text) - len(head) - len(tail)) + tail)
    return head + marker.format(n=len(text) - len(head) - len(tail)) + tail


# A link or token opened and not closed before the cut, or an entity cut in two; and their other halves.
_OPEN_AT_END = re.compile(r"(<[^>]*|&[a-z]{0,3})$")
_CLOSED_AT_START = re.compile(r"^([^<]*>|(amp|mp|p|lt|gt|t)?;)")


def retryable_words(error: dict | None) -> str:  # the words are the code's own, never the platform's
    """Whether to retry, in words a person acts on: "Retryable: yes, the provider was rate-limited"."""
    if not error:
        return "Retryable: unknown"
    code = error.get("code") or ""
    if error.get("retryable"):
        return f"Retryable: yes, {RETRYABLE_WORDS.get(code, 'the error is transient')}"
    if error.get("retryable") is False:
        return f"Retryable: no, {NOT_RETRYABLE_WORDS.get(code, 'replaying as-is will fail the same way')}"
    return "Retryable: unknown"


def code_span(text: object) -> Mrkdwn:
    """Inline code that shows the text literally and survives backticks in it."""
    return code(text)


def keep_words(status: str | None) -> str:
    """The cancel dialog's "no" in the run's own state: a waiting run is kept waiting, not "running"."""
    return {"waiting": "Keep it waiting", "paused": "Keep it paused", "queued": "Keep it queued"}.get(
        status or "", "Keep it running"
    )


def kind_words(kind: str) -> str:
    """An approval's kind as a heading says it: "tool_call" -> "Tool call" (the platform's kinds are free text)."""
    words = " ".join(str(kind or "").replace("_", " ").split())[:40]
    return words[:1].upper() + words[1:] if words else "Approval"


def requested_by_words(requested_by: str | None, workflow_name: str | None) -> str:
    """The platform's "step X of WORKFLOW" without the workflow that the card names already."""
    said = requested_by or "unknown"
    suffix = f" of {workflow_name}"
    if workflow_name and said.startswith("step ") and said.endswith(suffix) and len(said) > len(suffix) + 5:
        return f"the “{said[5 : -len(suffix)]}” step"
    return said
