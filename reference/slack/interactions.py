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


def _retry_reason(result: InteractionResult) -> str:
    """Slack's x-slack-retry-reason for a failed delivery."""
    if result.error == "operation_timeout":
        return "http_timeout"
    if result.error:
        return "connection_failed"
    return "http_error"


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

    async def _post_to_bot(
        self, body: str, content_type: str, extra_headers: dict | None = None
    ) -> tuple[int | None, Any, str | None]:
        if not self.bot_url:
            raise RuntimeError("bot_url is not set: cannot deliver over HTTP")
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        url = self.bot_url.rstrip("/") + "/slack/events"
        try:
            async with self._session.post(
                url,
                data=body.encode("utf-8"),
                headers={**self.signed_headers(body, content_type), **(extra_headers or {})},
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
        retry_num: int = 0,
        retry_reason: str = "",
    ) -> InteractionResult:
        """Deliver to the app: HTTP (signed form/JSON POST) or Socket Mode envelope."""
        result = InteractionResult(
            kind=kind,
            via=via,
            payload=payload,
            response_url=response_url,
            trigger_id=trigger_id,
            retry_num=retry_num,
            retry_reason=retry_reason,
        )
        if via == "socket":
            stype = {"slash_command": "slash_commands", "event": "events_api"}.get(kind, "interactive")
            env_id, ack, error = await self._send_envelope(stype, payload, retry_num, retry_reason)
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
            retry = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": retry_reason} if retry_num else {}
            result.status, result.body, result.error = await self._post_to_bot(body, ctype, retry)
        self.interactions.append(result)
        self._emit("interaction", kind=kind, via=via, ok=result.ok, retry_num=retry_num)
        if kind == "event" and not (result.ok or (result.status is not None and 200 <= result.status < 300)):
            reason = "timeout" if via == "socket" else _retry_reason(result)
            self._redeliver_later(payload, via, retry_num + 1, reason)
        return result

    def _redeliver_later(self, payload: dict, via: str, retry_num: int, reason: str) -> None:
        """Events API: "we'll retry a failed delivery up to 3 times: nearly immediately, after 1 minute, after 5
        minutes", the same event_id, with x-slack-retry-num and x-slack-retry-reason (Socket Mode: retry_attempt)."""
        if retry_num > len(self.event_retry_delays):
            return

        async def later() -> None:
            await asyncio.sleep(self.event_retry_delays[retry_num - 1])
            if via == "socket" and not self.socket_connected:
                return
            if via == "http" and not self.bot_url:
                return
            await self._deliver("event", payload, via, retry_num=retry_num, retry_reason=reason)

        task = asyncio.get_running_loop().create_task(later())
        self._redeliveries.add(task)
        task.add_done_callback(self._redeliveries.discard)

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
        # Buttons of attachments too: an app's unfurl card under a person's message is one.
        attached = [b for a in getattr(target, "attachments", None) or [] for b in a.get("blocks") or []]
        blocks = [*(target.blocks or []), *attached]
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
        elif etype in ("multi_static_select", "checkboxes"):
            values = value if isinstance(value, list) else [] if value is None else [value]
            action["selected_options"] = [_find_option(el, v) or {"value": v} for v in values]
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
            if block.get("type") == "input":  # dispatch_action: Slack sends the view's inputs as they are now
                try:
                    state = self._state_values(target, {block.get("block_id"): {action_id: value}})
                    payload["view"] = target.to_api(state_values=state)
                    payload["state"] = {"values": state}
                except (LookupError, ValueError):
                    pass
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
        result = await self.send_event(event, via=via)
        await self.share_links(msg, user_id, via=via)
        return msg, result

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
