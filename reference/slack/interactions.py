"""Acting as Slack towards the app: slash commands, clicks, events (HTTP or Socket Mode); modals are in
``reference.slack.modals``."""

from __future__ import annotations

import asyncio
import copy
import json
import time
import uuid
from typing import Any
from urllib.parse import urlencode

import aiohttp

from reference.slack.blocks import ApiError
from reference.slack.responses import Origin
from reference.slack.state import (
    SANDBOX_USER_ID,
    ActionResult,
    CommandResult,
    Ephemeral,
    InteractionResult,
    Message,
    View,
)

VERIFICATION_TOKEN = "sandbox-verification-token"


def _iter_elements(blocks: list | None):
    """Yield (block, element) for every interactive element in a block list."""
    for block in blocks or []:
        if not isinstance(block, dict):
            continue
        if block.get("type") == "actions":
            for el in block.get("elements") or []:
                yield block, el
        elif block.get("type") == "section" and isinstance(block.get("accessory"), dict):
            yield block, block["accessory"]
        elif block.get("type") == "input" and isinstance(block.get("element"), dict):
            yield block, block["element"]


def _find_option(el: dict, value: str) -> dict | None:
    opts = list(el.get("options") or [])
    for g in el.get("option_groups") or []:
        opts.extend(g.get("options") or [])
    for o in opts:
        if o.get("value") == value:
            return copy.deepcopy(o)
    return None


class Interactions:
    """Part of ``SlackStandIn``: what a person does in Slack, delivered to the app."""

    def _resolve_via(self, via: str | None) -> str:
        if via is None:
            return "socket" if (self.bot_url is None and self.socket_connected) else "http"
        if via not in ("http", "socket"):
            raise ValueError(f"via must be 'http' or 'socket', not {via!r}")
        return via

    def signed_headers(self, body: str, content_type: str, timestamp: int | None = None) -> dict:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        return {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": self._verifier.generate_signature(timestamp=ts, body=body),
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        }

    async def _post_to_bot(self, body: str, content_type: str) -> tuple[int | None, Any, str | None]:
        if not self.bot_url:
            raise RuntimeError("bot_url is not set: cannot deliver over HTTP")
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        url = self.bot_url.rstrip("/") + "/slack/events"
        try:
            async with self._session.post(
                url,
                data=body.encode("utf-8"),
                headers=self.signed_headers(body, content_type),
                timeout=aiohttp.ClientTimeout(total=self.ack_timeout),
            ) as resp:
                text = await resp.text()
                parsed: Any = None
                if text.strip():
                    try:
                        parsed = json.loads(text)
                    except ValueError:
                        parsed = text
                return resp.status, parsed, None
        except asyncio.TimeoutError:
            return None, None, "operation_timeout"
        except aiohttp.ClientError as e:
            return None, None, f"connection_error: {e}"

    async def _deliver(
        self,
        kind: str,
        payload: dict,
        via: str,
        *,
        form_fields: dict | None = None,
        response_url: str | None = None,
        trigger_id: str | None = None,
    ) -> InteractionResult:
        """Deliver to the app: HTTP (signed form/JSON POST) or Socket Mode envelope."""
        result = InteractionResult(
            kind=kind, via=via, payload=payload, response_url=response_url, trigger_id=trigger_id
        )
        if via == "socket":
            stype = {"slash_command": "slash_commands", "event": "events_api"}.get(kind, "interactive")
            env_id, ack, error = await self._send_envelope(stype, payload)
            result.envelope_id, result.ack, result.error = env_id, ack, error
            if ack is not None:
                result.status = 200
                result.body = ack.get("payload")
        else:
            if kind == "slash_command":
                body, ctype = urlencode(form_fields or payload), "application/x-www-form-urlencoded"
            elif kind == "event":
                body, ctype = json.dumps(payload), "application/json"
            else:
                body, ctype = urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded"
            result.status, result.body, result.error = await self._post_to_bot(body, ctype)
        self.interactions.append(result)
        self._emit("interaction", kind=kind, via=via, ok=result.ok)
        return result

    async def send_command(
        self,
        text: str,
        *,
        user_id: str = SANDBOX_USER_ID,
        channel_id: str = "C0ALERTS",
        command: str = "/runs",
        via: str | None = None,
    ) -> CommandResult:
        """Run a slash command as ``user_id`` in ``channel_id``; returns the app's ack.

        An ack body with text/blocks is shown like Slack does (ephemeral, or
        a channel message for ``response_type: in_channel``)."""
        via = self._resolve_via(via)
        ch = self.channel(channel_id)
        user = self.users.get(user_id)
        response_url = self._new_response_url(Origin("slash_command", ch.id, user_id))
        trigger_id = self._new_trigger(user_id)
        fields = {
            "token": VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "team_domain": self.team_domain,
            "channel_id": ch.id,
            "channel_name": "directmessage" if ch.is_im else ch.name,
            "user_id": user_id,
            "user_name": user.name if user else user_id.lower(),
            "command": command,
            "text": text,
            "api_app_id": self.app_id,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger_id,
        }
        result = await self._deliver(
            "slash_command", dict(fields), via, form_fields=fields, response_url=response_url, trigger_id=trigger_id
        )
        if result.ok and isinstance(result.body, dict) and (result.body.get("text") or result.body.get("blocks")):
            try:
                # Shown as answered through the command's response_url, which may later replace or delete it.
                self._apply_response(response_url, Origin("slash_command", ch.id, user_id), result.body, source="ack")
            except ApiError as e:
                result.error = e.error
        elif result.ok and isinstance(result.body, str) and result.body.strip():
            self._add_ephemeral(ch, user_id, result.body, None, source="ack")
        return result

    def _locate(self, target: Any) -> Message | Ephemeral | View:
        if isinstance(target, (Message, Ephemeral, View)):
            return target
        if isinstance(target, str):
            if target in self.views:
                return self.views[target]
            for ch in self.channels.values():
                m = self._find_message(ch, target)
                if m is not None:
                    return m
                for e in ch.ephemerals:
                    if e.id == target:
                        return e
        if isinstance(target, tuple) and len(target) == 2:
            m = self.message(*target)
            if m is not None:
                return m
        raise LookupError(f"cannot find a message or view for {target!r}")

    async def click(
        self,
        message_or_view: Any,
        action_id: str,
        *,
        user_id: str = SANDBOX_USER_ID,
        value: str | None = None,
        via: str | None = None,
    ) -> ActionResult:
        """Click a button (or choose ``value`` in a select/overflow) identified by ``action_id``.

        ``message_or_view``: a Message, Ephemeral, View, a message ts, a view id or (channel, ts)."""
        via = self._resolve_via(via)
        target = self._locate(message_or_view)
        blocks = target.blocks or []
        found = next(((b, el) for b, el in _iter_elements(blocks) if el.get("action_id") == action_id), None)
        if found is None:
            available = [el.get("action_id") for _, el in _iter_elements(blocks)]
            raise LookupError(f"no element with action_id {action_id!r}; available: {available}")
        block, el = found
        action_ts = self._clock.next()
        action: dict[str, Any] = {
            "action_id": action_id,
            "block_id": block.get("block_id") or uuid.uuid4().hex[:5],
            "type": el.get("type"),
            "action_ts": action_ts,
        }
        etype = el.get("type")
        if etype == "button":
            action["text"] = copy.deepcopy(el.get("text"))
            v = value if value is not None else el.get("value")
            if v is not None:
                action["value"] = v
            if el.get("style"):
                action["style"] = el["style"]
        elif etype in ("static_select", "overflow", "radio_buttons", "external_select"):
            if value is None:
                raise ValueError(f"{etype} {action_id!r} needs value=")
            opt = _find_option(el, value) or {"text": {"type": "plain_text", "text": value}, "value": value}
            action["selected_option"] = opt
        elif etype == "users_select":
            action["selected_user"] = value
        elif etype == "conversations_select" or etype == "channels_select":
            action["selected_conversation" if etype == "conversations_select" else "selected_channel"] = value
        elif etype == "datepicker":
            action["selected_date"] = value
        elif value is not None:
            action["value"] = value

        trigger_id = self._new_trigger(user_id)
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": self._user_obj(user_id),
            "api_app_id": self.app_id,
            "token": VERIFICATION_TOKEN,
            "trigger_id": trigger_id,
            "team": {"id": self.team_id, "domain": self.team_domain},
            "enterprise": None,
            "is_enterprise_install": False,
            "state": {"values": {}},
            "actions": [action],
        }
        response_url: str | None = None
        if isinstance(target, View):
            payload["container"] = {"type": "view", "view_id": target.id}
            payload["view"] = target.to_api()
        else:
            ch = self.channel(target.channel)
            is_eph = isinstance(target, Ephemeral)
            payload["container"] = {
                "type": "message",
                "message_ts": target.ts,
                "channel_id": ch.id,
                "is_ephemeral": is_eph,
            }
            if target.thread_ts:
                payload["container"]["thread_ts"] = target.thread_ts
            payload["channel"] = {"id": ch.id, "name": "directmessage" if ch.is_im else ch.name}
            if not is_eph:
                payload["message"] = target.to_api(include_metadata=True)
            response_url = self._new_response_url(
                Origin(
                    "block_actions",
                    ch.id,
                    user_id,
                    message_ts=None if is_eph else target.ts,
                    ephemeral_id=target.id if is_eph else None,
                    thread_ts=target.thread_ts,
                )
            )
            payload["response_url"] = response_url
        return await self._deliver("block_actions", payload, via, response_url=response_url, trigger_id=trigger_id)

    async def send_event(self, event: dict, *, via: str | None = None) -> InteractionResult:
        """Deliver an Events API ``event_callback`` wrapping ``event`` (e.g. app_home_opened)."""
        event = dict(event)
        event.setdefault("event_ts", self._clock.next())
        payload = {
            "token": VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "api_app_id": self.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": "Ev" + uuid.uuid4().hex[:10].upper(),
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
        }
        return await self._deliver("event", payload, self._resolve_via(via))

    async def post_user_message(
        self,
        channel: str,
        text: str,
        *,
        user_id: str = SANDBOX_USER_ID,
        thread_ts: str | None = None,
        via: str | None = None,
        deliver: bool = True,
    ) -> tuple[Message, InteractionResult | None]:
        """A human posts a (non-command) message; also delivers a ``message`` event to the app
        when it is reachable (bot_url set or Socket Mode connected) and ``deliver`` is true."""
        msg = self.add_message(channel, text, user=user_id, bot=False, thread_ts=thread_ts, source="user")
        if not deliver or not (self.bot_url or self.socket_connected):
            return msg, None
        ch = self.channel(msg.channel)
        event: dict[str, Any] = {
            "type": "message",
            "channel": ch.id,
            "user": user_id,
            "text": text,
            "ts": msg.ts,
            "team": self.team_id,
            "event_ts": msg.ts,
            "channel_type": "im" if ch.is_im else "mpim" if ch.is_mpim else "channel",
        }
        if msg.thread_ts:
            event["thread_ts"] = msg.thread_ts
        return msg, await self.send_event(event, via=via)

    async def open_home(self, user_id: str = SANDBOX_USER_ID, *, via: str | None = None) -> InteractionResult:
        """The user opens the App Home tab (sends app_home_opened)."""
        home = self.homes.get(user_id)
        event: dict[str, Any] = {
            "type": "app_home_opened",
            "user": user_id,
            "channel": self.dm_channel_id(user_id),
            "tab": "home",
        }
        if home is not None:
            event["view"] = home.to_api()
        return await self.send_event(event, via=via)
