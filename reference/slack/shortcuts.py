"""Shortcuts as Slack sends them: a global shortcut (`shortcut`, no conversation of its own) and a message shortcut
(`message_action`, on one message, with a response_url to answer in its conversation). Both carry a trigger_id."""

from __future__ import annotations

from typing import Any

from reference.slack.interactions import VERIFICATION_TOKEN
from reference.slack.responses import Origin
from reference.slack.state import SANDBOX_USER_ID


class Shortcuts:
    """Part of ``SlackStandIn``: what a person's use of one of the app's shortcuts sends the app."""

    def _shortcut_base(self, kind: str, callback_id: str, user_id: str) -> dict[str, Any]:
        return {
            "type": kind,
            "token": VERIFICATION_TOKEN,
            "action_ts": self._clock.next(),
            "team": {"id": self.team_id, "domain": self.team_domain},
            "user": self._user_obj(user_id),
            "is_enterprise_install": False,
            "enterprise": None,
            "callback_id": callback_id,
            "trigger_id": self._new_trigger(user_id),
        }

    async def global_shortcut(self, callback_id: str, *, user_id: str = SANDBOX_USER_ID, via: str | None = None):
        """The person picks the app's global shortcut (from the composer's shortcut menu or search)."""
        payload = self._shortcut_base("shortcut", callback_id, user_id)
        return await self._deliver("shortcut", payload, self._resolve_via(via), trigger_id=payload["trigger_id"])

    async def message_shortcut(
        self, target: Any, callback_id: str, *, user_id: str = SANDBOX_USER_ID, via: str | None = None
    ):
        """The person picks the app's message shortcut in a message's "More actions" menu."""
        msg = self._locate(target)
        ch = self.channel(msg.channel)
        payload = self._shortcut_base("message_action", callback_id, user_id)
        response_url = self._new_response_url(Origin("message_action", ch.id, user_id, thread_ts=msg.thread_ts))
        payload.update(
            channel={"id": ch.id, "name": "directmessage" if ch.is_im else ch.name},
            message_ts=msg.ts,
            message=msg.to_api(include_metadata=False),
            response_url=response_url,
        )
        return await self._deliver(
            "message_action",
            payload,
            self._resolve_via(via),
            response_url=response_url,
            trigger_id=payload["trigger_id"],
        )
