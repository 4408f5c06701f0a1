"""Bolt listener for the replay modal: the submission turns into "Replaying…" at once, then into the
outcome (the new run, linked, or why not) when the platform has answered."""

from __future__ import annotations

import json
import logging

from bot import commands
from bot.actors import Actor
from bot.errors import BotError
from bot.render import prompts as render
from bot.render.replay_modal import OTHER
from handlers.errors import user_message

log = logging.getLogger(__name__)


def _field(view: dict, block_id: str) -> str:
    return str(
        (((view.get("state") or {}).get("values") or {}).get(block_id) or {}).get("value", {}).get("value") or ""
    ).strip()


def _chosen(view: dict, block_id: str) -> str:
    """A static select's chosen value ("" when none)."""
    field = (((view.get("state") or {}).get("values") or {}).get(block_id) or {}).get("value") or {}
    return str((field.get("selected_option") or {}).get("value") or "").strip()


def register(app, svc) -> None:
    @app.view("replay_modal")
    async def replay_submitted(ack, body, view, client, context):
        try:
            run_id = commands.check_run_id(str(json.loads(view.get("private_metadata") or "{}")["run"]))
        except (ValueError, KeyError, TypeError, BotError):
            await ack(
                response_action="update",
                view=render.modal_notice(
                    "Replay", "This form lost its run. Close it and click *Replay with changes…* again."
                ),
            )
            return
        prompt, model = _field(view, "prompt"), _field(view, "model") or _chosen(view, "model_choice")
        if model == OTHER:
            await ack(response_action="errors", errors={"model": 'Type the model, or choose one instead of "Other".'})
            return
        if not prompt:
            await ack(response_action="errors", errors={"prompt": "A replay needs a prompt."})
            return
        await ack(response_action="update", view=render.modal_notice("Replaying…", f"Replaying `{run_id}`…"))
        svc.spawn(
            _replay(svc, client, view["id"], context["actor"], run_id, prompt, model or None), name="modal-replay"
        )


async def _replay(svc, client, view_id: str, actor: Actor, run_id: str, prompt: str, model: str | None) -> None:
    try:
        reply = await commands.act_reply(svc, actor, "replay", run_id, prompt=prompt, model=model)
        notice = render.modal_notice("Replayed", reply.payload["blocks"][0]["text"]["text"])
    except BotError as exc:
        notice = render.modal_notice("Not replayed", exc.message)
    except Exception as exc:  # spawned work is outside Bolt's error handler
        notice = render.modal_notice("Not replayed", user_message(exc))
    try:
        await client.views_update(view_id=view_id, view=notice)
    except Exception:
        log.exception("could not show the replay's outcome in its modal")
