"""The first middleware every Slack request meets: the payload has the shape Slack documents for its kind
(the fields Bolt and our listeners read, with the right types), or it is acknowledged and not acted on.

A signed request can still be malformed (a buggy proxy, a hand-made test, a key that leaked): Bolt itself
reads `actions[0]`, `view.callback_id` and the like to route a request, so a payload must be checked before
any other middleware or listener sees it. This class is a plain `AsyncMiddleware`, not a function
middleware, because Bolt builds a function middleware's arguments from those very fields."""

from __future__ import annotations

import logging

from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.response import BoltResponse

log = logging.getLogger(__name__)

_STR, _DICT, _LIST = (str,), (dict,), (list,)


def _check(body: dict, field: str, types: tuple, *, required: bool = False) -> str | None:
    value = body.get(field)
    if value is None:
        return f"{field} is missing" if required else None
    if not isinstance(value, types) or isinstance(value, bool):
        return f"{field} is {type(value).__name__}, not {types[0].__name__}"
    if types is _STR and len(value) > 1000 and field not in ("text", "value", "private_metadata"):
        return f"{field} is longer than any Slack id or URL"
    return None


def _first(*problems: str | None) -> str | None:
    return next((p for p in problems if p), None)


def _user(body: dict) -> str | None:
    user = body.get("user")
    if not isinstance(user, dict):
        return "user is missing" if user is None else f"user is {type(user).__name__}, not an object"
    return _first(_check(user, "id", _STR, required=True), _check(user, "team_id", _STR))


def _ids(body: dict) -> str | None:
    """Slack's ids (user, team, channel, the message a click came from) are short words, never text."""
    for holder, field in (
        ("user", "id"),
        ("team", "id"),
        ("channel", "id"),
        ("container", "channel_id"),
        ("container", "message_ts"),
        ("container", "view_id"),
    ):
        obj = body.get(holder)
        value = obj.get(field) if isinstance(obj, dict) else None
        if value is not None and (
            not isinstance(value, str) or len(value) > 64 or not value.strip() or any(c.isspace() for c in value)
        ):
            return f"{holder}.{field} is not a Slack id"
    urls = body.get("response_urls", [])
    if not isinstance(urls, list) or not all(isinstance(u, dict) for u in urls):
        return "response_urls is not a list of objects"
    return None


def _common(body: dict, *, trigger: bool = True) -> str | None:
    problem = _ids(body)
    if problem:
        return problem
    team = body.get("team")
    return _first(
        _user(body),
        None if team is None or isinstance(team, dict) else "team is not an object",
        _check(body, "trigger_id", _STR, required=trigger),
        _check(body, "response_url", _STR),
        _check(body, "container", _DICT),
        _check(body, "channel", _DICT),
        _check(body, "state", _DICT),
        _check(body, "message", _DICT),
    )


def _view(body: dict, *, required: bool) -> str | None:
    view = body.get("view")
    if view is None:
        return "view is missing" if required else None
    if not isinstance(view, dict):
        return f"view is {type(view).__name__}, not an object"
    state = view.get("state")
    if state is None and required:
        return "view.state is missing"
    if state is not None:
        values = state.get("values", None if required else {}) if isinstance(state, dict) else None
        # Slack's shape: {"values": {block_id: {action_id: {"type": ..., "value" or "selected_...": ...}}}}
        if not isinstance(values, dict) or not all(
            isinstance(block, dict) and all(isinstance(element, dict) for element in block.values())
            for block in values.values()
        ):
            return "view.state.values is not an object of blocks of elements"
    return _first(
        _check(view, "id", _STR, required=required),
        _check(view, "type", _STR, required=True),
        _check(view, "callback_id", _STR),
        _check(view, "private_metadata", _STR),
        _check(view, "hash", _STR),
    )


def problem_of(body: object) -> str | None:
    """What is wrong with a payload's shape, in words naming the field, or None."""
    if not isinstance(body, dict):
        return "the body is not an object"
    kind = body.get("type")
    if kind is not None and not isinstance(kind, str):
        return "type is not a string"
    if "command" in body:
        return _first(
            *(
                _check(body, f, _STR, required=f in ("command", "user_id"))
                for f in ("command", "text", "user_id", "channel_id", "team_id", "response_url", "trigger_id")
            )
        )
    if kind == "block_actions":
        actions = body.get("actions")
        if not isinstance(actions, list) or not actions:
            return "actions is not a non-empty list"
        for i, action in enumerate(actions):
            if not isinstance(action, dict):
                return f"actions[{i}] is not an object"
            problem = _first(
                _check(action, "action_id", _STR, required=True),
                _check(action, "block_id", _STR),
                _check(action, "value", _STR),
                _check(action, "selected_option", _DICT),
            )
            if problem:
                return f"actions[{i}].{problem}"
        return _first(_common(body), _view(body, required=False))
    if kind in ("view_submission", "view_closed"):
        return _first(_common(body, trigger=kind == "view_submission"), _view(body, required=True))
    if kind in ("shortcut", "message_action"):
        return _first(_common(body), _check(body, "callback_id", _STR, required=True))
    if kind == "block_suggestion":
        return _first(
            _common(body, trigger=False), _check(body, "action_id", _STR, required=True), _check(body, "value", _STR)
        )
    if kind == "event_callback":
        event = body.get("event")
        if not isinstance(event, dict):
            return "event is not an object"
        return _first(
            _check(body, "event_id", _STR),
            _check(event, "type", _STR, required=True),
            _check(event, "user", (str, dict)),
            _check(event, "channel", _STR),
            _check(event, "tab", _STR),
        )
    return None


class PayloadShape(AsyncMiddleware):
    def __init__(self, refusals):
        self.refusals = refusals

    async def async_process(self, *, req, resp, next):  # noqa: A002 - Bolt's argument name
        problem = problem_of(req.body)
        if problem:
            kind = req.body.get("type") if isinstance(req.body, dict) else None
            self.refusals.warning(
                "shape:" + problem[:60],
                "Slack request acknowledged and not acted on: %s payload: %s",
                str(kind or "command")[:40],
                problem,
            )
            return BoltResponse(status=200, body="")
        return await next()
