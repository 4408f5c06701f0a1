"""The one error handler: a typed error (not allowed, not found, wrong status, unavailable) is shown to the
user as it is; anything else gets a short reference that is also in the log, never a stack trace."""

from __future__ import annotations

import logging
import uuid

from bot.errors import BotError
from bot.responder import Responder

log = logging.getLogger(__name__)


def user_message(error: Exception) -> str:
    if isinstance(error, BotError):
        return error.message
    ref = uuid.uuid4().hex[:8]
    log.error("unexpected error (reference %s)", ref, exc_info=error)
    return (
        f":warning: Something went wrong on our side (reference `{ref}`); it is in the bot's log. Nothing was changed."
    )


def register(app, svc) -> None:
    @app.error
    async def on_error(error, body, respond, client, logger):
        text = user_message(error)
        try:
            await Responder.for_request(svc, body)(text=text)
        except Exception:
            log.exception("could not tell the user about an error")
