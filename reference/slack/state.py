"""State model of the Slack stand-in (see ``reference.slack``).

Plain dataclasses only, so a UI (or a test) can read them directly; every
object has a ``to_dict()`` that yields a JSON-serialisable snapshot.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

# --------------------------------------------------------------------------- #
# Default identities
# --------------------------------------------------------------------------- #

TEAM_DOMAIN = "runbot-sandbox"
TEAM_NAME = "Runbot Sandbox"
BOT_USER_ID = "U0RUNBOT"
BOT_ID = "B0RUNBOT"
BOT_USERNAME = "runbot"
APP_ID = "A0RUNBOT"
# The bot token's scopes (Slack names them in each Web API answer's X-OAuth-Scopes header): those the app's
# manifest (bot/manifest.yml, read as data) asks for, as if the app were installed from it.
_MANIFEST = yaml.safe_load(resources.files("bot").joinpath("manifest.yml").read_text())
BOT_SCOPES: tuple[str, ...] = tuple(_MANIFEST["oauth_config"]["scopes"]["bot"])
SANDBOX_USER_ID = "U0SANDBOX"

DEFAULT_USERS: dict[str, str] = {
    "U0SANDBOX": "Alex Kim",
    "U0SAMPLE1": "Sam Rivera",
    "U0ANA": "Ana Ruiz",
    "U0BEN": "Ben Okafor",
    "U0CAROL": "Carol Diaz",
}

DEFAULT_USERGROUPS: dict[str, list[str]] = {
    "S0ONCALL": ["U0ANA", "U0BEN"],
    "S0APPROVERS": ["U0CAROL", "U0SANDBOX"],
}

DEFAULT_CHANNELS: dict[str, str] = {
    "C0ALERTS": "run-alerts",
    "C0APPROVALS": "approvals",
    "C0GENERAL": "general",
}


# --------------------------------------------------------------------------- #
# Time stamps
# --------------------------------------------------------------------------- #


class TsClock:
    """Issues Slack message timestamps: ``"<unix seconds>.<6 digits>"``.

    Based on the wall clock (so ``oldest``/``latest`` filters relative to
    "now" behave like Slack), strictly increasing and unique.
    """

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> str:
        micros = int(time.time() * 1_000_000)
        if micros <= self._last:
            micros = self._last + 100
        self._last = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


def ts_to_float(ts: Any) -> float:
    try:
        return float(ts)
    except (TypeError, ValueError):
        return 0.0


# --------------------------------------------------------------------------- #
# Entities
# --------------------------------------------------------------------------- #


@dataclass
class User:
    id: str
    real_name: str
    name: str  # Slack "username", e.g. "alex.kim"
    email: str = ""
    is_bot: bool = False
    tz: str = "UTC"
    team_id: str = "T0SANDBOX"

    @classmethod
    def build(cls, user_id: str, spec: Any, team_id: str) -> "User":
        if isinstance(spec, User):
            return spec
        if isinstance(spec, str):
            spec = {"real_name": spec}
        spec = dict(spec or {})
        real_name = spec.get("real_name") or spec.get("name") or user_id
        username = spec.get("username") or ".".join(real_name.lower().split()) or user_id.lower()
        return cls(
            id=user_id,
            real_name=real_name,
            name=username,
            email=spec.get("email") or f"{username}@sandbox.example",
            is_bot=bool(spec.get("is_bot", False)),
            tz=spec.get("tz", "UTC"),
            team_id=team_id,
        )

    def to_api(self) -> dict:
        """The ``user`` object of ``users.info``."""
        return {
            "id": self.id,
            "team_id": self.team_id,
            "name": self.name,
            "deleted": False,
            "real_name": self.real_name,
            "tz": self.tz,
            "tz_label": self.tz,
            "tz_offset": 0,
            "is_admin": False,
            "is_owner": False,
            "is_bot": self.is_bot,
            "is_app_user": False,
            "profile": {
                "real_name": self.real_name,
                "real_name_normalized": self.real_name,
                "display_name": self.real_name,
                "display_name_normalized": self.real_name,
                "email": self.email,
                "team": self.team_id,
            },
        }

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "real_name": self.real_name,
            "name": self.name,
            "email": self.email,
            "is_bot": self.is_bot,
        }


@dataclass
class Message:
    """A message in a channel (top-level or thread reply)."""

    ts: str
    channel: str
    text: str = ""
    blocks: list | None = None
    attachments: list | None = None
    thread_ts: str | None = None  # set on replies AND on parents that have replies
    metadata: dict | None = None
    user: str | None = None  # author user id (bot messages: the bot user)
    bot_id: str | None = None  # set for bot messages
    app_id: str | None = None
    edited: int = 0  # number of chat.update edits
    edited_ts: str | None = None
    replies: list["Message"] = field(default_factory=list)  # for parents
    reply_broadcast: bool = False
    source: str = "api"  # "api" | "response_url" | "ack" | "user"
    versions: list[dict] = field(default_factory=list)  # previous {text, blocks, metadata}
    team: str = "T0SANDBOX"
    parent_user_id: str | None = None

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    @property
    def is_bot(self) -> bool:
        return self.bot_id is not None

    def to_api(self, *, include_metadata: bool = True) -> dict:
        """The message object as Slack returns it (history, payloads, ...)."""
        d: dict[str, Any] = {"type": "message", "ts": self.ts, "text": self.text, "team": self.team}
        if self.user:
            d["user"] = self.user
        if self.bot_id:
            d["bot_id"] = self.bot_id
            d["app_id"] = self.app_id or APP_ID
            d["bot_profile"] = {
                "id": self.bot_id,
                "app_id": d["app_id"],
                "name": BOT_USERNAME,
                "team_id": self.team,
                "deleted": False,
            }
        if self.blocks is not None:
            d["blocks"] = copy.deepcopy(self.blocks)
        if self.attachments is not None:
            d["attachments"] = copy.deepcopy(self.attachments)
        if self.thread_ts:
            d["thread_ts"] = self.thread_ts
        if self.is_reply and self.parent_user_id:
            d["parent_user_id"] = self.parent_user_id
        if self.reply_broadcast:
            d["subtype"] = "thread_broadcast"
        if self.replies:
            d["reply_count"] = len(self.replies)
            d["reply_users"] = sorted({r.user for r in self.replies if r.user})
            d["reply_users_count"] = len(d["reply_users"])
            d["latest_reply"] = self.replies[-1].ts
        if self.edited:
            d["edited"] = {"user": self.user, "ts": self.edited_ts}
        if include_metadata and self.metadata is not None:
            d["metadata"] = copy.deepcopy(self.metadata)
        return d

    def to_dict(self) -> dict:
        d = self.to_api(include_metadata=True)
        d.update(
            channel=self.channel,
            edited_count=self.edited,
            source=self.source,
            is_reply=self.is_reply,
            replies=[r.ts for r in self.replies],
        )
        return d


@dataclass
class Ephemeral:
    """A message only one user sees (chat.postEphemeral, ephemeral response_url posts, acks)."""

    id: str  # ts-like id
    channel: str
    user: str  # who sees it
    text: str = ""
    blocks: list | None = None
    attachments: list | None = None
    thread_ts: str | None = None
    source: str = "api"  # "api" | "response_url" | "ack"
    response_url: str | None = None  # the response_url that produced it (if any)
    deleted: bool = False

    @property
    def ts(self) -> str:
        return self.id

    def to_api(self) -> dict:
        d: dict[str, Any] = {"type": "message", "ts": self.id, "text": self.text, "bot_id": BOT_ID, "user": BOT_USER_ID}
        if self.blocks is not None:
            d["blocks"] = copy.deepcopy(self.blocks)
        if self.thread_ts:
            d["thread_ts"] = self.thread_ts
        return d

    def to_dict(self) -> dict:
        d = self.to_api()
        d.update(
            channel=self.channel,
            visible_to=self.user,
            source=self.source,
            response_url=self.response_url,
            deleted=self.deleted,
        )
        return d


@dataclass
class Channel:
    id: str
    name: str
    is_im: bool = False
    is_mpim: bool = False
    im_user: str | None = None  # the human of a DM channel
    is_archived: bool = False  # nothing can be posted in an archived channel (chat.postMessage: is_archived)
    members: list[str] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)  # all messages, posted order
    ephemerals: list[Ephemeral] = field(default_factory=list)
    is_private: bool = False  # a private channel (IMs and MPIMs are private too)
    is_archived: bool = False

    def to_api(self, member: str = BOT_USER_ID) -> dict:
        """The ``channel`` object as ``member`` (the bot) sees it: ``is_member`` is real membership."""
        d: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "is_channel": not (self.is_im or self.is_mpim),
            "is_im": self.is_im,
            "is_mpim": self.is_mpim,
            "is_private": self.is_private or self.is_im or self.is_mpim,
            "is_group": self.is_private and not self.is_mpim,
            "is_member": member in self.members,
            "is_archived": self.is_archived,
        }
        if self.is_im:
            d["user"] = self.im_user
            d.pop("name")
        d["is_archived"] = self.is_archived
        return d

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "is_im": self.is_im,
            "is_mpim": self.is_mpim,
            "im_user": self.im_user,
            "is_private": self.is_private,
            "is_archived": self.is_archived,
            "members": list(self.members),
            "messages": [m.to_dict() for m in self.messages],
            "ephemerals": [e.to_dict() for e in self.ephemerals if not e.deleted],
        }


@dataclass
class View:
    """A modal or an App Home tab."""

    id: str
    type: str  # "modal" | "home"
    user: str  # for whom it is shown
    view: dict  # the view definition as last sent by the app (blocks, title, ...)
    hash: str = ""
    external_id: str | None = None
    root_view_id: str | None = None
    previous_view_id: str | None = None
    closed: bool = False
    errors: dict | None = None  # last response_action=errors
    state_values: dict = field(default_factory=dict)  # last submitted state
    updates: int = 0
    team: str = "T0SANDBOX"

    @property
    def blocks(self) -> list:
        return self.view.get("blocks") or []

    @property
    def callback_id(self) -> str:
        return self.view.get("callback_id") or ""

    @property
    def private_metadata(self) -> str:
        return self.view.get("private_metadata") or ""

    @property
    def title(self) -> str:
        t = self.view.get("title")
        return t.get("text", "") if isinstance(t, dict) else (t or "")

    def to_api(self, state_values: dict | None = None) -> dict:
        """The ``view`` object as Slack returns it / includes in payloads."""
        v = self.view
        return {
            "id": self.id,
            "team_id": self.team,
            "type": self.type,
            "blocks": copy.deepcopy(v.get("blocks") or []),
            "private_metadata": v.get("private_metadata", ""),
            "callback_id": v.get("callback_id", ""),
            "state": {"values": copy.deepcopy(state_values if state_values is not None else self.state_values)},
            "hash": self.hash,
            "title": copy.deepcopy(v.get("title")),
            "clear_on_close": bool(v.get("clear_on_close", False)),
            "notify_on_close": bool(v.get("notify_on_close", False)),
            "close": copy.deepcopy(v.get("close")),
            "submit": copy.deepcopy(v.get("submit")),
            "previous_view_id": self.previous_view_id,
            "root_view_id": self.root_view_id or self.id,
            "app_id": APP_ID,
            "external_id": self.external_id or "",
            "app_installed_team_id": self.team,
            "bot_id": BOT_ID,
        }

    def to_dict(self) -> dict:
        d = self.to_api()
        d.update(user=self.user, closed=self.closed, errors=self.errors, updates=self.updates)
        return d


@dataclass
class Call:
    """One Web API call received by the stand-in."""

    method: str
    args: dict
    ok: bool
    error: str | None
    at: float
    status: int = 200
    token: str | None = None
    response: dict | None = None

    def to_dict(self) -> dict:
        return {
            "method": self.method,
            "args": self.args,
            "ok": self.ok,
            "error": self.error,
            "at": self.at,
            "status": self.status,
        }


@dataclass
class ResponsePost:
    """One POST the app made to a response_url."""

    response_url: str
    body: dict
    at: float
    status: int = 200
    error: str | None = None

    def to_dict(self) -> dict:
        return {
            "response_url": self.response_url,
            "body": self.body,
            "at": self.at,
            "status": self.status,
            "error": self.error,
        }


@dataclass
class InteractionResult:
    """What happened when the stand-in delivered a command/action/submission/event to the app."""

    kind: str  # "slash_command" | "block_actions" | "view_submission" | "view_closed" | "event"
    via: str  # "http" | "socket"
    payload: dict  # the payload sent (for HTTP: decoded form fields / JSON payload)
    status: int | None = None  # HTTP status (socket: 200 once acked)
    body: Any = None  # ack body: parsed JSON dict, text, or None when empty
    response_url: str | None = None
    trigger_id: str | None = None
    envelope_id: str | None = None
    ack: dict | None = None  # socket mode: the raw ack envelope
    error: str | None = None  # e.g. "operation_timeout"
    view: "View | None" = None  # view_submission: the view after processing the response_action
    retry_num: int = 0  # events: 0 for the first delivery, n for Slack's n-th redelivery
    retry_reason: str = ""  # events: why Slack delivered it again (http_timeout, http_error, connection_failed)

    @property
    def ok(self) -> bool:
        return self.error is None and self.status == 200


CommandResult = InteractionResult
ActionResult = InteractionResult
