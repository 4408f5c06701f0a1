"""The Web API's plumbing: arguments (form or JSON), tokens, faults, the call log; and state helpers."""

from __future__ import annotations

import copy
import inspect
import json
import time
import uuid
from typing import Any

from aiohttp import web

from reference.slack.blocks import ApiError
from reference.slack.state import SANDBOX_USER_ID, Call, Channel, Ephemeral, Message, User

JSON_STRING_ARGS = ("blocks", "attachments", "metadata", "view")
ERROR_NAMES = {500: "internal_error", 502: "bad_gateway", 503: "service_unavailable", 504: "gateway_timeout"}


def as_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return v != 0
    return str(v).strip().lower() in ("1", "true", "yes")


def as_list(v: Any) -> list[str]:
    if v is None:
        return []
    if isinstance(v, list):
        return [str(x) for x in v]
    s = str(v).strip()
    if s.startswith("["):
        try:
            return [str(x) for x in json.loads(s)]
        except ValueError:
            pass
    return [x.strip() for x in s.split(",") if x.strip()]


class WebApi:
    """Part of ``SlackStandIn``: serves /api/{method} and keeps the state helpers the methods share."""

    async def _read_args(self, request: web.Request) -> dict:
        args: dict[str, Any] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                raw = await request.text()
                if raw.strip():
                    try:
                        body = json.loads(raw)
                    except ValueError:
                        raise ApiError("invalid_json") from None
                    if not isinstance(body, dict):
                        raise ApiError("invalid_json")
                    args.update(body)
            else:
                post = await request.post()
                for k, v in post.items():
                    if isinstance(v, str):
                        args[k] = v
        for key in JSON_STRING_ARGS:
            v = args.get(key)
            if isinstance(v, str):
                if key == "metadata" and not v.strip():
                    args.pop(key)
                    continue
                try:
                    args[key] = json.loads(v)
                except ValueError:
                    raise ApiError(
                        {
                            "blocks": "invalid_blocks_format",
                            "attachments": "invalid_attachments",
                            "metadata": "invalid_metadata_format",
                            "view": "invalid_arguments",
                        }[key]
                    ) from None
        return args

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        at = time.time()
        auth = request.headers.get("Authorization", "")
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        try:
            args = await self._read_args(request)
        except ApiError as e:
            self._record(Call(method, {}, False, e.error, at, token=token))
            return web.json_response({"ok": False, "error": e.error, **e.extra})
        if token is None and "token" in args:
            token = str(args.get("token"))
        args.pop("token", None)

        fault = self._take_fault(method)
        if fault is not None and fault.error:  # a named error, as Slack answers it: HTTP 200, ok false
            body = {"ok": False, "error": fault.error, **(fault.extra or {})}
            self._record(Call(method, args, False, fault.error, at, token=token, response=body))
            return web.json_response(body)
        if fault is not None:
            if fault.status == 429:
                retry_after = fault.retry_after if fault.retry_after is not None else 1
                self._record(Call(method, args, False, "ratelimited", at, status=429, token=token))
                return web.json_response(
                    {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": str(retry_after)}
                )
            error = ERROR_NAMES.get(fault.status, f"http_{fault.status}")
            self._record(Call(method, args, False, error, at, status=fault.status, token=token))
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
            return web.json_response({"ok": False, "error": error}, status=fault.status, headers=headers)

        handler = self._methods.get(method)
        self._rate_taken = None  # nothing to refund until this call takes a rate slot
        try:
            if handler is None:
                raise ApiError("unknown_method")
            self._check_token(method, token)
            self._check_access(method, args)  # membership and scopes (reference/slack/membership.py)
            retry_after = self._rate_wait(method, args)
            if retry_after is not None:
                call = Call(method, args, False, "ratelimited", at, status=429, token=token)
                self.throttled.append(call)
                self._record(call)
                return web.json_response(
                    {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": retry_after}
                )
            result = handler(args)
            if inspect.isawaitable(result):
                result = await result
            body = {"ok": True, **(result or {})}
            self._record(Call(method, args, True, None, at, token=token, response=body))
            scopes = {"X-OAuth-Scopes": ",".join(self.scopes)} if token == self.bot_token else None
            return web.json_response(body, headers=scopes)
        except ApiError as e:
            self._rate_refund()
            body = {"ok": False, "error": e.error, **e.extra}
            self._record(Call(method, args, False, e.error, at, status=e.status, token=token, response=body))
            return web.json_response(body, status=e.status)

    def _record(self, call: Call) -> None:
        self.calls.append(call)
        self._emit("call", method=call.method, ok=call.ok, error=call.error)

    def _check_token(self, method: str, token: str | None) -> None:
        if not token:
            raise ApiError("not_authed")
        if method == "apps.connections.open":
            if self.app_token is not None and token == self.app_token:
                return
            if token == self.bot_token:
                raise ApiError("not_allowed_token_type")
            raise ApiError("invalid_auth")
        if token == self.bot_token:
            return
        if token in self._revoked_tokens:
            raise ApiError("token_revoked")  # a token of an earlier installation (install())
        if self.app_token is not None and token == self.app_token:
            raise ApiError("not_allowed_token_type")
        raise ApiError("invalid_auth")

    def _next_id(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}0{uuid.uuid4().hex[:8].upper()}{self._seq}"

    def _resolve_channel(self, ref: Any) -> Channel | None:
        if ref is None:
            return None
        ref = str(ref)
        if ref in self.channels:
            return self.channels[ref]
        name = ref.lstrip("#")
        for ch in self.channels.values():
            if ch.name == name and not ch.is_im:
                return ch
        if ref.startswith(("U", "W")) and ref in self.users:
            return self._open_dm(ref)
        return None

    def _channel_or_error(self, ref: Any) -> Channel:
        if not ref:
            raise ApiError("channel_not_found")
        ch = self._resolve_channel(ref)
        if ch is None:
            raise ApiError("channel_not_found")
        return ch

    def _open_dm(self, user: str) -> Channel:
        for ch in self.channels.values():
            if ch.is_im and ch.im_user == user:
                return ch
        cid = "D" + user[1:] if len(user) > 1 else "D" + user
        while cid in self.channels:
            cid += "X"
        ch = Channel(id=cid, name=cid, is_im=True, im_user=user, members=[user, self.bot_user_id])
        self.channels[cid] = ch
        self._emit("channel", channel=cid)
        return ch

    def _find_message(self, ch: Channel, ts: Any) -> Message | None:
        ts = str(ts)
        for m in ch.messages:
            if m.ts == ts:
                return m
        return None

    def _user_or_error(self, user: Any) -> User:
        u = self.users.get(str(user)) if user else None
        if u is None:
            raise ApiError("user_not_found")
        return u

    def _user_obj(self, user_id: str) -> dict:
        u = self.users.get(user_id)
        name = u.name if u else user_id.lower()
        return {"id": user_id, "username": name, "name": name, "team_id": self.team_id}

    def add_message(
        self,
        channel: str,
        text: str = "",
        *,
        blocks: list | None = None,
        thread_ts: str | None = None,
        metadata: dict | None = None,
        user: str | None = None,
        bot: bool = True,
        attachments: list | None = None,
        reply_broadcast: bool = False,
        source: str = "api",
    ) -> Message:
        """Store a message (no validation) - used by the Web API and by UIs/tests to seed state.

        ``bot=False`` with ``user=...`` stores a human message."""
        ch = self.channel(channel)
        parent: Message | None = None
        if thread_ts:
            parent = self._find_message(ch, thread_ts)
            if parent is not None and parent.is_reply:  # replying to a reply joins its thread
                parent = self._find_message(ch, parent.thread_ts)
        msg = Message(
            ts=self._clock.next(),
            channel=ch.id,
            text=text or "",
            blocks=copy.deepcopy(blocks),
            attachments=copy.deepcopy(attachments),
            thread_ts=(parent.ts if parent else (str(thread_ts) if thread_ts else None)),
            metadata=copy.deepcopy(metadata),
            user=(self.bot_user_id if bot else (user or SANDBOX_USER_ID)),
            bot_id=self.bot_id if bot else None,
            app_id=self.app_id if bot else None,
            reply_broadcast=reply_broadcast,
            source=source,
            team=self.team_id,
            parent_user_id=parent.user if parent else None,
        )
        if parent is not None:
            parent.thread_ts = parent.ts
            parent.replies.append(msg)
        ch.messages.append(msg)
        self._emit("message", channel=ch.id, ts=msg.ts, thread_ts=msg.thread_ts)
        return msg

    def _add_ephemeral(
        self,
        ch: Channel,
        user: str,
        text: str,
        blocks: list | None,
        *,
        thread_ts: str | None = None,
        source: str = "api",
        response_url: str | None = None,
        attachments: list | None = None,
    ) -> Ephemeral:
        eph = Ephemeral(
            id=self._clock.next(),
            channel=ch.id,
            user=user,
            text=text or "",
            blocks=copy.deepcopy(blocks),
            attachments=copy.deepcopy(attachments),
            thread_ts=thread_ts,
            source=source,
            response_url=response_url,
        )
        ch.ephemerals.append(eph)
        self._emit("ephemeral", channel=ch.id, user=user, id=eph.id)
        return eph

    def _update_message(
        self,
        msg: Message,
        *,
        text: Any = None,
        blocks: Any = None,
        attachments: Any = None,
        metadata: Any = None,
        count_edit: bool = True,
    ) -> None:
        msg.versions.append(
            {"text": msg.text, "blocks": copy.deepcopy(msg.blocks), "metadata": copy.deepcopy(msg.metadata)}
        )
        if text is not None:
            msg.text = str(text)
        if blocks is not None:
            msg.blocks = copy.deepcopy(blocks) if blocks else None
        if attachments is not None:
            msg.attachments = copy.deepcopy(attachments) if attachments else None
        if metadata is not None:
            msg.metadata = copy.deepcopy(metadata)
        if count_edit:
            msg.edited += 1
            msg.edited_ts = self._clock.next()
        self._emit("message_changed", channel=msg.channel, ts=msg.ts)

    def _delete_message(self, ch: Channel, msg: Message) -> None:
        ch.messages.remove(msg)
        if msg.is_reply:
            parent = self._find_message(ch, msg.thread_ts)
            if parent is not None and msg in parent.replies:
                parent.replies.remove(msg)
        self._emit("message_deleted", channel=ch.id, ts=msg.ts)
