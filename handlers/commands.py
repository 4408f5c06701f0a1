"""Bolt listener for `/runs`: acknowledge with the answer when the store can give it, otherwise acknowledge
at once with nothing to show and answer through response_url when the platform has spoken. Slack neither
replaces nor deletes a slash command's acknowledgement through its response_url, so a "Working on it…" notice
would stay above every such answer (https://github.com/slackapi/bolt-js/issues/2287)."""

from __future__ import annotations

import asyncio
import logging
from functools import partial

from bot import commands
from bot.errors import BotError
from bot.responder import Responder
from handlers.errors import user_message
from handlers.once import CLAIM

log = logging.getLogger(__name__)


async def finish(work, respond, *, replace_original: bool = False) -> None:
    """Run deferred work after the acknowledgement and answer it; errors are answered in words too (a button's
    message is kept when its work fails)."""
    try:
        reply = await work()
        body = reply.message()
    except Exception as exc:  # outside Bolt's error handler: the user must still hear how it ended
        body = {"text": user_message(exc), "response_type": "ephemeral"}
        replace_original = False
    try:
        if replace_original and hasattr(respond, "delete_original") and body.get("response_type") == "in_channel":
            # A shared answer cannot replace a private message (a button's ephemeral): remove it, then post.
            await respond.delete_original()
            replace_original = False
        await respond(**body, replace_original=replace_original)
    except Exception:
        log.exception("could not answer through response_url")


BUSY_NOTICE = "Working on it… (the bot is busy: the answer follows in a moment)"


async def answer_later(svc, gate: asyncio.Semaphore, actor, text: str, channel: str):
    """A `/runs` answer computed after the acknowledgement, at most PERF_DEFERRED_COMMANDS at a time."""
    async with gate:
        outcome = await commands.answer(svc, actor, text, channel=channel)
        return await outcome.work() if isinstance(outcome, commands.Deferred) else outcome


def register(app, svc) -> None:
    # Under load, a command is answered while its request waits only while fewer than PERF_INLINE_COMMANDS are
    # being answered so; beyond that it is acknowledged at once and answered through response_url, so every
    # request meets Slack's 3-second acknowledgement however many arrive together.
    inline_limit = svc.settings.PERF_INLINE_COMMANDS
    later_gate = asyncio.Semaphore(svc.settings.PERF_DEFERRED_COMMANDS)
    inline = 0

    @app.command("/runs")
    async def runs_command(ack, command, respond, context):
        nonlocal inline
        actor, text, channel = context["actor"], command.get("text") or "", command.get("channel_id") or ""
        claim = context.get(CLAIM)  # a read-only command: its receipt is written only before a response_url answer
        if inline >= inline_limit:
            if claim is not None and not await claim():
                await ack()
                return
            await ack(text=BUSY_NOTICE, response_type="ephemeral")
            work = partial(answer_later, svc, later_gate, actor, text, channel)
            svc.spawn(finish(work, Responder.for_request(svc, command)), name="runs-command")
            return
        inline += 1
        try:
            # An answer read from the store may not yield at all (SQLite's bounded reads run on the loop,
            # store/reads.py): yield once, so commands arriving together count each other and those beyond the
            # limit are acknowledged at once instead of queueing behind every answer's CPU.
            await asyncio.sleep(0)
            outcome = await commands.answer(svc, actor, text, channel=channel)
        except BotError as exc:
            await ack(text=exc.message, response_type="ephemeral")
            return
        finally:
            inline -= 1
        if isinstance(outcome, commands.Deferred):
            if claim is not None and not await claim():
                await ack()
                return
            # An empty acknowledgement shows nothing: the answer is the one message the person sees.
            await ack()
            svc.spawn(finish(outcome.work, Responder.for_request(svc, command)), name="runs-command")
            return
        await ack(**outcome.message())
