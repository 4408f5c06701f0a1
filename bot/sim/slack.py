"""A Slack stand-in: a real HTTP server that speaks the Slack Web API to the bot
and can act as Slack towards the bot (slash commands, clicks, view submissions,
events) over HTTP (signed requests) or Socket Mode (websocket).

Typical use::

    slack = SlackStandIn(bot_token="xoxb-test", signing_secret="secret", app_token="xapp-test")
    await slack.start()
    client = AsyncWebClient(token="xoxb-test", base_url=slack.api_url)
    ...
    slack.bot_url = "http://127.0.0.1:3000"          # the bot's server, requests go to /slack/events
    result = await slack.send_command("status 42")
    await slack.wait_for(lambda s: s.messages("C0ALERTS"))
    await slack.stop()

State lives in plain dataclasses (``bot.sim.slack_state``); every change is
announced to subscribers (``subscribe()`` queues) and bumps ``version``.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import json
import logging
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any, Awaitable, Callable
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from slack_sdk.signature import SignatureVerifier

from .slack_blocks import ApiError, validate_message, validate_view
from .slack_state import (
    APP_ID,
    BOT_ID,
    BOT_USER_ID,
    BOT_USERNAME,
    DEFAULT_CHANNELS,
    DEFAULT_USERGROUPS,
    DEFAULT_USERS,
    SANDBOX_USER_ID,
    TEAM_DOMAIN,
    TEAM_NAME,
    ActionResult,
    Call,
    Channel,
    CommandResult,
    Ephemeral,
    InteractionResult,
    Message,
    ResponsePost,
    TsClock,
    User,
    View,
    ts_to_float,
)

__all__ = [
    "SlackStandIn", "Call", "Message", "Ephemeral", "Channel", "View", "User", "ResponsePost",
    "InteractionResult", "CommandResult", "ActionResult", "ApiError",
    "DEFAULT_USERS", "DEFAULT_USERGROUPS", "DEFAULT_CHANNELS",
    "BOT_USER_ID", "BOT_ID", "APP_ID", "SANDBOX_USER_ID",
]

log = logging.getLogger(__name__)

VERIFICATION_TOKEN = "sandbox-verification-token"
JSON_STRING_ARGS = ("blocks", "attachments", "metadata", "view")
ERROR_NAMES = {500: "internal_error", 502: "bad_gateway", 503: "service_unavailable", 504: "gateway_timeout"}


@dataclass
class _Fault:
    status: int
    remaining: int | None  # calls left (None: time-based)
    until: float | None  # monotonic deadline (None: count-based)
    retry_after: int | None
    method: str | None = None

    def active(self, now: float) -> bool:
        if self.until is not None:
            return now < self.until
        return (self.remaining or 0) > 0


@dataclass
class _Origin:
    """Where a response_url came from."""

    kind: str  # "slash_command" | "block_actions" | ...
    channel: str | None
    user: str
    message_ts: str | None = None  # block_actions on a channel message
    ephemeral_id: str | None = None  # block_actions on an ephemeral message
    thread_ts: str | None = None


def _as_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return v != 0
    return str(v).strip().lower() in ("1", "true", "yes")


def _as_list(v: Any) -> list[str]:
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


class SlackStandIn:
    """A fake Slack: Web API server + the Slack side of commands/interactivity/Socket Mode."""

    #: Slack gives apps 3 seconds to acknowledge; set higher for slow CI if needed.
    ack_timeout: float = 3.0

    def __init__(
        self,
        *,
        bot_token: str,
        signing_secret: str,
        app_token: str | None = None,
        team_id: str = "T0SANDBOX",
        bot_url: str | None = None,
        users: dict | None = None,
        usergroups: dict[str, list[str]] | None = None,
        channels: dict[str, str] | None = None,
        ack_timeout: float = 3.0,
    ) -> None:
        self.ack_timeout = ack_timeout
        self.bot_token = bot_token
        self.signing_secret = signing_secret
        self.app_token = app_token
        self.team_id = team_id
        self.team_domain = TEAM_DOMAIN
        self.bot_url = bot_url
        self.bot_user_id = BOT_USER_ID
        self.bot_id = BOT_ID
        self.app_id = APP_ID

        self.users: dict[str, User] = {}
        for uid, spec in (DEFAULT_USERS if users is None else users).items():
            self.users[uid] = User.build(uid, spec, team_id)
        self.users.setdefault(BOT_USER_ID, User(id=BOT_USER_ID, real_name="runbot", name=BOT_USERNAME,
                                                is_bot=True, team_id=team_id, email=""))
        self.usergroups: dict[str, list[str]] = {
            k: list(v) for k, v in (DEFAULT_USERGROUPS if usergroups is None else usergroups).items()
        }
        self.channels: dict[str, Channel] = {}
        for cid, name in (DEFAULT_CHANNELS if channels is None else channels).items():
            self.channels[cid] = Channel(id=cid, name=name, members=list(self.users))

        self.views: dict[str, View] = {}  # all modals and homes by id
        self.homes: dict[str, View] = {}  # user id -> App Home view
        self.calls: list[Call] = []
        self.response_posts: list[ResponsePost] = []
        self.interactions: list[InteractionResult] = []
        self.version = 0

        self._clock = TsClock()
        self._seq = 0
        self._faults: list[_Fault] = []
        self._subscribers: list[asyncio.Queue] = []
        self._origins: dict[str, _Origin] = {}  # response_url id -> origin
        self._triggers: dict[str, str] = {}  # trigger_id -> user id
        self._sockets: list[web.WebSocketResponse] = []
        self._pending_acks: dict[str, asyncio.Future] = {}
        self._socket_tickets: set[str] = set()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._verifier = SignatureVerifier(signing_secret)
        self.base_url: str | None = None

        self._methods: dict[str, Callable[[dict], Any]] = {
            "api.test": self._api_test,
            "auth.test": self._auth_test,
            "apps.connections.open": self._apps_connections_open,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "users.info": self._users_info,
            "users.list": self._users_list,
            "usergroups.list": self._usergroups_list,
            "usergroups.users.list": self._usergroups_users_list,
            "conversations.open": self._conversations_open,
            "conversations.info": self._conversations_info,
            "conversations.list": self._conversations_list,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
        }

    # ------------------------------------------------------------------ #
    # Server lifecycle
    # ------------------------------------------------------------------ #

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=10 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_get("/_socket", self._handle_socket)
        app.router.add_post("/_sim/response/{rid}", self._handle_response_url)
        app.router.add_get("/_sim/calls", self._handle_get_calls)
        app.router.add_get("/_sim/state", self._handle_get_state)
        app.router.add_post("/_sim/faults", self._handle_post_faults)
        app.router.add_post("/_sim/faults/clear", self._handle_clear_faults)
        app.on_startup.append(self._on_startup)
        app.on_shutdown.append(self._on_shutdown)
        return app

    async def _on_startup(self, app: web.Application) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()

    async def _on_shutdown(self, app: web.Application) -> None:
        await self._close_sockets()

    async def start(self, host: str = "127.0.0.1", port: int = 0, *, app: web.Application | None = None) -> str:
        """Serve on host:port (0 = any free port); returns the base URL.

        ``app``: an application from ``make_app()`` that was extended with more routes
        (e.g. a sandbox UI); by default a fresh ``make_app()``."""
        app = app if app is not None else self.make_app()
        self._runner = web.AppRunner(app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        real_port = self._runner.addresses[0][1]
        self.base_url = f"http://{host}:{real_port}"
        return self.base_url

    def attach(self, base_url: str) -> None:
        """Tell the stand-in its public base URL when ``make_app()`` is served elsewhere
        (e.g. by ``aiohttp_server``)."""
        self.base_url = base_url.rstrip("/")

    async def stop(self) -> None:
        await self._close_sockets()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        for fut in self._pending_acks.values():
            if not fut.done():
                fut.cancel()
        self._pending_acks.clear()

    async def __aenter__(self) -> "SlackStandIn":
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()

    async def _close_sockets(self) -> None:
        socks, self._sockets = self._sockets, []
        for ws in socks:
            try:
                await asyncio.wait_for(ws.close(code=aiohttp.WSCloseCode.GOING_AWAY), 2)
            except Exception:  # pragma: no cover - best effort
                pass

    @property
    def api_url(self) -> str:
        return f"{self._base()}/api/"

    def _base(self) -> str:
        if not self.base_url:
            raise RuntimeError("SlackStandIn is not started (call start() or attach(base_url))")
        return self.base_url

    # ------------------------------------------------------------------ #
    # Change notification
    # ------------------------------------------------------------------ #

    def subscribe(self) -> asyncio.Queue:
        """A queue receiving an event dict on every state change ({"type": ..., ...})."""
        q: asyncio.Queue = asyncio.Queue()
        self._subscribers.append(q)
        return q

    def unsubscribe(self, q: asyncio.Queue) -> None:
        if q in self._subscribers:
            self._subscribers.remove(q)

    def _emit(self, type_: str, **data: Any) -> None:
        self.version += 1
        event = {"type": type_, "version": self.version, **data}
        for q in list(self._subscribers):
            q.put_nowait(event)

    async def wait_for(self, predicate: Callable[["SlackStandIn"], Any], timeout: float = 10.0) -> Any:
        """Wait until ``predicate(self)`` is truthy (re-checked on every change and every 50 ms)."""
        q = self.subscribe()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while True:
                value = predicate(self)
                if inspect.isawaitable(value):
                    value = await value
                if value:
                    return value
                remaining = deadline - loop.time()
                if remaining <= 0:
                    desc = getattr(predicate, "__name__", repr(predicate))
                    recent = ", ".join(f"{c.method}({'ok' if c.ok else c.error})" for c in self.calls[-10:])
                    raise TimeoutError(
                        f"SlackStandIn.wait_for: condition {desc} not met within {timeout}s; "
                        f"last value={value!r}; last calls: [{recent}]"
                    )
                try:
                    await asyncio.wait_for(q.get(), min(0.05, remaining))
                except asyncio.TimeoutError:
                    pass
        finally:
            self.unsubscribe(q)

    # ------------------------------------------------------------------ #
    # Queries
    # ------------------------------------------------------------------ #

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def channel(self, channel: str) -> Channel:
        ch = self._resolve_channel(channel)
        if ch is None:
            raise KeyError(f"unknown channel {channel!r}")
        return ch

    def messages(self, channel: str, *, top_level: bool = False, thread_ts: str | None = None) -> list[Message]:
        """Messages of a channel (id, name or DM user id) in posted order.

        By default includes thread replies; ``top_level=True`` drops them;
        ``thread_ts=`` gives a thread (parent first)."""
        ch = self._resolve_channel(channel)
        if ch is None:
            return []
        msgs = list(ch.messages)
        if thread_ts is not None:
            return [m for m in msgs if m.ts == thread_ts or m.thread_ts == thread_ts]
        if top_level:
            return [m for m in msgs if not m.is_reply or m.reply_broadcast]
        return msgs

    def message(self, channel: str, ts: str) -> Message | None:
        ch = self._resolve_channel(channel)
        return None if ch is None else self._find_message(ch, ts)

    def ephemerals(self, channel: str | None = None, user: str | None = None) -> list[Ephemeral]:
        out = []
        for ch in self.channels.values():
            if channel is not None and ch.id != channel:
                continue
            out.extend(e for e in ch.ephemerals if not e.deleted and (user is None or e.user == user))
        return out

    def responses(self, response_url: str | None = None) -> list[dict]:
        """Bodies the app POSTed to ``response_url`` (all response_urls if None)."""
        return [p.body for p in self.response_posts if response_url is None or p.response_url == response_url]

    def open_views(self, user: str | None = None) -> list[View]:
        """Modals currently open (oldest first)."""
        return [v for v in self.views.values()
                if v.type == "modal" and not v.closed and (user is None or v.user == user)]

    def home(self, user: str = SANDBOX_USER_ID) -> View | None:
        return self.homes.get(user)

    def dm_channel_id(self, user: str) -> str:
        """The DM channel id between the bot and ``user`` (created on demand)."""
        return self._open_dm(user).id

    def snapshot(self) -> dict:
        """JSON-able view of the whole state (also served at GET /_sim/state)."""
        return {
            "team": {"id": self.team_id, "domain": self.team_domain, "name": TEAM_NAME},
            "bot": {"user_id": self.bot_user_id, "bot_id": self.bot_id, "app_id": self.app_id},
            "version": self.version,
            "users": {u.id: u.to_dict() for u in self.users.values()},
            "usergroups": self.usergroups,
            "channels": {c.id: c.to_dict() for c in self.channels.values()},
            "views": {v.id: v.to_dict() for v in self.views.values()},
            "homes": {u: v.id for u, v in self.homes.items()},
            "responses": [p.to_dict() for p in self.response_posts],
            "socket_connections": len(self._sockets),
        }

    # ------------------------------------------------------------------ #
    # Fault injection
    # ------------------------------------------------------------------ #

    def fail_next(self, status: int, count: int = 1, retry_after: int | None = None,
                  *, method: str | None = None) -> None:
        """Answer the next ``count`` Web API calls (optionally only to ``method``) with ``status``."""
        self._faults.append(_Fault(status, count, None, retry_after, method))

    def fail_for(self, status: int, seconds: float, retry_after: int | None = None,
                 *, method: str | None = None) -> None:
        """Answer every Web API call for ``seconds`` with ``status``."""
        self._faults.append(_Fault(status, None, time.monotonic() + seconds, retry_after, method))

    def clear_faults(self) -> None:
        self._faults.clear()

    def _take_fault(self, method: str) -> _Fault | None:
        now = time.monotonic()
        self._faults = [f for f in self._faults if f.active(now)]
        for f in self._faults:
            if f.method is None or f.method == method:
                if f.remaining is not None:
                    f.remaining -= 1
                return f
        return None

    # ------------------------------------------------------------------ #
    # Web API plumbing
    # ------------------------------------------------------------------ #

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
                    raise ApiError({"blocks": "invalid_blocks_format", "attachments": "invalid_attachments",
                                    "metadata": "invalid_metadata_format", "view": "invalid_arguments"}[key]) from None
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
        if fault is not None:
            if fault.status == 429:
                retry_after = fault.retry_after if fault.retry_after is not None else 1
                self._record(Call(method, args, False, "ratelimited", at, status=429, token=token))
                return web.json_response({"ok": False, "error": "ratelimited"}, status=429,
                                         headers={"Retry-After": str(retry_after)})
            error = ERROR_NAMES.get(fault.status, f"http_{fault.status}")
            self._record(Call(method, args, False, error, at, status=fault.status, token=token))
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else None
            return web.json_response({"ok": False, "error": error}, status=fault.status, headers=headers)

        handler = self._methods.get(method)
        try:
            if handler is None:
                raise ApiError("unknown_method")
            self._check_token(method, token)
            result = handler(args)
            if inspect.isawaitable(result):
                result = await result
            body = {"ok": True, **(result or {})}
            self._record(Call(method, args, True, None, at, token=token, response=body))
            return web.json_response(body)
        except ApiError as e:
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
        if self.app_token is not None and token == self.app_token:
            raise ApiError("not_allowed_token_type")
        raise ApiError("invalid_auth")

    # ------------------------------------------------------------------ #
    # State helpers
    # ------------------------------------------------------------------ #

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

    def add_message(self, channel: str, text: str = "", *, blocks: list | None = None,
                    thread_ts: str | None = None, metadata: dict | None = None,
                    user: str | None = None, bot: bool = True, attachments: list | None = None,
                    reply_broadcast: bool = False, source: str = "api") -> Message:
        """Store a message (no validation) - used by the Web API and by UIs/tests to seed state.

        ``bot=False`` with ``user=...`` stores a human message."""
        ch = self.channel(channel)
        parent: Message | None = None
        if thread_ts:
            parent = self._find_message(ch, thread_ts)
            if parent is not None and parent.is_reply:  # replying to a reply joins its thread
                parent = self._find_message(ch, parent.thread_ts)
        msg = Message(
            ts=self._clock.next(), channel=ch.id, text=text or "", blocks=copy.deepcopy(blocks),
            attachments=copy.deepcopy(attachments),
            thread_ts=(parent.ts if parent else (str(thread_ts) if thread_ts else None)),
            metadata=copy.deepcopy(metadata),
            user=(self.bot_user_id if bot else (user or SANDBOX_USER_ID)),
            bot_id=self.bot_id if bot else None, app_id=self.app_id if bot else None,
            reply_broadcast=reply_broadcast, source=source, team=self.team_id,
            parent_user_id=parent.user if parent else None,
        )
        if parent is not None:
            parent.thread_ts = parent.ts
            parent.replies.append(msg)
        ch.messages.append(msg)
        self._emit("message", channel=ch.id, ts=msg.ts, thread_ts=msg.thread_ts)
        return msg

    def _add_ephemeral(self, ch: Channel, user: str, text: str, blocks: list | None, *,
                       thread_ts: str | None = None, source: str = "api",
                       response_url: str | None = None, attachments: list | None = None) -> Ephemeral:
        eph = Ephemeral(id=self._clock.next(), channel=ch.id, user=user, text=text or "",
                        blocks=copy.deepcopy(blocks), attachments=copy.deepcopy(attachments),
                        thread_ts=thread_ts, source=source, response_url=response_url)
        ch.ephemerals.append(eph)
        self._emit("ephemeral", channel=ch.id, user=user, id=eph.id)
        return eph

    def _update_message(self, msg: Message, *, text: Any = None, blocks: Any = None,
                        attachments: Any = None, metadata: Any = None, count_edit: bool = True) -> None:
        msg.versions.append({"text": msg.text, "blocks": copy.deepcopy(msg.blocks),
                             "metadata": copy.deepcopy(msg.metadata)})
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

    # ------------------------------------------------------------------ #
    # Web API methods
    # ------------------------------------------------------------------ #

    def _api_test(self, args: dict) -> dict:
        return {"args": args}

    def _auth_test(self, args: dict) -> dict:
        return {
            "url": f"{self._base()}/sandbox/",
            "team": TEAM_NAME,
            "user": BOT_USERNAME,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "is_enterprise_install": False,
        }

    def _apps_connections_open(self, args: dict) -> dict:
        ticket = uuid.uuid4().hex
        self._socket_tickets.add(ticket)
        ws_base = self._base().replace("http://", "ws://", 1).replace("https://", "wss://", 1)
        return {"url": f"{ws_base}/_socket?ticket={ticket}&app_id={self.app_id}"}

    def _chat_post_message(self, args: dict) -> dict:
        ch = self._channel_or_error(args.get("channel"))
        validate_message(args)
        thread_ts = str(args["thread_ts"]) if args.get("thread_ts") else None
        if thread_ts and not re.fullmatch(r"\d+\.\d+", thread_ts):
            raise ApiError("invalid_thread_ts")
        if thread_ts and self._find_message(ch, thread_ts) is None:
            # Slack accepts an unknown (well-formed) thread_ts and posts a top-level message
            thread_ts = None
        msg = self.add_message(
            ch.id, args.get("text") or "", blocks=args.get("blocks"), thread_ts=thread_ts,
            metadata=args.get("metadata"), attachments=args.get("attachments"),
            reply_broadcast=bool(thread_ts) and _as_bool(args.get("reply_broadcast", False)),
        )
        return {"channel": ch.id, "ts": msg.ts, "message": msg.to_api(include_metadata=True)}

    def _chat_update(self, args: dict) -> dict:
        ch = self._channel_or_error(args.get("channel"))
        msg = self._find_message(ch, args.get("ts"))
        if msg is None:
            raise ApiError("message_not_found")
        if not msg.is_bot:
            raise ApiError("cant_update_message")
        validate_message(args, require_content=False)
        if args.get("text") is None and args.get("blocks") is None and args.get("attachments") is None:
            raise ApiError("no_text")
        self._update_message(msg, text=args.get("text"), blocks=args.get("blocks"),
                             attachments=args.get("attachments"), metadata=args.get("metadata"))
        return {"channel": ch.id, "ts": msg.ts, "text": msg.text, "message": msg.to_api(include_metadata=True)}

    def _chat_delete(self, args: dict) -> dict:
        ch = self._channel_or_error(args.get("channel"))
        msg = self._find_message(ch, args.get("ts"))
        if msg is None:
            raise ApiError("message_not_found")
        if not msg.is_bot:
            raise ApiError("cant_delete_message")
        self._delete_message(ch, msg)
        return {"channel": ch.id, "ts": msg.ts}

    def _chat_post_ephemeral(self, args: dict) -> dict:
        ch = self._channel_or_error(args.get("channel"))
        user = self._user_or_error(args.get("user"))
        validate_message(args)
        eph = self._add_ephemeral(ch, user.id, args.get("text") or "", args.get("blocks"),
                                  thread_ts=args.get("thread_ts") or None,
                                  attachments=args.get("attachments"))
        return {"message_ts": eph.id}

    def permalink(self, channel: str, ts: str) -> str:
        """The sandbox URL of a message (served by the sandbox UI)."""
        ch = self.channel(channel)
        msg = self._find_message(ch, ts)
        url = f"{self._base()}/sandbox/archives/{ch.id}/p{str(ts).replace('.', '')}"
        if msg is not None and msg.is_reply:
            url += f"?thread_ts={msg.thread_ts}&cid={ch.id}"
        return url

    def _chat_get_permalink(self, args: dict) -> dict:
        ch = self._channel_or_error(args.get("channel"))
        ts = args.get("message_ts")
        if not ts or self._find_message(ch, ts) is None:
            raise ApiError("message_not_found")
        return {"channel": ch.id, "permalink": self.permalink(ch.id, ts)}

    # -- views --------------------------------------------------------------

    def _new_view(self, view: dict, vtype: str, user: str, **kw: Any) -> View:
        v = View(id=self._next_id("V"), type=vtype, user=user, view=copy.deepcopy(view),
                 hash=uuid.uuid4().hex[:16], external_id=view.get("external_id") or None,
                 team=self.team_id, **kw)
        self.views[v.id] = v
        return v

    def _take_trigger(self, args: dict) -> str:
        trigger = args.get("trigger_id")
        if not trigger:
            raise ApiError("invalid_arguments",
                           response_metadata={"messages": ["[ERROR] missing required field: trigger_id"]})
        user = self._triggers.pop(str(trigger), None)
        if user is None:
            raise ApiError("invalid_trigger_id" if not str(trigger).startswith("exp") else "expired_trigger_id")
        return user

    def _views_open(self, args: dict) -> dict:
        view = args.get("view")
        validate_view(view)
        if view.get("type") != "modal":
            raise ApiError("invalid_arguments", response_metadata={"messages": ["[ERROR] views.open needs a modal"]})
        user = self._take_trigger(args)
        v = self._new_view(view, "modal", user)
        self._emit("view_opened", view_id=v.id, user=user)
        return {"view": v.to_api()}

    def _views_push(self, args: dict) -> dict:
        view = args.get("view")
        validate_view(view)
        user = self._take_trigger(args)
        stack = self.open_views(user)
        if not stack:
            raise ApiError("not_found")
        if len(stack) >= 3:
            raise ApiError("push_limit_reached")
        v = self._new_view(view, "modal", user, root_view_id=stack[0].id, previous_view_id=stack[-1].id)
        self._emit("view_opened", view_id=v.id, user=user)
        return {"view": v.to_api()}

    def _find_view(self, view_id: Any = None, external_id: Any = None) -> View:
        if view_id:
            v = self.views.get(str(view_id))
        elif external_id:
            v = next((x for x in reversed(list(self.views.values())) if x.external_id == str(external_id)), None)
        else:
            raise ApiError("invalid_arguments",
                           response_metadata={"messages": ["[ERROR] view_id or external_id is required"]})
        if v is None:
            raise ApiError("not_found")
        return v

    def _replace_view(self, v: View, view: dict) -> None:
        v.view = copy.deepcopy(view)
        if view.get("external_id"):
            v.external_id = view["external_id"]
        v.hash = uuid.uuid4().hex[:16]
        v.updates += 1
        v.errors = None
        self._emit("view_updated", view_id=v.id, user=v.user)

    def _views_update(self, args: dict) -> dict:
        view = args.get("view")
        validate_view(view)
        v = self._find_view(args.get("view_id"), args.get("external_id"))
        if args.get("hash") and args["hash"] != v.hash:
            raise ApiError("hash_conflict")
        self._replace_view(v, view)
        return {"view": v.to_api()}

    def _views_publish(self, args: dict) -> dict:
        view = args.get("view")
        user = self._user_or_error(args.get("user_id"))
        validate_view(view)
        if view.get("type") != "home":
            raise ApiError("invalid_arguments", response_metadata={"messages": ["[ERROR] views.publish needs a home view"]})
        v = self.homes.get(user.id)
        if v is not None:
            if args.get("hash") and args["hash"] != v.hash:
                raise ApiError("hash_conflict")
            self._replace_view(v, view)
        else:
            v = self._new_view(view, "home", user.id)
            self.homes[user.id] = v
            self._emit("home_published", view_id=v.id, user=user.id)
        return {"view": v.to_api()}

    # -- users / groups / conversations ------------------------------------

    def _users_info(self, args: dict) -> dict:
        return {"user": self._user_or_error(args.get("user")).to_api()}

    def _users_list(self, args: dict) -> dict:
        return {"members": [u.to_api() for u in self.users.values()], "response_metadata": {"next_cursor": ""}}

    def _usergroups_list(self, args: dict) -> dict:
        groups = []
        for gid, members in self.usergroups.items():
            handle = gid[2:].lower() if gid.startswith("S0") else gid.lower()
            g = {"id": gid, "team_id": self.team_id, "name": handle, "handle": handle, "is_usergroup": True,
                 "user_count": len(members)}
            if _as_bool(args.get("include_users", False)):
                g["users"] = list(members)
            groups.append(g)
        return {"usergroups": groups}

    def _usergroups_users_list(self, args: dict) -> dict:
        gid = args.get("usergroup")
        if not gid or str(gid) not in self.usergroups:
            raise ApiError("no_such_subteam")
        return {"users": list(self.usergroups[str(gid)])}

    def _conversations_open(self, args: dict) -> dict:
        if args.get("channel"):
            ch = self._channel_or_error(args["channel"])
            return {"channel": {"id": ch.id}}
        users = _as_list(args.get("users"))
        if not users:
            raise ApiError("users_list_not_supplied")
        for u in users:
            self._user_or_error(u)
        if len(users) == 1:
            ch = self._open_dm(users[0])
        else:
            members = sorted(set(users))
            ch = next((c for c in self.channels.values() if c.is_mpim and sorted(c.members) == members), None)
            if ch is None:
                cid = self._next_id("G")
                ch = Channel(id=cid, name="mpdm-" + "--".join(members), is_mpim=True, members=members)
                self.channels[cid] = ch
                self._emit("channel", channel=cid)
        out: dict[str, Any] = {"channel": {"id": ch.id}}
        if _as_bool(args.get("return_im", False)):
            out["channel"] = ch.to_api()
        return out

    def _conversations_info(self, args: dict) -> dict:
        return {"channel": self._channel_or_error(args.get("channel")).to_api()}

    def _conversations_list(self, args: dict) -> dict:
        types = set(_as_list(args.get("types")) or ["public_channel"])
        out = []
        for ch in self.channels.values():
            kind = "im" if ch.is_im else "mpim" if ch.is_mpim else "public_channel"
            if kind in types:
                out.append(ch.to_api())
        return {"channels": out, "response_metadata": {"next_cursor": ""}}

    def _page(self, msgs: list[Message], args: dict, *, newest_first: bool) -> tuple[list[Message], bool, str]:
        oldest = ts_to_float(args.get("oldest")) if args.get("oldest") else None
        latest = ts_to_float(args.get("latest")) if args.get("latest") else None
        inclusive = _as_bool(args.get("inclusive", False))

        def keep(m: Message) -> bool:
            t = ts_to_float(m.ts)
            if oldest is not None and (t < oldest or (t == oldest and not inclusive)):
                return False
            if latest is not None and (t > latest or (t == latest and not inclusive)):
                return False
            return True

        sel = [m for m in msgs if keep(m)]
        if newest_first:
            sel.reverse()
        try:
            limit = int(args.get("limit") or 100)
        except (TypeError, ValueError):
            limit = 100
        limit = max(1, min(limit, 1000))
        try:
            offset = int(args.get("cursor") or 0)
        except (TypeError, ValueError):
            raise ApiError("invalid_cursor") from None
        page = sel[offset:offset + limit]
        has_more = offset + limit < len(sel)
        return page, has_more, (str(offset + limit) if has_more else "")

    def _conversations_history(self, args: dict) -> dict:
        ch = self._channel_or_error(args.get("channel"))
        with_md = _as_bool(args.get("include_all_metadata", False))
        top = [m for m in ch.messages if not m.is_reply or m.reply_broadcast]
        page, has_more, cursor = self._page(top, args, newest_first=True)
        return {
            "messages": [m.to_api(include_metadata=with_md) for m in page],
            "has_more": has_more,
            "pin_count": 0,
            "response_metadata": {"next_cursor": cursor},
        }

    def _conversations_replies(self, args: dict) -> dict:
        ch = self._channel_or_error(args.get("channel"))
        msg = self._find_message(ch, args.get("ts")) if args.get("ts") else None
        if msg is None:
            raise ApiError("thread_not_found")
        parent = self._find_message(ch, msg.thread_ts) if msg.is_reply else msg
        if parent is None:
            raise ApiError("thread_not_found")
        with_md = _as_bool(args.get("include_all_metadata", False))
        page, has_more, cursor = self._page([parent, *parent.replies], args, newest_first=False)
        return {
            "messages": [m.to_api(include_metadata=with_md) for m in page],
            "has_more": has_more,
            "response_metadata": {"next_cursor": cursor},
        }

    # ------------------------------------------------------------------ #
    # /_sim endpoints
    # ------------------------------------------------------------------ #

    async def _handle_get_calls(self, request: web.Request) -> web.Response:
        method = request.query.get("method")
        return web.json_response([c.to_dict() for c in self.calls if method is None or c.method == method])

    async def _handle_get_state(self, request: web.Request) -> web.Response:
        return web.json_response(self.snapshot())

    async def _handle_post_faults(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            status = int(body["status"])
        except (ValueError, KeyError, TypeError):
            return web.json_response({"ok": False, "error": "invalid_fault"}, status=400)
        retry_after = body.get("retry_after")
        retry_after = int(retry_after) if retry_after is not None else None
        if body.get("seconds") is not None:
            self.fail_for(status, float(body["seconds"]), retry_after, method=body.get("method"))
        else:
            self.fail_next(status, int(body.get("count", 1)), retry_after, method=body.get("method"))
        return web.json_response({"ok": True})

    async def _handle_clear_faults(self, request: web.Request) -> web.Response:
        self.clear_faults()
        return web.json_response({"ok": True})

    # ------------------------------------------------------------------ #
    # response_url
    # ------------------------------------------------------------------ #

    def _new_response_url(self, origin: _Origin) -> str:
        rid = uuid.uuid4().hex
        self._origins[rid] = origin
        return f"{self._base()}/_sim/response/{rid}"

    def issue_trigger(self, user: str = SANDBOX_USER_ID) -> str:
        """A fresh trigger_id for ``user`` (what Slack puts in commands/actions; views.open needs one)."""
        return self._new_trigger(user)

    def _new_trigger(self, user: str) -> str:
        trigger = f"{int(time.time())}.{uuid.uuid4().int % 10**12}.{uuid.uuid4().hex}"
        self._triggers[trigger] = user
        return trigger

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
        if origin is None:
            self.response_posts.append(ResponsePost(url, body, time.time(), 404, "expired_url"))
            self._emit("response", response_url=url, ok=False)
            return web.Response(status=404, text="expired_url")
        try:
            self._apply_response(url, origin, body)
        except ApiError as e:
            self.response_posts.append(ResponsePost(url, body, time.time(), 400, e.error))
            self._emit("response", response_url=url, ok=False)
            return web.Response(status=400, text=e.error)
        self.response_posts.append(ResponsePost(url, body, time.time()))
        self._emit("response", response_url=url, ok=True)
        return web.Response(text="ok")

    def _apply_response(self, url: str | None, origin: _Origin, body: dict, *, source: str = "response_url") -> None:
        """Apply a response_url post (or a displayed ack body) to the state."""
        ch = self._resolve_channel(origin.channel) if origin.channel else None
        if _as_bool(body.get("delete_original", False)):
            if ch is not None and origin.message_ts:
                msg = self._find_message(ch, origin.message_ts)
                if msg is not None:
                    self._delete_message(ch, msg)
            elif ch is not None and origin.ephemeral_id:
                for e in ch.ephemerals:
                    if e.id == origin.ephemeral_id:
                        e.deleted = True
                        self._emit("ephemeral_deleted", channel=ch.id, id=e.id)
            return
        validate_message(body)
        if ch is None:
            return
        if _as_bool(body.get("replace_original", False)):
            if origin.message_ts:
                msg = self._find_message(ch, origin.message_ts)
                if msg is not None:
                    self._update_message(msg, text=body.get("text", ""), blocks=body.get("blocks") or [],
                                         attachments=body.get("attachments"), count_edit=False)
                    return
            target = None
            if origin.ephemeral_id:
                target = next((e for e in ch.ephemerals if e.id == origin.ephemeral_id), None)
            elif url is not None:
                target = next((e for e in reversed(ch.ephemerals) if e.response_url == url and not e.deleted), None)
            if target is not None:
                target.text = body.get("text", "") or ""
                target.blocks = copy.deepcopy(body.get("blocks")) or None
                self._emit("ephemeral_changed", channel=ch.id, id=target.id)
                return
        if body.get("response_type") == "in_channel":
            self.add_message(ch.id, body.get("text") or "", blocks=body.get("blocks"),
                             attachments=body.get("attachments"),
                             thread_ts=body.get("thread_ts") or origin.thread_ts, source=source)
        else:
            self._add_ephemeral(ch, origin.user, body.get("text") or "", body.get("blocks"),
                                thread_ts=body.get("thread_ts") or origin.thread_ts, source=source,
                                response_url=url, attachments=body.get("attachments"))

    # ------------------------------------------------------------------ #
    # Socket Mode server side
    # ------------------------------------------------------------------ #

    async def _handle_socket(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket")
        if ticket not in self._socket_tickets:
            return web.Response(status=401, text="invalid ticket")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        self._emit("socket_connected", connections=len(self._sockets))
        await ws.send_json({
            "type": "hello",
            "num_connections": len(self._sockets),
            "debug_info": {"host": "sandbox-socket", "build_number": 1, "approximate_connection_time": 18060},
            "connection_info": {"app_id": self.app_id},
        })
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(msg.data)
                except ValueError:
                    log.warning("socket: non-JSON message from app: %r", msg.data)
                    continue
                env_id = data.get("envelope_id") if isinstance(data, dict) else None
                fut = self._pending_acks.get(env_id) if env_id else None
                if fut is not None and not fut.done():
                    fut.set_result(data)
        finally:
            if ws in self._sockets:
                self._sockets.remove(ws)
            self._emit("socket_disconnected", connections=len(self._sockets))
        return ws

    @property
    def socket_connected(self) -> bool:
        return any(not ws.closed for ws in self._sockets)

    async def wait_for_socket(self, timeout: float = 10.0) -> None:
        await self.wait_for(lambda s: s.socket_connected, timeout=timeout)

    async def disconnect_sockets(self, reason: str = "refresh_requested") -> None:
        """Send Slack's ``disconnect`` message (the app should reconnect) and close."""
        for ws in list(self._sockets):
            if not ws.closed:
                await ws.send_json({"type": "disconnect", "reason": reason,
                                    "debug_info": {"host": "sandbox-socket"}})
        await self._close_sockets()

    async def _send_envelope(self, type_: str, payload: dict) -> tuple[str, dict | None, str | None]:
        ws = next((w for w in reversed(self._sockets) if not w.closed), None)
        if ws is None:
            raise RuntimeError("no Socket Mode connection: start the app's socket mode handler first")
        env_id = str(uuid.uuid4())
        fut = asyncio.get_running_loop().create_future()
        self._pending_acks[env_id] = fut
        try:
            await ws.send_json({"envelope_id": env_id, "type": type_, "payload": payload,
                                "accepts_response_payload": type_ != "events_api", "retry_attempt": 0,
                                "retry_reason": ""})
            try:
                ack = await asyncio.wait_for(fut, self.ack_timeout)
            except asyncio.TimeoutError:
                return env_id, None, "operation_timeout"
            return env_id, ack, None
        finally:
            self._pending_acks.pop(env_id, None)

    # ------------------------------------------------------------------ #
    # Acting as Slack towards the app
    # ------------------------------------------------------------------ #

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
            async with self._session.post(url, data=body.encode("utf-8"),
                                          headers=self.signed_headers(body, content_type),
                                          timeout=aiohttp.ClientTimeout(total=self.ack_timeout)) as resp:
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

    async def _deliver(self, kind: str, payload: dict, via: str, *, form_fields: dict | None = None,
                       response_url: str | None = None, trigger_id: str | None = None) -> InteractionResult:
        """Deliver to the app: HTTP (signed form/JSON POST) or Socket Mode envelope."""
        result = InteractionResult(kind=kind, via=via, payload=payload, response_url=response_url,
                                   trigger_id=trigger_id)
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

    async def send_command(self, text: str, *, user_id: str = SANDBOX_USER_ID, channel_id: str = "C0ALERTS",
                           command: str = "/runs", via: str | None = None) -> CommandResult:
        """Run a slash command as ``user_id`` in ``channel_id``; returns the app's ack.

        An ack body with text/blocks is shown like Slack does (ephemeral, or
        a channel message for ``response_type: in_channel``)."""
        via = self._resolve_via(via)
        ch = self.channel(channel_id)
        user = self.users.get(user_id)
        response_url = self._new_response_url(_Origin("slash_command", ch.id, user_id))
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
        result = await self._deliver("slash_command", dict(fields), via, form_fields=fields,
                                     response_url=response_url, trigger_id=trigger_id)
        if result.ok and isinstance(result.body, dict) and (result.body.get("text") or result.body.get("blocks")):
            try:
                self._apply_response(None, _Origin("slash_command", ch.id, user_id), result.body, source="ack")
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

    async def click(self, message_or_view: Any, action_id: str, *, user_id: str = SANDBOX_USER_ID,
                    value: str | None = None, via: str | None = None) -> ActionResult:
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
        action: dict[str, Any] = {"action_id": action_id, "block_id": block.get("block_id") or uuid.uuid4().hex[:5],
                                  "type": el.get("type"), "action_ts": action_ts}
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
            payload["container"] = {"type": "message", "message_ts": target.ts, "channel_id": ch.id,
                                    "is_ephemeral": is_eph}
            if target.thread_ts:
                payload["container"]["thread_ts"] = target.thread_ts
            payload["channel"] = {"id": ch.id, "name": "directmessage" if ch.is_im else ch.name}
            if not is_eph:
                payload["message"] = target.to_api(include_metadata=True)
            response_url = self._new_response_url(_Origin(
                "block_actions", ch.id, user_id,
                message_ts=None if is_eph else target.ts,
                ephemeral_id=target.id if is_eph else None,
                thread_ts=target.thread_ts))
            payload["response_url"] = response_url
        return await self._deliver("block_actions", payload, via, response_url=response_url, trigger_id=trigger_id)

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
            if not block.get("optional", False) and all(
                    entry.get(k) in (None, "", []) for k in entry if k != "type"):
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

    async def submit_view(self, view_id: str | View, values: dict[str, dict[str, Any]] | None = None, *,
                          user_id: str | None = None, via: str | None = None) -> InteractionResult:
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
            result.view = self._new_view(body["view"], "modal", user_id,
                                         root_view_id=view.root_view_id or view.id, previous_view_id=view.id)
            self._emit("view_opened", view_id=result.view.id, user=user_id)
        elif action == "clear":
            for v in self.open_views(view.user):
                v.closed = True
            self._emit("view_closed", view_id=view.id, user=view.user)
        else:
            view.closed = True
            self._emit("view_closed", view_id=view.id, user=view.user)
        return result

    async def close_view(self, view_id: str | View, *, user_id: str | None = None,
                         via: str | None = None) -> InteractionResult | None:
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
            "authorizations": [{"enterprise_id": None, "team_id": self.team_id, "user_id": self.bot_user_id,
                                "is_bot": True, "is_enterprise_install": False}],
            "is_ext_shared_channel": False,
        }
        return await self._deliver("event", payload, self._resolve_via(via))

    async def post_user_message(self, channel: str, text: str, *, user_id: str = SANDBOX_USER_ID,
                                thread_ts: str | None = None, via: str | None = None,
                                deliver: bool = True) -> tuple[Message, InteractionResult | None]:
        """A human posts a (non-command) message; also delivers a ``message`` event to the app
        when it is reachable (bot_url set or Socket Mode connected) and ``deliver`` is true."""
        msg = self.add_message(channel, text, user=user_id, bot=False, thread_ts=thread_ts, source="user")
        if not deliver or not (self.bot_url or self.socket_connected):
            return msg, None
        ch = self.channel(msg.channel)
        event: dict[str, Any] = {
            "type": "message", "channel": ch.id, "user": user_id, "text": text, "ts": msg.ts,
            "team": self.team_id, "event_ts": msg.ts,
            "channel_type": "im" if ch.is_im else "mpim" if ch.is_mpim else "channel",
        }
        if msg.thread_ts:
            event["thread_ts"] = msg.thread_ts
        return msg, await self.send_event(event, via=via)

    async def open_home(self, user_id: str = SANDBOX_USER_ID, *, via: str | None = None) -> InteractionResult:
        """The user opens the App Home tab (sends app_home_opened)."""
        home = self.homes.get(user_id)
        event: dict[str, Any] = {"type": "app_home_opened", "user": user_id,
                                 "channel": self.dm_channel_id(user_id), "tab": "home"}
        if home is not None:
            event["view"] = home.to_api()
        return await self.send_event(event, via=via)


# Convenience so ``await slack.wait_for(...)`` style helpers can be typed.
Predicate = Callable[[SlackStandIn], Any | Awaitable[Any]]
