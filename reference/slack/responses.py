"""response_url: what the app posts there (or in an ack body) becomes messages and ephemerals."""

from __future__ import annotations

import copy
import json
import time
import uuid
from dataclasses import dataclass, field

from aiohttp import web

from reference.slack.blocks import ApiError, validate_message
from reference.slack.state import SANDBOX_USER_ID, ResponsePost
from reference.slack.web_api import as_bool


@dataclass
class Origin:
    """Where a response_url came from."""

    kind: str  # "slash_command" | "block_actions" | ...
    channel: str | None
    user: str
    message_ts: str | None = None  # block_actions on a channel message
    ephemeral_id: str | None = None  # block_actions on an ephemeral message
    thread_ts: str | None = None
    issued: float = field(default_factory=time.monotonic)  # when Slack made the url (its 30 minutes start)
    uses: int = 0  # posts Slack took through it (at most 5)


class Responses:
    """Part of ``SlackStandIn``: response_urls, triggers and applying responses."""

    def _new_response_url(self, origin: Origin) -> str:
        rid = uuid.uuid4().hex
        self._origins[rid] = origin
        return f"{self._base()}/_sim/response/{rid}"

    def issue_trigger(self, user: str = SANDBOX_USER_ID) -> str:
        """A fresh trigger_id for ``user`` (what Slack puts in commands/actions; views.open needs one)."""
        return self._new_trigger(user)

    def _new_trigger(self, user: str) -> str:
        trigger = f"{int(time.time())}.{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex}"
        self._triggers[trigger] = (user, time.monotonic())
        return trigger

    def _take_trigger(self, args: dict) -> str:
        """The user a views.open/push trigger_id was issued for; it is spent by this call."""
        trigger = args.get("trigger_id")
        if not trigger:
            raise ApiError(
                "invalid_arguments", response_metadata={"messages": ["[ERROR] missing required field: trigger_id"]}
            )
        trigger = str(trigger)
        if trigger in self._exchanged:
            # views.open: exchanged_trigger_id, "the trigger_id was already exchanged in a previous call"
            raise ApiError("exchanged_trigger_id")
        issued = self._triggers.get(trigger)
        if issued is None:
            raise ApiError("invalid_trigger_id")  # views.open: invalid_trigger_id, never issued by Slack
        user, at = issued
        if time.monotonic() - at > self.trigger_seconds:
            # views.open: expired_trigger_id, "the trigger_id is expired" (3 seconds after the request)
            raise ApiError("expired_trigger_id")
        del self._triggers[trigger]
        self._exchanged.add(trigger)
        return user

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        rid = request.match_info["rid"]
        url = f"{self._base()}/_sim/response/{rid}"
        origin = self._origins.get(rid)
        try:
            if request.content_type == "application/json":
                body = await request.json()
            else:
                form = await request.post()
                body = json.loads(form["payload"]) if "payload" in form else dict(form)
            if not isinstance(body, dict):
                raise ValueError
        except (ValueError, KeyError):
            self.response_posts.append(ResponsePost(url, {}, time.time(), 400, "invalid_payload"))
            return web.Response(status=400, text="invalid_payload")
        for key in ("blocks", "attachments"):
            if isinstance(body.get(key), str):
                try:
                    body[key] = json.loads(body[key])
                except ValueError:
                    body[key] = None
        refusal = self._response_url_refusal(origin)
        if refusal:
            self.response_posts.append(ResponsePost(url, body, time.time(), 404, refusal))
            self._emit("response", response_url=url, ok=False)
            return web.Response(status=404, text=refusal)
        origin.uses += 1
        try:
            self._apply_response(url, origin, body)
        except ApiError as e:
            self.response_posts.append(ResponsePost(url, body, time.time(), 400, e.error))
            self._emit("response", response_url=url, ok=False)
            return web.Response(status=400, text=e.error)
        self.response_posts.append(ResponsePost(url, body, time.time()))
        self._emit("response", response_url=url, ok=True)
        return web.Response(text="ok")

    def _response_url_refusal(self, origin: Origin | None) -> str | None:
        """Slack's rule for response_url: "use it up to five times within 30 minutes"; then 404."""
        if origin is None or time.monotonic() - origin.issued > self.response_url_seconds:
            return "expired_url"
        if origin.uses >= self.response_url_uses:
            return "used_url"
        return None

    def _apply_response(self, url: str | None, origin: Origin, body: dict, *, source: str = "response_url") -> None:
        """Apply a response_url post (or a displayed ack body) to the state."""
        ch = self._resolve_channel(origin.channel) if origin.channel else None
        if as_bool(body.get("delete_original", False)):
            if ch is not None and origin.message_ts:
                msg = self._find_message(ch, origin.message_ts)
                if msg is not None:
                    self._delete_message(ch, msg)
            elif ch is not None:
                for e in ch.ephemerals:
                    mine = (
                        e.id == origin.ephemeral_id
                        if origin.ephemeral_id
                        else url is not None and e.response_url == url
                    )
                    if mine and not e.deleted:
                        e.deleted = True
                        self._emit("ephemeral_deleted", channel=ch.id, id=e.id)
            return
        validate_message(body)
        if ch is None:
            return
        # A slash command's response_url has no original message: Slack ignores replace_original there and
        # posts a new one (replace_original applies to messages with interactive components only).
        if as_bool(body.get("replace_original", False)) and origin.kind != "slash_command":
            if origin.message_ts:
                msg = self._find_message(ch, origin.message_ts)
                if msg is not None:
                    self._update_message(
                        msg,
                        text=body.get("text", ""),
                        blocks=body.get("blocks") or [],
                        attachments=body.get("attachments"),
                        count_edit=False,
                    )
                    return
            target = None
            if origin.ephemeral_id:
                target = next((e for e in ch.ephemerals if e.id == origin.ephemeral_id), None)
            elif url is not None:
                target = next((e for e in reversed(ch.ephemerals) if e.response_url == url and not e.deleted), None)
            if target is not None:
                target.text = body.get("text", "") or ""
                target.blocks = copy.deepcopy(body.get("blocks")) or None
                target.source = source
                self._emit("ephemeral_changed", channel=ch.id, id=target.id)
                return
        if body.get("response_type") == "in_channel":
            self.add_message(
                ch.id,
                body.get("text") or "",
                blocks=body.get("blocks"),
                attachments=body.get("attachments"),
                thread_ts=body.get("thread_ts") or origin.thread_ts,
                source=source,
            )
        else:
            self._add_ephemeral(
                ch,
                origin.user,
                body.get("text") or "",
                body.get("blocks"),
                thread_ts=body.get("thread_ts") or origin.thread_ts,
                source=source,
                response_url=url,
                attachments=body.get("attachments"),
            )
