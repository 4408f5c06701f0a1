"""Channel membership and the token's scopes, as Slack enforces them, and the controls that change them.

Every rule is checked before a Web API method runs (``_check_access``) and names the method's documented
error (api.slack.com/methods/<method>):

- scopes: a method the installed token has no scope for answers ``missing_scope`` with ``needed`` and
  ``provided`` (the scopes come from the manifest the app was "installed" with, ``install()``);
- private channels the bot is not in do not exist for it: every method answers ``channel_not_found``;
- public channels the bot is not in: ``chat.postMessage`` works only with ``chat:write.public``, else
  ``not_in_channel``; ``conversations.history``/``replies`` answer ``not_in_channel``;
  ``chat.postEphemeral`` answers ``user_not_in_channel`` when the person is not in the channel;
- archived channels: ``chat.postMessage``/``update``/``delete``/``postEphemeral`` and ``conversations.join``
  answer ``is_archived``;
- ``conversations.join`` joins public channels (scope ``channels:join``), ``channel_not_found`` for a private
  one it cannot see, ``method_not_supported_for_channel_type`` for a DM.

Controls (Python and ``/_sim/...``): ``add_channel``, ``invite`` (sends the bot ``member_joined_channel``),
``kick``, ``archive``, ``unarchive``, ``install`` (a new token and/or scopes, as a reinstall).
"""

from __future__ import annotations

from pathlib import Path

import yaml
from aiohttp import web

from reference.slack.blocks import ApiError
from reference.slack.state import SANDBOX_USER_ID, Channel

MANIFEST = Path(__file__).resolve().parents[2] / "bot" / "manifest.yml"

# method -> scope needed, by conversation type (None: any conversation / no channel argument).
_READ = {"public": "channels:read", "private": "groups:read", "im": "im:read", "mpim": "mpim:read"}
_HISTORY = {"public": "channels:history", "private": "groups:history", "im": "im:history", "mpim": "mpim:history"}
SCOPES: dict[str, str | dict[str, str]] = {
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.delete": "chat:write",
    "chat.postEphemeral": "chat:write",
    "conversations.info": _READ,
    "conversations.members": _READ,
    "conversations.list": "channels:read",
    "conversations.history": _HISTORY,
    "conversations.replies": _HISTORY,
    "conversations.join": "channels:join",
    "conversations.open": "im:write",
    "users.info": "users:read",
    "users.list": "users:read",
    "usergroups.list": "usergroups:read",
    "usergroups.users.list": "usergroups:read",
}
# Methods whose `channel` must be a conversation the bot can see (private: member), and what they need more.
CHANNEL_METHODS = {
    "chat.postMessage",
    "chat.update",
    "chat.delete",
    "chat.postEphemeral",
    "chat.getPermalink",
    "conversations.info",
    "conversations.members",
    "conversations.history",
    "conversations.replies",
    "conversations.join",
}
MEMBER_ONLY = {"conversations.history", "conversations.replies"}  # not_in_channel
WRITES = {"chat.postMessage", "chat.update", "chat.delete", "chat.postEphemeral", "conversations.join"}


def manifest_scopes(path: Path = MANIFEST) -> list[str]:
    """The bot scopes of an app manifest (the project's manifest.yml by default)."""
    data = yaml.safe_load(path.read_text())
    return list(((data.get("oauth_config") or {}).get("scopes") or {}).get("bot") or [])


def kind_of(ch: Channel) -> str:
    if ch.is_im:
        return "im"
    if ch.is_mpim:
        return "mpim"
    return "private" if ch.is_private else "public"


class Membership:
    """Part of ``SlackStandIn``: who is in which channel, the token's scopes, and their controls."""

    def is_member(self, channel: str, user: str | None = None) -> bool:
        ch = self.channel(channel)
        return (user or self.bot_user_id) in ch.members

    def _needed_scope(self, method: str, ch: Channel | None) -> str | None:
        need = SCOPES.get(method)
        if isinstance(need, dict):
            return need[kind_of(ch) if ch is not None else "public"]
        return need

    def _check_access(self, method: str, args: dict) -> None:
        ch = self._resolve_channel(args.get("channel")) if method in CHANNEL_METHODS else None
        # A private channel the bot is not in does not exist for it (every method: channel_not_found).
        if ch is not None and kind_of(ch) != "public" and self.bot_user_id not in ch.members:
            if not (method == "conversations.join" and ch.is_im):
                raise ApiError("channel_not_found")
        needed = self._needed_scope(method, ch)
        if needed and needed not in self.scopes:
            # missing_scope: "The token used is not granted the specific scope permissions required".
            raise ApiError("missing_scope", needed=needed, provided=",".join(self.scopes))
        if ch is None:
            return
        if ch.is_archived and method in WRITES:
            raise ApiError("is_archived")  # chat.postMessage et al.: "Channel has been archived."
        member = self.bot_user_id in ch.members
        if method == "chat.postMessage" and not member and "chat:write.public" not in self.scopes:
            raise ApiError("not_in_channel")  # posting to a public channel needs chat:write.public
        if method in MEMBER_ONLY and not member:
            raise ApiError("not_in_channel")  # conversations.history/replies: the bot must be in the channel
        if method == "chat.postEphemeral" and args.get("user") and str(args["user"]) not in ch.members:
            raise ApiError("user_not_in_channel")  # "Intended recipient is not in the specified channel."

    # -- methods --------------------------------------------------------------

    def _conversations_join(self, args: dict) -> dict:
        ch = self._channel_or_error(args.get("channel"))
        if ch.is_im or ch.is_mpim:
            raise ApiError("method_not_supported_for_channel_type")
        out: dict = {"channel": ch.to_api(self.bot_user_id)}
        if self.bot_user_id in ch.members:
            out["warning"] = "already_in_channel"
            out["response_metadata"] = {"warnings": ["already_in_channel"]}
        else:
            ch.members.append(self.bot_user_id)
            out["channel"] = ch.to_api(self.bot_user_id)
            self._emit("channel", channel=ch.id)
        return out

    def _conversations_members(self, args: dict) -> dict:
        ch = self._channel_or_error(args.get("channel"))
        return {"members": list(ch.members), "response_metadata": {"next_cursor": ""}}

    # -- controls ---------------------------------------------------------------

    def add_channel(
        self,
        channel_id: str,
        name: str,
        *,
        private: bool = False,
        bot_member: bool = False,
        members: list[str] | None = None,
        archived: bool = False,
    ) -> Channel:
        """A new channel; its people are ``members`` (every human by default), the bot only if ``bot_member``."""
        people = list(members) if members is not None else [u for u in self.users if u != self.bot_user_id]
        if bot_member and self.bot_user_id not in people:
            people.append(self.bot_user_id)
        ch = Channel(id=channel_id, name=name, members=people, is_private=private, is_archived=archived)
        self.channels[channel_id] = ch
        self._emit("channel", channel=channel_id)
        return ch

    async def invite(self, channel: str, user: str | None = None, *, inviter: str = SANDBOX_USER_ID) -> None:
        """Someone invites ``user`` (the bot by default) to the channel; the bot hears ``member_joined_channel``."""
        ch = self.channel(channel)
        user = user or self.bot_user_id
        if user in ch.members:
            return
        ch.members.append(user)
        self._emit("channel", channel=ch.id)
        if self.bot_url is not None or self.socket_connected:  # an app that is not running hears nothing
            await self.send_event(
                {
                    "type": "member_joined_channel",
                    "user": user,
                    "channel": ch.id,
                    "channel_type": "C" if kind_of(ch) == "public" else "G",
                    "team": self.team_id,
                    "inviter": inviter,
                }
            )

    def kick(self, channel: str, user: str | None = None) -> None:
        ch = self.channel(channel)
        user = user or self.bot_user_id
        if user in ch.members:
            ch.members.remove(user)
            self._emit("channel", channel=ch.id)

    def archive(self, channel: str, archived: bool = True) -> None:
        self.channel(channel).is_archived = archived
        self._emit("channel", channel=self.channel(channel).id)

    def install(self, *, token: str | None = None, scopes: list[str] | None = None, revoke_old: bool = True) -> None:
        """Install the app again: a new bot token (the old one answers ``token_revoked``) and/or new scopes."""
        if token is not None and token != self.bot_token:
            if revoke_old:
                self._revoked_tokens.add(self.bot_token)
            self._revoked_tokens.discard(token)
            self.bot_token = token
        if scopes is not None:
            self.scopes = list(scopes)
        self._emit("installed")

    # -- /_sim endpoints --------------------------------------------------------

    def add_membership_routes(self, app: web.Application) -> None:
        app.router.add_post("/_sim/channels", self._handle_add_channel)
        app.router.add_post("/_sim/channels/{channel}/{action}", self._handle_channel_action)
        app.router.add_post("/_sim/install", self._handle_install)

    async def _handle_add_channel(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            cid, name = str(body["id"]), str(body["name"])
        except (ValueError, KeyError, TypeError):
            return web.json_response({"ok": False, "error": "invalid_channel: id and name are required"}, status=400)
        ch = self.add_channel(
            cid,
            name,
            private=bool(body.get("private")),
            bot_member=bool(body.get("bot_member")),
            archived=bool(body.get("archived")),
        )
        return web.json_response({"ok": True, "channel": ch.to_api(self.bot_user_id)})

    async def _handle_channel_action(self, request: web.Request) -> web.Response:
        action = request.match_info["action"]
        cid = request.match_info["channel"]
        if self._resolve_channel(cid) is None:
            return web.json_response({"ok": False, "error": "channel_not_found"}, status=404)
        try:
            body = await request.json() if request.can_read_body else {}
        except ValueError:
            body = {}
        user = body.get("user") if isinstance(body, dict) else None
        if action == "invite":
            await self.invite(cid, user)
        elif action == "kick":
            self.kick(cid, user)
        elif action in ("archive", "unarchive"):
            self.archive(cid, action == "archive")
        else:
            return web.json_response({"ok": False, "error": f"unknown action {action}"}, status=404)
        return web.json_response({"ok": True, "channel": self.channel(cid).to_api(self.bot_user_id)})

    async def _handle_install(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return web.json_response({"ok": False, "error": "invalid_install: a JSON object"}, status=400)
        scopes = body.get("scopes")
        if scopes is not None and not (isinstance(scopes, list) and all(isinstance(s, str) for s in scopes)):
            return web.json_response({"ok": False, "error": "invalid_install: scopes is a list of strings"}, status=400)
        token = body.get("token")
        self.install(token=str(token) if token else None, scopes=scopes)
        return web.json_response({"ok": True, "scopes": self.scopes})
