"""Bolt listeners for the shortcuts: *Show run* (message shortcut) answers each run's card ephemerally in the
message's conversation; *Find a run* (global shortcut) opens a "Loading…" modal with the trigger before any
other I/O, then fills it with filters and results, which update in place as filters change."""

from __future__ import annotations

import logging
import re

from slack_sdk.errors import SlackApiError

from bot import commands, outbox, shortcuts
from bot.errors import BotError
from bot.render.finder import CALLBACK, FILTER_PREFIX, SHOW, loading_modal, show_run_nothing_found
from bot.responder import Responder
from handlers.commands import finish
from handlers.errors import user_message

log = logging.getLogger(__name__)

SHOW_RUN = "runbot_show_run"


def register(app, svc) -> None:
    @app.shortcut(SHOW_RUN)
    async def show_run(ack, body, context):
        await ack()
        actor, responder = context["actor"], Responder.for_request(svc, body)

        async def answer_all() -> None:
            ids = shortcuts.runs_in_message(svc, body.get("message") or {})
            if not ids:
                await responder.send(text=show_run_nothing_found())
                return
            for run_id in ids:

                async def work(run_id=run_id):
                    outcome = await commands.do_show(svc, actor, commands.Command("show", [run_id], {}), "")
                    return await outcome.work() if isinstance(outcome, commands.Deferred) else outcome

                await finish(work, responder)

        svc.spawn(answer_all(), name="shortcut-show-run")

    @app.shortcut(CALLBACK)
    async def find_run(ack, body, client, context):
        await ack()
        # The trigger lives 3 seconds: the modal opens first; the store is read after.
        opened = await client.views_open(trigger_id=body["trigger_id"], view=loading_modal())
        svc.spawn(
            _fill(svc, client, opened["view"]["id"], None, context["actor"], shortcuts.filters_of(None)),
            name="shortcut-find-run",
        )

    @app.view(CALLBACK)
    async def find_submitted(ack, body, view, client, context):
        await ack(response_action="update", view=loading_modal(text="Searching…"))
        svc.spawn(_fill(svc, client, view["id"], None, context["actor"], shortcuts.filters_of(view)), name="find-run")

    @app.action(re.compile("^" + FILTER_PREFIX))
    async def filter_changed(ack, body, client, context):
        await ack()
        view = body.get("view") or {}
        svc.spawn(
            _fill(svc, client, view.get("id"), view.get("hash"), context["actor"], shortcuts.filters_of(view)),
            name="find-run-filter",
        )

    @app.action(SHOW)
    async def show_in_dm(ack, body, context):
        await ack()
        run_id = str(((body.get("actions") or [{}])[0]).get("value") or "")
        svc.spawn(_show_in_dm(svc, context["actor"], run_id), name="find-run-show")


async def _fill(svc, client, view_id: str | None, view_hash: str | None, actor, filters) -> None:
    if not view_id:
        return
    try:
        view = await shortcuts.finder_view(svc, actor, filters)
    except Exception as exc:  # spawned work is outside Bolt's error handler: say it in the modal
        view = loading_modal(text=user_message(exc))
    try:
        await client.views_update(view_id=view_id, hash=view_hash, view=view)
    except SlackApiError as exc:
        # hash_conflict: a newer change of the filters already updated the modal; that one wins.
        log.info("Find a run modal %s not updated: %s", view_id, exc.response.get("error"))


async def _show_in_dm(svc, actor, run_id: str) -> None:
    try:
        outcome = await commands.do_show(svc, actor, commands.Command("show", [commands.check_run_id(run_id)], {}), "")
        reply = await outcome.work() if isinstance(outcome, commands.Deferred) else outcome
        payload = {k: v for k, v in reply.payload.items() if k in ("text", "blocks")}
    except BotError as exc:
        payload = {"text": exc.message}
    except Exception as exc:
        payload = {"text": user_message(exc)}
    async with svc.sessions.begin() as session:
        await outbox.direct_message(session, user=actor.id, payload=payload)
