"""Acting as Slack towards the app, for modals: a person fills in and submits a view, or closes it."""

from __future__ import annotations

import copy
from typing import Any

from reference.slack.interactions import VERIFICATION_TOKEN, _find_option
from reference.slack.state import InteractionResult, View


class Modals:
    """Part of ``SlackStandIn``: what a person does in a modal, delivered to the app (with ``Interactions``)."""

    def _state_values(self, view: View, values: dict) -> dict:
        inputs = {}
        for block in view.blocks:
            if block.get("type") == "input" and isinstance(block.get("element"), dict):
                inputs[block.get("block_id")] = block
        state: dict[str, dict] = {}
        for bid, block in inputs.items():
            el = block["element"]
            state[bid] = {el.get("action_id"): {"type": el.get("type"), **self._empty_value(el)}}
        for bid, by_action in values.items():
            if bid not in inputs:
                raise LookupError(f"view {view.id} has no input block {bid!r}; inputs: {list(inputs)}")
            el = inputs[bid]["element"]
            for aid, v in by_action.items():
                if aid != el.get("action_id"):
                    raise LookupError(f"input block {bid!r} has action_id {el.get('action_id')!r}, not {aid!r}")
                state[bid][aid] = self._element_value(el, v)
        for bid, block in inputs.items():
            el = block["element"]
            entry = state[bid][el.get("action_id")]
            if not block.get("optional", False) and all(entry.get(k) in (None, "", []) for k in entry if k != "type"):
                raise ValueError(f"required input {bid!r} is empty (Slack would not submit the modal)")
        return state

    @staticmethod
    def _empty_value(el: dict) -> dict:
        t = el.get("type")
        if t in ("plain_text_input", "number_input", "email_text_input", "url_text_input"):
            return {"value": el.get("initial_value")}
        if t in ("static_select", "external_select", "radio_buttons"):
            return {"selected_option": copy.deepcopy(el.get("initial_option"))}
        if t in ("multi_static_select", "checkboxes"):
            return {"selected_options": copy.deepcopy(el.get("initial_options") or [])}
        if t == "users_select":
            return {"selected_user": el.get("initial_user")}
        if t == "multi_users_select":
            return {"selected_users": list(el.get("initial_users") or [])}
        if t == "datepicker":
            return {"selected_date": el.get("initial_date")}
        if t == "conversations_select":
            return {"selected_conversation": el.get("initial_conversation")}
        return {"value": None}

    @staticmethod
    def _element_value(el: dict, v: Any) -> dict:
        t = el.get("type")
        if isinstance(v, dict):
            return {"type": t, **v}

        def opt(x: str) -> dict:
            return _find_option(el, x) or {"text": {"type": "plain_text", "text": x}, "value": x}

        if t in ("static_select", "external_select", "radio_buttons"):
            return {"type": t, "selected_option": opt(v) if v is not None else None}
        if t in ("multi_static_select", "checkboxes"):
            vs = v if isinstance(v, list) else [v]
            return {"type": t, "selected_options": [opt(x) for x in vs]}
        if t == "users_select":
            return {"type": t, "selected_user": v}
        if t == "multi_users_select":
            return {"type": t, "selected_users": v if isinstance(v, list) else [v]}
        if t == "datepicker":
            return {"type": t, "selected_date": v}
        if t == "conversations_select":
            return {"type": t, "selected_conversation": v}
        return {"type": t, "value": v}

    async def submit_view(
        self,
        view_id: str | View,
        values: dict[str, dict[str, Any]] | None = None,
        *,
        user_id: str | None = None,
        via: str | None = None,
    ) -> InteractionResult:
        """Submit a modal with ``values`` = {block_id: {action_id: value}}; applies the app's response_action."""
        via = self._resolve_via(via)
        view = view_id if isinstance(view_id, View) else self.views.get(str(view_id))
        if view is None or view.type != "modal":
            raise LookupError(f"no modal with id {view_id!r}")
        if view.closed:
            raise ValueError(f"modal {view.id} is closed")
        user_id = user_id or view.user
        state = self._state_values(view, values or {})
        trigger_id = self._new_trigger(user_id)
        payload = {
            "type": "view_submission",
            "team": {"id": self.team_id, "domain": self.team_domain},
            "user": self._user_obj(user_id),
            "api_app_id": self.app_id,
            "token": VERIFICATION_TOKEN,
            "trigger_id": trigger_id,
            "view": view.to_api(state_values=state),
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        result = await self._deliver("view_submission", payload, via, trigger_id=trigger_id)
        result.view = view
        if not result.ok:
            return result  # Slack keeps the modal open and shows an error
        view.state_values = state
        body = result.body if isinstance(result.body, dict) else {}
        action = body.get("response_action")
        if action == "errors":
            view.errors = body.get("errors") or {}
            self._emit("view_errors", view_id=view.id, user=view.user)
        elif action == "update" and isinstance(body.get("view"), dict):
            self._replace_view(view, body["view"])
        elif action == "push" and isinstance(body.get("view"), dict):
            result.view = self._new_view(
                body["view"], "modal", user_id, root_view_id=view.root_view_id or view.id, previous_view_id=view.id
            )
            self._emit("view_opened", view_id=result.view.id, user=user_id)
        elif action == "clear":
            for v in self.open_views(view.user):
                v.closed = True
            self._emit("view_closed", view_id=view.id, user=view.user)
        else:
            view.closed = True
            self._emit("view_closed", view_id=view.id, user=view.user)
        return result

    async def close_view(
        self, view_id: str | View, *, user_id: str | None = None, via: str | None = None
    ) -> InteractionResult | None:
        """The user closes a modal; sends view_closed if the view has notify_on_close."""
        view = view_id if isinstance(view_id, View) else self.views.get(str(view_id))
        if view is None:
            raise LookupError(f"no view with id {view_id!r}")
        view.closed = True
        self._emit("view_closed", view_id=view.id, user=view.user)
        if not view.view.get("notify_on_close"):
            return None
        payload = {
            "type": "view_closed",
            "team": {"id": self.team_id, "domain": self.team_domain},
            "user": self._user_obj(user_id or view.user),
            "api_app_id": self.app_id,
            "token": VERIFICATION_TOKEN,
            "view": view.to_api(),
            "is_cleared": False,
            "is_enterprise_install": False,
            "enterprise": None,
        }
        return await self._deliver("view_closed", payload, self._resolve_via(via))
