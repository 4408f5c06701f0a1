"""Modals open at once (Slack's and Dispatch's pattern): a button that opens a modal gets a "Loading…" modal
with the click's trigger before anything else is done about the click (deduplication, the actor, the store, the
platform), because the trigger dies 3 seconds after the click. The listener then fills the modal with
`views.update`, and errors land in the modal.

The middleware runs after the workspace and person checks (no I/O) and before `handlers.once`: a click Slack
delivers twice carries the same trigger, which works once, so the second `views.open` is refused
(`exchanged_trigger_id`) and opens nothing; the deduplication then drops the second click."""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError

from bot.errors import BotError
from bot.render import approvals as approvals_render
from bot.render import prompts as render
from handlers.errors import user_message

log = logging.getLogger(__name__)

# The buttons that open a modal, with the modal's title.
MODAL_BUTTONS = {
    approvals_render.REJECT: "Reject approval",
    "run_replay_changes": "Replay with changes",
    "run_diff_full": "Full diff",
    "alert_resolve": "Resolve",
    "alert_more": "Mute alerts",  # the alert's overflow menu: each of its options opens the Mute form
}
VIEW_ID = "modal_view_id"  # context key: the id of the "Loading…" modal, when it opened
OPEN_ERROR = "modal_open_error"  # context key: Slack's error when it did not


def _button(body: dict) -> str | None:
    if not isinstance(body, dict) or body.get("type") != "block_actions":
        return None
    actions = body.get("actions")
    first = actions[0] if isinstance(actions, list) and actions and isinstance(actions[0], dict) else {}
    action_id = first.get("action_id")
    return action_id if isinstance(action_id, str) and action_id in MODAL_BUTTONS else None


def open_modals_first(svc):
    """A Bolt middleware (`handlers.middleware.Plain`: called with the request and `next`) opening the "Loading…"
    modal of a modal button with the click's trigger."""

    async def loading_modal(req, next):  # noqa: A002 - Bolt's argument name
        body, context = req.body, req.context
        client = context.client
        button = _button(body)
        trigger = body.get("trigger_id") if button else None
        if button and isinstance(trigger, str) and trigger:
            title = MODAL_BUTTONS[button]
            try:
                opened = await client.views_open(
                    trigger_id=trigger,
                    view=render.modal_notice(title, "Loading…", callback_id="loading_modal"),
                )
                context[VIEW_ID] = opened["view"]["id"]
            except SlackApiError as exc:
                context[OPEN_ERROR] = str(exc.response.get("error") or "unknown")
                log.info("Slack did not open the %s modal: %s", title, context[OPEN_ERROR])
            except Exception as exc:  # Slack unreachable: the listener says so
                context[OPEN_ERROR] = type(exc).__name__
                log.warning("could not reach Slack to open the %s modal: %s", title, context[OPEN_ERROR])
        return await next()

    return loading_modal


def not_opened(context) -> str:
    """What to tell the clicker when the modal did not open."""
    error = context.get(OPEN_ERROR) or "no trigger"
    return f"Slack did not open the form ({error}): click the button again."


async def fill(client, view_id: str, view: dict) -> None:
    """Put the real modal in place of "Loading…"."""
    await client.views_update(view_id=view_id, view=view)


async def show_error(client, view_id: str, title: str, text: str) -> None:
    """The modal says what went wrong (a message the bot made), in place of "Loading…"."""
    try:
        await client.views_update(view_id=view_id, view=render.modal_notice(title, text, callback_id="modal_error"))
    except Exception:
        log.exception("could not show an error in the %s modal", title)


async def fill_with(client, respond, context, build, *, failed_title: str, again: str) -> None:
    """Fill the "Loading…" modal with the view `build()` makes (store or platform work, after the modal opened);
    errors land in the modal under `failed_title`. When the modal never opened, the clicker is told by `respond`.
    `again` says how to try again when Slack refused the view."""
    view_id = context.get(VIEW_ID)
    if not view_id:
        try:
            await respond(text=not_opened(context), response_type="ephemeral", replace_original=False)
        except Exception:
            log.exception("could not say that the %s modal did not open", failed_title)
        return
    try:
        await fill(client, view_id, await build())
    except BotError as exc:
        await show_error(client, view_id, failed_title, exc.message)
    except SlackApiError as exc:
        await show_error(client, view_id, failed_title, f"Slack did not show it ({exc.response.get('error')}); {again}")
    except Exception as exc:  # spawned work is outside Bolt's error handler
        await show_error(client, view_id, failed_title, user_message(exc))
