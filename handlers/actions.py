"""Bolt listeners for the buttons on runs (from `/runs` answers and from failure alerts): replay, replay
with changes (the modal), show, cancel (its confirm dialog is on the button), pause, resume, next page.
Each acknowledges at once; the work, which may ask the platform, answers through response_url."""

from __future__ import annotations

import json
import logging

from bot import commands
from bot.actors import Actor
from bot.responder import Responder
from handlers import modals
from handlers.commands import finish

log = logging.getLogger(__name__)

CONTROL = {"run_pause": "pause", "run_resume": "resume", "run_cancel": "cancel", "run_replay": "replay"}


def _value(body: dict) -> str:
    return str(((body.get("actions") or [{}])[0]).get("value") or "")


def _on_ephemeral(body: dict) -> bool:
    """Answers replace an ephemeral prompt (its buttons are spent); a channel message, such as an alert,
    is left as it is and the clicker gets an answer of their own."""
    return bool((body.get("container") or {}).get("is_ephemeral"))


def _answer_to(svc, body: dict, respond, actor: Actor) -> Responder:
    """Where the clicker hears back (bot/responder.py): the click's response_url while Slack accepts it and it
    is Slack's own, else an ephemeral message in the conversation, else (App Home, a modal) a direct message."""
    return Responder.for_request(svc, body)


def register(app, svc) -> None:
    async def control(ack, body, respond, context):
        await ack()
        action = CONTROL[body["actions"][0]["action_id"]]
        token = _value(body)
        actor = context["actor"]

        async def work():
            return await commands.act_reply(svc, actor, action, commands.check_run_id(token))

        svc.spawn(
            finish(work, _answer_to(svc, body, respond, actor), replace_original=_on_ephemeral(body)),
            name=f"button-{action}",
        )

    for action_id in CONTROL:
        app.action(action_id)(control)

    @app.action("run_replay_confirmed")
    async def replay_confirmed(ack, body, respond, context):
        await ack()
        actor = context["actor"]

        async def work():
            run_id, prompt, model = commands.replay_request(_value(body))
            return await commands.act_reply(svc, actor, "replay", run_id, prompt=prompt, model=model)

        svc.spawn(
            finish(work, _answer_to(svc, body, respond, actor), replace_original=_on_ephemeral(body)),
            name="button-replay",
        )

    @app.action("run_show")
    async def show(ack, body, respond, context):
        await ack()
        actor = context["actor"]

        async def work():
            outcome = await commands.do_show(
                svc, actor, commands.Command("show", [commands.check_run_id(_value(body))], {}), ""
            )
            return await outcome.work() if isinstance(outcome, commands.Deferred) else outcome

        svc.spawn(finish(work, _answer_to(svc, body, respond, actor)), name="button-show")

    @app.action("run_tail")
    async def tail(ack, body, respond, context):
        await ack()
        actor = context["actor"]
        channel = str((body.get("channel") or {}).get("id") or "")

        async def work():
            command = commands.Command("tail", [commands.check_run_id(_value(body))], {"dm": not channel})
            return await (await commands.do_tail(svc, actor, command, channel)).work()

        svc.spawn(finish(work, _answer_to(svc, body, respond, actor)), name="button-tail")

    @app.action("run_diff")
    async def diff(ack, body, respond, context):
        await ack()
        actor = context["actor"]

        async def work():
            a, b = commands.diff_request(_value(body))
            return await (await commands.do_diff(svc, actor, commands.Command("diff", [a, b], {}), "")).work()

        svc.spawn(finish(work, _answer_to(svc, body, respond, actor)), name="button-diff")

    @app.action("run_diff_full")
    async def diff_full(ack, body, client, respond, context):
        # The "Loading…" modal is already open (handlers/modals.py); the diff replaces it.
        await ack()
        svc.spawn(
            _fill_full_diff(svc, client, _answer_to(svc, body, respond, context["actor"]), body, context), name="diff"
        )

    @app.action("runs_next_page")
    async def next_page(ack, body, respond, context):
        await ack()

        async def work():
            outcome = await commands.next_page(svc, _value(body))
            return await outcome.work() if isinstance(outcome, commands.Deferred) else outcome

        svc.spawn(
            finish(work, _answer_to(svc, body, respond, context["actor"]), replace_original=_on_ephemeral(body)),
            name="button-next-page",
        )

    @app.action("run_jump")
    async def jump(ack):
        # A link button: Slack opens the URL in the browser and still sends the click, which wants an ack.
        await ack()

    @app.action("run_replay_changes")
    async def replay_changes(ack, body, client, respond, context):
        # The "Loading…" modal is already open (handlers/modals.py); the form replaces it.
        await ack()
        svc.spawn(
            _fill_replay_modal(svc, client, _answer_to(svc, body, respond, context["actor"]), body, context),
            name="button-replay-changes",
        )


async def _fill_replay_modal(svc, client, respond, body: dict, context) -> None:
    """The modal needs the run's prompt and model: from the store, or from the platform."""

    async def build() -> dict:
        run_id, data = await commands.replayable_run(svc, commands.check_run_id(_value(body)))
        metadata = json.dumps({"run": run_id, "channel": (body.get("channel") or {}).get("id")})
        return await commands.replay_form(svc, run_id, data, metadata)

    await modals.fill_with(
        client,
        respond,
        context,
        build,
        failed_title="Not replayed",
        again='close this and click *Replay with changes…* again, or type `/runs replay RUN_ID --prompt "..."`.',
    )


async def _fill_full_diff(svc, client, respond, body: dict, context) -> None:
    """The whole prompt diff in a modal (the message shows its first lines)."""
    await modals.fill_with(
        client,
        respond,
        context,
        lambda: commands.full_diff_view(svc, _value(body)),
        failed_title="Full diff",
        again="click *Full diff* again.",
    )
