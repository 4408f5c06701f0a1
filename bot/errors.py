"""Typed errors of the bot's core: each says what the user sees, and listeners pick where they see it."""

from __future__ import annotations


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


class BadInput(BotError):
    result = "bad_input"


class Unavailable(BotError):
    """The platform (or Slack) could not be reached: say so in words."""

    result = "unavailable"
