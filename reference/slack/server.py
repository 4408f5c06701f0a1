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

State lives in plain dataclasses (``reference.slack.state``); every change is
announced to subscribers (``subscribe()`` queues) and bumps ``version``.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any, Awaitable, Callable

import aiohttp
from aiohttp import web
from slack_sdk.signature import SignatureVerifier

from reference.slack.faults import Fault, Faults
from reference.slack.interactions import Interactions
from reference.slack.membership import Membership
from reference.slack.methods import WebApiMethods
from reference.slack.modals import Modals
from reference.slack.rates import Cell, RateLimits, RateRules
from reference.slack.responses import Origin, Responses
from reference.slack.shortcuts import Shortcuts
from reference.slack.socket_mode import SocketMode
from reference.slack.state import (
    APP_ID,
    BOT_ID,
    BOT_SCOPES,
    BOT_USER_ID,
    BOT_USERNAME,
    DEFAULT_CHANNELS,
    DEFAULT_USERGROUPS,
    DEFAULT_USERS,
    SANDBOX_USER_ID,
    TEAM_DOMAIN,
    TEAM_NAME,
    Call,
    Channel,
    Ephemeral,
    InteractionResult,
    Message,
    ResponsePost,
    TsClock,
    User,
    View,
)
from reference.slack.unfurls import Unfurls
from reference.slack.web_api import WebApi


class SlackStandIn(
    WebApi,
    WebApiMethods,
    Membership,
    Faults,
    RateLimits,
    Responses,
    SocketMode,
    Interactions,
    Modals,
    Unfurls,
    Shortcuts,
):
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
        trigger_seconds: float = 3.0,
        response_url_seconds: float = 1800.0,
        response_url_uses: int = 5,
        event_retry_delays: tuple[float, ...] = (0.0, 60.0, 300.0),
        rates: RateRules | None = None,
        scopes: list[str] | None = None,
    ) -> None:
        """``scopes``: the bot token's scopes (default: those of the project's manifest.yml)."""
        self.ack_timeout = ack_timeout
        # Slack's clocks (a test may scale one so it runs in seconds; no rule is ever switched off):
        # a trigger_id works once within 3 s of the request that carried it (views.open: expired_trigger_id);
        self.trigger_seconds = trigger_seconds
        # a response_url takes 5 posts within 30 minutes (then 404 used_url / expired_url);
        self.response_url_seconds = response_url_seconds
        self.response_url_uses = response_url_uses
        # an event not acknowledged 2xx in time is redelivered "nearly immediately, then after 1 minute, then
        # after 5 minutes" (Events API: x-slack-retry-num / x-slack-retry-reason; Socket Mode: retry_attempt).
        self.event_retry_delays = tuple(event_retry_delays)
        self.rates = rates or RateRules()  # Slack's posting limits; tests may scale their clock (rates.py)
        # the token's scopes: the manifest's unless given (a test may take one away to see `runbot check` notice)
        self.scopes: list[str] = list(scopes) if scopes is not None else list(BOT_SCOPES)
        self._revoked_tokens: set[str] = set()
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
        self.users.setdefault(
            BOT_USER_ID,
            User(id=BOT_USER_ID, real_name="runbot", name=BOT_USERNAME, is_bot=True, team_id=team_id, email=""),
        )
        self.usergroups: dict[str, list[str]] = {
            k: list(v) for k, v in (DEFAULT_USERGROUPS if usergroups is None else usergroups).items()
        }
        self.channels: dict[str, Channel] = {}
        for cid, name in (DEFAULT_CHANNELS if channels is None else channels).items():
            self.channels[cid] = Channel(id=cid, name=name, members=list(self.users))

        self.unfurl_domains: list[str] = []  # the app's manifest `unfurl_domains` (set_unfurl_domains)
        self._shared_links: dict[tuple[str, str], list[str]] = {}  # (channel, ts) -> links sent in link_shared
        self.views: dict[str, View] = {}  # all modals and homes by id
        self.homes: dict[str, View] = {}  # user id -> App Home view
        self.calls: list[Call] = []
        self.response_posts: list[ResponsePost] = []
        self.interactions: list[InteractionResult] = []
        self.version = 0

        self._clock = TsClock()
        self._seq = 0
        self._faults: list[Fault] = []
        self._cells: dict[tuple, Cell] = {}
        self.throttled: list[Call] = []  # calls answered 429 by a rate limit
        self._subscribers: list[asyncio.Queue] = []
        self._origins: dict[str, Origin] = {}  # response_url id -> origin
        self._triggers: dict[str, tuple[str, float]] = {}  # trigger_id -> (user id, monotonic time issued)
        self._exchanged: set[str] = set()  # trigger ids already used
        self._redeliveries: set[asyncio.Task] = set()
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
            "chat.unfurl": self._chat_unfurl,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "users.info": self._users_info,
            "users.list": self._users_list,
            "users.conversations": self._users_conversations,
            "usergroups.list": self._usergroups_list,
            "usergroups.users.list": self._usergroups_users_list,
            "conversations.open": self._conversations_open,
            "conversations.info": self._conversations_info,
            "conversations.list": self._conversations_list,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "conversations.join": self._conversations_join,
            "conversations.members": self._conversations_members,
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
        self.add_membership_routes(app)
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
        for task in list(self._redeliveries):
            task.cancel()
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
        return [
            v for v in self.views.values() if v.type == "modal" and not v.closed and (user is None or v.user == user)
        ]

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


# Convenience so ``await slack.wait_for(...)`` style helpers can be typed.
Predicate = Callable[[SlackStandIn], Any | Awaitable[Any]]
