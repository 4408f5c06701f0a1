"""`/runs tail RUN [--dm]` and `/runs untail RUN` (and the *Tail logs* button): start or stop a live log tail
(bot/tail.py). A tail in a channel is a post for everyone there, like a `--share` answer: it names who started it."""

from __future__ import annotations

from bot import audit
from bot import tail as tails
from bot.actors import Actor
from bot.commands.answers import Deferred, Reply, text_reply
from bot.commands.grammar import Command
from bot.commands.lookup import resolve_run_id
from bot.errors import BadInput
from bot.render.tail import tail_out_of_reach
from bot.services import Services
from store.models import Run


async def do_tail(svc: Services, actor: Actor, command: Command, channel: str) -> Reply | Deferred:
    token = command.args[0]

    async def work() -> Reply:
        run_id = await resolve_run_id(svc, token)
        where = channel
        if command.name == "tail" and command.flags.get("dm"):
            where = (await svc.slack.conversations_open(users=actor.id))["channel"]["id"]
        elif command.name == "tail":
            refused = await tails.out_of_reach(svc, where)
            if refused:
                raise BadInput(tail_out_of_reach(run_id, where, refused))
        async with svc.sessions.begin() as session:
            run = await session.get(Run, run_id)
            if command.name == "untail":
                ended = await tails.stop(svc, session, run_id=run_id, channel=where, user=actor.id)
                text = (
                    f"Stopped the live tail of `{run_id}`."
                    if ended
                    else f"No live tail of `{run_id}` here or started by you."
                )
                result = "ok" if ended else "not_found"
            else:
                if run is None:
                    raise BadInput(f"`{run_id}` is not tracked by the bot yet; try again in a few seconds.")
                text = await tails.start(svc, session, run=run, channel=where, user=actor.id)
                result = "ok"
            await audit.record(
                session, user_id=actor.id, action=command.name, target=run_id, result=result, message=text
            )
        return text_reply(text)

    return Deferred(work)
