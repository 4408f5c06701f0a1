"""The Web API methods the bot calls: chat.*, views.*, users.*, usergroups.*, conversations.*."""

from __future__ import annotations

import copy
import re
import uuid
from typing import Any

from reference.slack.blocks import MAX_TEXT, ApiError, validate_message, validate_view
from reference.slack.state import BOT_USERNAME, TEAM_NAME, Channel, Message, View, ts_to_float
from reference.slack.web_api import as_bool, as_list

UPDATE_TEXT_MAX = 4_000


class WebApiMethods:
    """Part of ``SlackStandIn``: one method per Web API method."""

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
        if ch.is_archived:
            raise ApiError("is_archived")
        if isinstance(args.get("text"), str) and len(args["text"]) > MAX_TEXT:
            # chat.postMessage: "messages containing more than 40,000 characters are truncated", not refused
            args = {**args, "text": args["text"][:MAX_TEXT]}
        validate_message(args)
        thread_ts = str(args["thread_ts"]) if args.get("thread_ts") else None
        if thread_ts and not re.fullmatch(r"\d+\.\d+", thread_ts):
            raise ApiError("invalid_thread_ts")
        if thread_ts and self._find_message(ch, thread_ts) is None:
            # Slack accepts an unknown (well-formed) thread_ts and posts a top-level message
            thread_ts = None
        msg = self.add_message(
            ch.id,
            args.get("text") or "",
            blocks=args.get("blocks"),
            thread_ts=thread_ts,
            metadata=args.get("metadata"),
            attachments=args.get("attachments"),
            reply_broadcast=bool(thread_ts) and as_bool(args.get("reply_broadcast", False)),
        )
        return {"channel": ch.id, "ts": msg.ts, "message": msg.to_api(include_metadata=True)}

    def _chat_update(self, args: dict) -> dict:
        ch = self._channel_or_error(args.get("channel"))
        msg = self._find_message(ch, args.get("ts"))
        if msg is None:
            raise ApiError("message_not_found")
        if not msg.is_bot:
            raise ApiError("cant_update_message")
        if args.get("text") is not None and len(str(args["text"])) > UPDATE_TEXT_MAX:
            raise ApiError("msg_too_long")  # chat.update: text over 4,000 characters is refused
        validate_message(args, require_content=False)
        if args.get("text") is None and args.get("blocks") is None and args.get("attachments") is None:
            raise ApiError("no_text")
        self._update_message(
            msg,
            text=args.get("text"),
            blocks=args.get("blocks"),
            attachments=args.get("attachments"),
            metadata=args.get("metadata"),
        )
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
        eph = self._add_ephemeral(
            ch,
            user.id,
            args.get("text") or "",
            args.get("blocks"),
            thread_ts=args.get("thread_ts") or None,
            attachments=args.get("attachments"),
        )
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
        v = View(
            id=self._next_id("V"),
            type=vtype,
            user=user,
            view=copy.deepcopy(view),
            hash=uuid.uuid4().hex[:16],
            external_id=view.get("external_id") or None,
            team=self.team_id,
            **kw,
        )
        self.views[v.id] = v
        return v

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
            raise ApiError(
                "invalid_arguments", response_metadata={"messages": ["[ERROR] view_id or external_id is required"]}
            )
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
            raise ApiError(
                "invalid_arguments", response_metadata={"messages": ["[ERROR] views.publish needs a home view"]}
            )
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
            g = {
                "id": gid,
                "team_id": self.team_id,
                "name": handle,
                "handle": handle,
                "is_usergroup": True,
                "user_count": len(members),
            }
            if as_bool(args.get("include_users", False)):
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
        users = as_list(args.get("users"))
        if not users:
            raise ApiError("users_list_not_supplied")
        for u in users:
            self._user_or_error(u)
        if len(users) == 1:
            ch = self._open_dm(users[0])
        else:
            members = sorted(set(users))
            ch = next(
                (
                    c
                    for c in self.channels.values()
                    if c.is_mpim and sorted(set(c.members) - {self.bot_user_id}) == members
                ),
                None,
            )
            if ch is None:
                cid = self._next_id("G")
                ch = Channel(
                    id=cid, name="mpdm-" + "--".join(members), is_mpim=True, members=[*members, self.bot_user_id]
                )
                self.channels[cid] = ch
                self._emit("channel", channel=cid)
        out: dict[str, Any] = {"channel": {"id": ch.id}}
        if as_bool(args.get("return_im", False)):
            out["channel"] = ch.to_api()
        return out

    def _conversations_info(self, args: dict) -> dict:
        return {"channel": self._channel_or_error(args.get("channel")).to_api()}

    def _conversations_list(self, args: dict) -> dict:
        types = set(as_list(args.get("types")) or ["public_channel"])
        out = []
        for ch in self.channels.values():
            kind = (
                "im" if ch.is_im else "mpim" if ch.is_mpim else "private_channel" if ch.is_private else "public_channel"
            )
            if kind != "public_channel" and self.bot_user_id not in ch.members:
                continue  # conversations.list: private conversations the bot is not in are not listed
            if kind in types:
                out.append(ch.to_api())
        return {"channels": out, "response_metadata": {"next_cursor": ""}}

    def _users_conversations(self, args: dict) -> dict:
        """The conversations a user is in (the bot's own when no `user`), of the given types."""
        user = self._user_or_error(args["user"]).id if args.get("user") else self.bot_user_id
        types = set(as_list(args.get("types")) or ["public_channel"])
        out = []
        for ch in self.channels.values():
            kind = "im" if ch.is_im else "mpim" if ch.is_mpim else "public_channel"
            if kind in types and user in ch.members:
                out.append(ch.to_api())
        return {"channels": out, "response_metadata": {"next_cursor": ""}}

    def _page(self, msgs: list[Message], args: dict, *, newest_first: bool) -> tuple[list[Message], bool, str]:
        oldest = ts_to_float(args.get("oldest")) if args.get("oldest") else None
        latest = ts_to_float(args.get("latest")) if args.get("latest") else None
        inclusive = as_bool(args.get("inclusive", False))

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
        page = sel[offset : offset + limit]
        has_more = offset + limit < len(sel)
        return page, has_more, (str(offset + limit) if has_more else "")

    def _conversations_history(self, args: dict) -> dict:
        ch = self._channel_or_error(args.get("channel"))
        with_md = as_bool(args.get("include_all_metadata", False))
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
        with_md = as_bool(args.get("include_all_metadata", False))
        page, has_more, cursor = self._page([parent, *parent.replies], args, newest_first=False)
        return {
            "messages": [m.to_api(include_metadata=with_md) for m in page],
            "has_more": has_more,
            "response_metadata": {"next_cursor": cursor},
        }
