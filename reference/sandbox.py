"""The browser sandbox: a Slack-like workspace page served by the Slack stand-in at `/sandbox/`.

The page (plain HTML/CSS/JS under `static/`, no build step) reads the stand-in's state as the sandbox
user sees it (`GET /sandbox/api/state`), hears of every change over Server-Sent Events
(`GET /sandbox/api/events`, fed by the stand-in's `subscribe()`), and acts only through the stand-in's
own Slack side: slash commands, button clicks and modal submissions reach the bot as signed requests,
exactly as Slack sends them. Permalinks (`/sandbox/archives/{channel}/p{ts}`) open the same page on
that message.

    stand_in = SlackStandIn(bot_token=..., signing_secret=...)
    app = stand_in.make_app()
    sandbox.attach(stand_in, app)
    await stand_in.start(app=app)
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from aiohttp import web

from reference.slack import SANDBOX_USER_ID, SlackStandIn
from reference.slack.state import TEAM_NAME, Channel, View

STATIC = Path(__file__).resolve().parent / "static"
MESSAGES_SHOWN = 300  # per channel, newest kept: the page stays light in a demo left running all day
KEEPALIVE_SECONDS = 15.0
# Stand-in events that change nothing the page shows.
SILENT_EVENTS = {"call", "interaction", "response", "socket_connected", "socket_disconnected"}
# The app's slash commands (manifest.yml); Slack answers any other "/word" itself, in its own words.
APP_COMMANDS = ("/runs",)


class Sandbox:
    """The sandbox page's routes over one stand-in, as seen by one user."""

    def __init__(self, stand_in: SlackStandIn, user: str = SANDBOX_USER_ID) -> None:
        self.stand_in = stand_in
        self.user = user
        self._streams: set[asyncio.Queue] = set()

    def routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/sandbox", self._redirect)
        r.add_get("/sandbox/", self._page)
        r.add_get("/sandbox/archives/{channel}", self._page)  # a channel, as the address bar shows it
        r.add_get("/sandbox/archives/{channel}/{ts}", self._page)
        r.add_static("/sandbox/static", STATIC)
        r.add_get("/sandbox/api/state", self._state)
        r.add_get("/sandbox/api/events", self._events)
        r.add_post("/sandbox/api/command", self._command)
        r.add_post("/sandbox/api/message", self._message)
        r.add_post("/sandbox/api/click", self._click)
        r.add_post("/sandbox/api/submit", self._submit)
        r.add_post("/sandbox/api/close", self._close)
        r.add_post("/sandbox/api/home", self._home)
        r.add_post("/sandbox/api/shortcut", self._shortcut)
        app.on_shutdown.append(self._end_streams)

    # -- the page ----------------------------------------------------------

    async def _redirect(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("/sandbox/")

    async def _page(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    def state(self) -> dict[str, Any]:
        """What the sandbox user sees: channels and their DM with the app, messages (with the ephemerals
        shown to them), the modal on top, the App Home."""
        s = self.stand_in
        s.dm_channel_id(self.user)
        channels = [self._channel(ch) for ch in s.channels.values() if self._visible(ch)]
        modals = s.open_views(self.user)
        home = s.home(self.user)
        return {
            "version": s.version,
            "team": {"id": s.team_id, "name": TEAM_NAME, "domain": s.team_domain},
            "me": self.user,
            "bot": {"user_id": s.bot_user_id, "bot_id": s.bot_id, "name": s.users[s.bot_user_id].name},
            "users": {u.id: {"real_name": u.real_name, "name": u.name, "is_bot": u.is_bot} for u in s.users.values()},
            "usergroups": {
                gid: {"handle": gid[2:].lower() if gid.startswith("S0") else gid.lower(), "members": list(members)}
                for gid, members in s.usergroups.items()
            },
            "channels": channels,
            "modal": _view(modals[-1]) if modals else None,
            "home": _view(home) if home is not None else None,
            "connected": bool(s.bot_url or s.socket_connected),
        }

    def _visible(self, ch: Channel) -> bool:
        if ch.is_im:
            return ch.im_user == self.user
        if ch.is_mpim or ch.is_private:
            return self.user in ch.members
        return True

    def _channel(self, ch: Channel) -> dict[str, Any]:
        messages = ch.messages[-MESSAGES_SHOWN:]
        return {
            "id": ch.id,
            "name": ch.name,
            "is_im": ch.is_im,
            "is_app_dm": ch.is_im and ch.im_user == self.user,
            "messages": [_message(m.to_dict()) for m in messages],
            "ephemerals": [e.to_dict() for e in ch.ephemerals if e.user == self.user and not e.deleted],
        }

    # -- live updates --------------------------------------------------------

    async def _events(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        )
        await response.prepare(request)
        queue = self.stand_in.subscribe()
        self._streams.add(queue)
        try:
            await response.write(_sse("version", self.stand_in.version))
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
                except asyncio.TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                if event is None:
                    break
                changed = event.get("type") not in SILENT_EVENTS
                while not queue.empty():  # a burst of changes is one notice
                    more = queue.get_nowait()
                    if more is None:
                        return response
                    changed = changed or more.get("type") not in SILENT_EVENTS
                if changed:
                    await response.write(_sse("version", self.stand_in.version))
        except ConnectionError:  # the page went away
            pass
        finally:
            self._streams.discard(queue)
            self.stand_in.unsubscribe(queue)
        return response

    async def _end_streams(self, app: web.Application) -> None:
        for queue in list(self._streams):
            queue.put_nowait(None)

    # -- acting as the sandbox user (through the stand-in's Slack side) ----

    async def _command(self, request: web.Request) -> web.Response:
        body = await _json(request)
        line = str(body.get("text") or "").strip()
        command, _, text = line.partition(" ")
        if not command.startswith("/") or len(command) < 2:
            return _error(400, "not_a_command", "A slash command starts with / (try /runs help)")
        channel = str(body.get("channel") or "C0ALERTS")
        if command == "/invite":  # Slack's own command: `/invite @runbot` adds the bot to this channel
            return await self._invite(channel, text.strip())
        if command not in APP_COMMANDS:
            return _error(
                404,
                "invalid_command",
                f'{command} is not a valid command. In Slack, all messages that start with the "/" character '
                "are interpreted as commands.",
            )
        if not self._reachable():
            return _error(503, "app_unreachable", "runbot is not connected yet")
        result = await self.stand_in.send_command(text.strip(), user_id=self.user, channel_id=channel, command=command)
        return _outcome(result)

    async def _invite(self, channel: str, who: str) -> web.Response:
        s = self.stand_in
        if who.lstrip("@") not in (s.users[s.bot_user_id].name, s.bot_user_id):
            return _error(400, "not_the_app", "The sandbox invites only the app: /invite @runbot")
        if s._resolve_channel(channel) is None:
            return _error(404, "channel_not_found", "No such channel")
        await s.invite(channel, inviter=self.user)
        return web.json_response({"ok": True})

    async def _message(self, request: web.Request) -> web.Response:
        body = await _json(request)
        text = str(body.get("text") or "").strip()
        if not text:
            return _error(400, "no_text", "Nothing to send")
        await self.stand_in.post_user_message(
            str(body.get("channel") or "C0GENERAL"), text, user_id=self.user, thread_ts=body.get("thread_ts") or None
        )
        return web.json_response({"ok": True})

    async def _click(self, request: web.Request) -> web.Response:
        body = await _json(request)
        if body.get("view_id"):
            target: Any = str(body["view_id"])
        elif body.get("ephemeral_id"):
            target = str(body["ephemeral_id"])
        else:
            target = (str(body.get("channel")), str(body.get("ts")))
        value = body.get("value")
        try:
            result = await self.stand_in.click(
                target, str(body.get("action_id") or ""), user_id=self.user, value=None if value is None else str(value)
            )
        except (LookupError, ValueError) as exc:
            return _error(404, "not_found", str(exc))
        return _outcome(result)

    async def _submit(self, request: web.Request) -> web.Response:
        body = await _json(request)
        values = body.get("values") or {}
        try:
            result = await self.stand_in.submit_view(str(body.get("view_id")), values, user_id=self.user)
        except (LookupError, ValueError) as exc:
            return _error(400, "invalid_submission", str(exc))
        return _outcome(result, errors=result.view.errors if result.ok and result.view is not None else None)

    async def _close(self, request: web.Request) -> web.Response:
        body = await _json(request)
        try:
            result = await self.stand_in.close_view(str(body.get("view_id")), user_id=self.user)
        except LookupError as exc:
            return _error(404, "not_found", str(exc))
        return _outcome(result) if result is not None else web.json_response({"ok": True})

    async def _home(self, request: web.Request) -> web.Response:
        if not self._reachable():
            return _error(503, "app_unreachable", "runbot is not connected yet")
        return _outcome(await self.stand_in.open_home(self.user))

    async def _shortcut(self, request: web.Request) -> web.Response:
        """A global shortcut (`callback_id` alone) or a message shortcut (with the message's `channel` and `ts`)."""
        body = await _json(request)
        if not self._reachable():
            return _error(503, "app_unreachable", "runbot is not connected yet")
        callback_id = str(body.get("callback_id") or "")
        try:
            if body.get("ts"):
                target = (str(body.get("channel")), str(body["ts"]))
                result = await self.stand_in.message_shortcut(target, callback_id, user_id=self.user)
            else:
                result = await self.stand_in.global_shortcut(callback_id, user_id=self.user)
        except (LookupError, ValueError) as exc:
            return _error(404, "not_found", str(exc))
        return _outcome(result)

    def _reachable(self) -> bool:
        return bool(self.stand_in.bot_url or self.stand_in.socket_connected)

    async def _state(self, request: web.Request) -> web.Response:
        return web.json_response(self.state(), headers={"Cache-Control": "no-store"})


SANDBOX = web.AppKey("sandbox", Sandbox)


def attach(stand_in: SlackStandIn, app: web.Application, *, user: str = SANDBOX_USER_ID) -> Sandbox:
    """Serve the sandbox page from `app` (an application from `stand_in.make_app()`)."""
    sandbox = Sandbox(stand_in, user)
    sandbox.routes(app)
    app[SANDBOX] = sandbox
    return sandbox


def _message(d: dict) -> dict:
    d.pop("metadata", None)
    return d


def _view(view: View) -> dict[str, Any]:
    return {
        "id": view.id,
        "type": view.type,
        "hash": view.hash,
        "title": view.view.get("title"),
        "submit": view.view.get("submit"),
        "close": view.view.get("close"),
        "blocks": view.blocks,
        "errors": view.errors or {},
        "callback_id": view.callback_id,
    }


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


async def _json(request: web.Request) -> dict:
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"ok": False, "error": code, "message": message}, status=status)


def _outcome(result, **extra: Any) -> web.Response:
    """The app's answer as the page shows it: Slack's own wording when the app failed to acknowledge."""
    if result.ok:
        return web.json_response({"ok": True, **{k: v for k, v in extra.items() if v}})
    if result.error == "operation_timeout":
        message = "runbot did not respond in time (operation_timeout)"
    elif result.error:
        message = f"runbot could not be reached ({result.error})"
    else:
        message = f"runbot responded with HTTP status {result.status}"
    return web.json_response({"ok": False, "error": result.error or f"http_{result.status}", "message": message})
