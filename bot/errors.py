"""Typed errors of the bot's core: each says what the user sees, and listeners pick where they see it; and the
one translation of a failed platform call into them."""

from __future__ import annotations

import logging
import secrets

from bot.platform import PlatformError, PlatformUnreachable
from bot.render.mrkdwn import escape, single_line

log = logging.getLogger(__name__)


class BotError(Exception):
    """An error the user should read as it is."""

    result = "error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotAllowed(BotError):
    result = "refused"


class NotFound(BotError):
    result = "not_found"


class WrongStatus(BotError):
    result = "refused"


class AlreadyDone(BotError):
    """Someone did the same non-idempotent operation a moment ago (two people pressing Replay)."""

    result = "duplicate"


class BadInput(BotError):
    result = "bad_input"


class Unavailable(BotError):
    """The platform (or Slack) could not be reached: say so in words."""

    result = "unavailable"


def from_platform(
    exc: PlatformError | PlatformUnreachable,
    *,
    doing: str,
    unchanged: str = "nothing was changed",
    missing: str | None = None,
) -> BotError:
    """The one translation of a failed platform call into words. `doing` names the call ("the lookup of
    `7Kq2`"), `unchanged` says what did not happen, `missing` is what a 404 means here (None: a refusal like
    any other). A 409 needs the current state to explain it, so its callers handle it before this."""
    if isinstance(exc, PlatformUnreachable):
        # The address and the low-level error are for the log; the person gets a reference to quote.
        reference = secrets.token_hex(3)
        log.warning("the platform could not be reached for %s (reference %s): %s", doing, reference, exc)
        return Unavailable(
            f"The platform could not be reached for {doing} (reference {reference}); {unchanged}. "
            "Try again in a minute."
        )
    if exc.status == 404 and missing:
        return NotFound(missing)
    return Unavailable(
        f"The platform refused {doing} ({escape(single_line(exc.code, 64))}: "
        f"{escape(single_line(exc.message, 300))}); {unchanged}."
    )
