"""Bolt listeners for who handles a failure (issue 16): *I'm on it*, *Resolve…* and its form on alerts and
storm cards, the Mute form of the alert's menu. Each acknowledges at once; the card itself shows the change, and
the clicker hears only of a refusal or a mistake. The Resolve and Mute forms open as "Loading…" with the click's
trigger before any I/O (handlers/modals.py), then are filled, or say there why they were refused."""

from __future__ import annotations

import logging

from bot import lifecycle, mutes
from bot.approvals import reactions
from bot.errors import BotError
from bot.incident_replay import replay_affected
from bot.render.lifecycle import resolve_modal
from bot.responder import Responder
from handlers import modals
from handlers.errors import user_message

log = logging.getLogger(__name__)


def _value(body: dict) -> str:
    return str(((body.get("actions") or [{}])[0]).get("value") or "")


def _run_of(value: str) -> str | None:
    """The failed run a lifecycle button or form is about (None for a storm or incident card)."""
    kind, _, subject = value.partition(":")
    return subject[:64] or None if kind == "run" else None


async def _tell(responder: Responder, text: str) -> None:
    try:
        await responder(text=text, response_type="ephemeral", replace_original=False)
    except Exception:
        log.exception("could not answer a lifecycle button")


def register(app, svc) -> None:
    @app.action("alert_on_it")
    async def on_it(ack, body, context):
        await ack()

        async def work():
            try:
                await lifecycle.toggle_on_it(svc, context["actor"], _value(body))
                await reactions.refresh_homes_of_failure(svc, context["actor"], _run_of(_value(body)))
            except Exception as exc:  # spawned work is outside Bolt's error handler
                await _tell(
                    Responder.for_request(svc, body), exc.message if isinstance(exc, BotError) else user_message(exc)
                )

        svc.spawn(work(), name="button-on-it")

    @app.action("alert_resolve")
    async def resolve(ack, body, client, context):
        await ack()
        value = _value(body)

        async def build() -> dict:
            return resolve_modal(value, await lifecycle.may_resolve(svc, context["actor"], value))

        svc.spawn(
            modals.fill_with(
                client,
                Responder.for_request(svc, body),
                context,
                build,
                failed_title="Not resolved",
                again="close this and click *Resolve…* again.",
            ),
            name="button-resolve",
        )

    @app.view("alert_resolve_modal")
    async def resolve_submitted(ack, body, view, context):
        values = (view.get("state") or {}).get("values") or {}
        note = str(((values.get("note") or {}).get("value") or {}).get("value") or "")
        try:
            text = await lifecycle.resolve(svc, context["actor"], str(view.get("private_metadata") or ""), note)
        except BotError as exc:
            await ack(response_action="errors", errors={"note": exc.message[:150]})
            return
        log.info("resolve form: %s", text)
        await ack()
        run_id = _run_of(str(view.get("private_metadata") or ""))
        svc.spawn(reactions.refresh_homes_of_failure(svc, context["actor"], run_id), name="refresh App Home")

    @app.action("alert_more")
    async def more(ack, body, client, context):
        await ack()
        option = str((((body.get("actions") or [{}])[0]).get("selected_option") or {}).get("value") or "")
        channel = str(
            ((body.get("channel") or {}).get("id")) or ((body.get("container") or {}).get("channel_id")) or ""
        )
        svc.spawn(
            modals.fill_with(
                client,
                Responder.for_request(svc, body),
                context,
                lambda: mutes.open_form(svc, context["actor"], option, channel),
                failed_title="Not muted",
                again="close this and choose Mute again.",
            ),
            name="menu-mute",
        )

    @app.view("alert_mute_modal")
    async def mute_submitted(ack, body, view, context):
        values = (view.get("state") or {}).get("values") or {}
        chosen = str((((values.get("for") or {}).get("value") or {}).get("selected_option") or {}).get("value") or "")
        try:
            text = await mutes.mute(svc, context["actor"], str(view.get("private_metadata") or ""), chosen)
        except BotError as exc:
            await ack(response_action="errors", errors={"for": exc.message[:150]})
            return
        log.info("mute form: %s", text)
        await ack()

    @app.action("mute_unmute")
    async def unmute(ack, body, context):
        await ack()

        async def work():
            try:
                text = await mutes.unmute(svc, context["actor"], _value(body))
            except Exception as exc:
                text = exc.message if isinstance(exc, BotError) else user_message(exc)
            await _tell(Responder.for_request(svc, body), text)

        svc.spawn(work(), name="button-unmute")

    @app.action("incident_replay")
    async def incident_replay(ack, body, context):
        await ack()

        async def work():
            try:
                text = await replay_affected(svc, context["actor"], _value(body))
            except Exception as exc:
                text = exc.message if isinstance(exc, BotError) else user_message(exc)
            await _tell(Responder.for_request(svc, body), text)

        svc.spawn(work(), name="button-incident-replay")
