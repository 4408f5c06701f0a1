"""Bolt listeners: the approval buttons (Approve, Reject, Review in console) and the reject modal.

Each acknowledges at once; the decision (platform calls, user-group lookups) runs after the ack and is
answered ephemerally through the click's response_url (by direct message from App Home, which has none)."""

from __future__ import annotations

import json
import logging

from bot.actors import Actor
from bot.approvals import decisions
from bot.errors import BotError
from bot.render import approvals as render
from bot.responder import Responder
from handlers import modals
from handlers.errors import user_message

log = logging.getLogger(__name__)


def _answerer(svc, responder: Responder):
    async def answer(text: str) -> None:
        await responder(text=text)

    return answer


async def _answered(work, answer) -> None:
    try:
        text = await work
    except BotError as exc:
        text = exc.message
    except Exception as exc:  # unknown errors get a reference that is also in the log
        text = user_message(exc)
    if text:
        await answer(text)


async def _fill_reject(
    svc, client, actor: Actor, approval_id: str, shown: str | None, channel: str | None, context, answer
) -> None:
    """The "Loading…" modal is open (handlers/modals.py): check the rejection may go ahead, then show the form
    in it, or why not."""
    view_id = context.get(modals.VIEW_ID)
    if not view_id:
        await answer(modals.not_opened(context))
        return
    try:
        view = await decisions.prepare_reject(svc, actor, approval_id, shown)
        # The answer after the form goes to the conversation by the Web API (bot/responder.py): the click's
        # response_url may be past Slack's 30 minutes by then, and is never carried in a form a person could
        # hand back altered.
        metadata = json.dumps({"a": approval_id, "fp": view.fingerprint, "c": channel}, separators=(",", ":"))
        await modals.fill(
            client,
            view_id,
            render.reject_modal(view, reason_required=svc.settings.REJECT_REASON_REQUIRED, private_metadata=metadata),
        )
    except BotError as exc:
        await modals.show_error(client, view_id, "Not rejected", exc.message)
    except Exception as exc:  # Slack refused the form, or something unknown: say so, with a reference
        await modals.show_error(client, view_id, "Not rejected", user_message(exc))


def register(app, svc) -> None:
    @app.action(render.APPROVE)
    async def approve(ack, body, action, context):
        await ack()
        actor = context["actor"]
        approval_id, shown = render.parse_value(action.get("value"))
        answer = _answerer(svc, Responder.for_request(svc, body))
        svc.spawn(
            _answered(decisions.decide(svc, actor, approval_id, "approve", shown=shown), answer),
            name=f"approve {approval_id}",
        )

    @app.action(render.REJECT)
    async def reject(ack, body, action, client, context):
        await ack()
        actor = context["actor"]
        approval_id, shown = render.parse_value(action.get("value"))
        responder = Responder.for_request(svc, body)
        svc.spawn(
            _fill_reject(svc, client, actor, approval_id, shown, responder.channel, context, _answerer(svc, responder)),
            name=f"reject modal {approval_id}",
        )

    @app.action(render.REVIEW)
    async def review(ack):
        await ack()  # a link button: Slack opens the console; nothing to do

    @app.view(render.REJECT_MODAL)
    async def reject_submitted(ack, body, view, context):
        reason = ((view["state"]["values"].get(render.REASON_BLOCK) or {}).get(render.REASON_INPUT) or {}).get("value")
        if svc.settings.REJECT_REASON_REQUIRED and not (reason or "").strip():
            await ack(
                response_action="errors",
                errors={render.REASON_BLOCK: "Give a reason: it is sent to the platform with the rejection."},
            )
            return
        await ack()
        try:
            meta = json.loads(view.get("private_metadata") or "{}")
        except ValueError:
            meta = None
        actor = context["actor"]
        if not isinstance(meta, dict) or not isinstance(meta.get("a"), str):
            log.warning("reject form from %s carries no approval task; nothing decided", actor.id)
            svc.spawn(
                decisions.tell(
                    svc,
                    actor,
                    "That rejection form lost track of its approval request, so "
                    "nothing was decided. Click Reject on the card again.",
                )
            )
            return
        channel = meta.get("c") if isinstance(meta.get("c"), str) else None
        answer = _answerer(svc, Responder(svc=svc, user=actor.id, channel=channel))
        svc.spawn(
            _answered(decisions.decide(svc, actor, meta["a"], "reject", shown=meta.get("fp"), reason=reason), answer),
            name=f"reject {meta['a']}",
        )
