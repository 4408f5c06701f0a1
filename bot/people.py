"""Slack's answers about people, cached: display names (users.info) and user-group members
(usergroups.users.list, cached for USERGROUP_CACHE_SECONDS). `bot/actors.py` turns them into rights."""

from __future__ import annotations

import logging
import time

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)


class People:
    def __init__(self, client: AsyncWebClient, *, cache_seconds: float = 300.0):
        self.client = client
        self.cache_seconds = cache_seconds
        self._groups: dict[str, tuple[float, set[str]]] = {}
        self._names: dict[str, str] = {}

    async def members(self, group_id: str) -> set[str]:
        cached = self._groups.get(group_id)
        if cached and time.monotonic() - cached[0] < self.cache_seconds:
            return cached[1]
        try:
            resp = await self.client.usergroups_users_list(usergroup=group_id)
            users = set(resp.get("users") or [])
        except SlackApiError as exc:
            log.warning("cannot read user group %s: %s", group_id, exc.response.get("error"))
            users = cached[1] if cached else set()
        self._groups[group_id] = (time.monotonic(), users)
        return users

    async def is_member(self, user_id: str, allowed: list[str]) -> bool:
        if user_id in allowed:
            return True
        for entry in allowed:
            if entry.startswith("S") and user_id in await self.members(entry):
                return True
        return False

    async def name(self, user_id: str) -> str:
        """A person's display name, for the platform's actor field; the ID when Slack cannot say."""
        if user_id in self._names:
            return self._names[user_id]
        try:
            user = (await self.client.users_info(user=user_id))["user"]
            name = user.get("real_name") or (user.get("profile") or {}).get("real_name") or user.get("name") or user_id
        except SlackApiError:
            name = user_id
        self._names[user_id] = name
        return name


def mention(entry: str) -> str:
    """A Slack mention of a user (`<@U…>`) or a user group (`<!subteam^S…>`)."""
    return f"<!subteam^{entry}>" if entry.startswith("S") else f"<@{entry}>"


def describe(allowed: list[str]) -> str:
    return ", ".join(mention(e) for e in allowed) if allowed else "nobody (the setting is empty)"
