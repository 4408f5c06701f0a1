"""Bolt listener for `/runs`: acknowledge with the answer when the store can give it, otherwise acknowledge
at once ("Working on it…") and replace that notice with the answer, through response_url, when the platform
has spoken."""

from __future__ import annotations

import logging

from bot import commands
from bot.errors import BotError
from bot.responder import Responder
from handlers.errors import user_message

log = logging.getLogger(__name__)


async def finish(work, respond, *, replace_original: bool = False, notice: bool = False) -> None:
    """Run deferred work after the acknowledgement and answer it; errors are answered in words too. With
    `notice`, the message to replace is a "Working on it…" notice, which an error replaces as well (a
    button's message is kept when its work fails)."""
    try:
        reply = await work()
        body = reply.message()
    except Exception as exc:  # outside Bolt's error handler: the user must still hear how it ended
        body = {"text": user_message(exc), "response_type": "ephemeral"}
        replace_original = replace_original and notice
    try:
        if replace_original and body.get("response_type") == "in_channel" and hasattr(respond, "delete_original"):
            # A shared answer cannot replace the private notice: remove the notice, then post the answer.
            await respond.delete_original()
            replace_original = False
        await respond(**body, replace_original=replace_original)
    except Exception:
        log.exception("could not answer through response_url")


def register(app, svc) -> None:
    @app.command("/runs")
    async def runs_command(ack, command, respond, context):
        try:
            outcome = await commands.answer(
                svc, context["actor"], command.get("text") or "", channel=command.get("channel_id") or ""
            )
        except BotError as exc:
            await ack(text=exc.message, response_type="ephemeral")
            return
        if isinstance(outcome, commands.Deferred):
            await ack(text=outcome.notice, response_type="ephemeral")
            # The answer replaces "Working on it…" rather than landing under it.
            responder = Responder.for_request(svc, command)
            svc.spawn(finish(outcome.work, responder, replace_original=True, notice=True), name="runs-command")
            return
        await ack(**outcome.message())
