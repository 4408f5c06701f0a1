"""Slack's answers about people, cached: display names (users.info), user-group members
(usergroups.users.list) and the channels a person is in (users.conversations, for App Home), the last two
cached for USERGROUP_CACHE_SECONDS. `bot/actors.py` turns them into rights."""

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
        self._channels: dict[str, tuple[float, list[str] | None]] = {}

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

    async def channels(self, user_id: str) -> list[str] | None:
        """The public and private channels a person is in, or None when Slack will not say (a missing scope)."""
        cached = self._channels.get(user_id)
        if cached and time.monotonic() - cached[0] < self.cache_seconds:
            return cached[1]
        found: list[str] | None = []
        cursor = None
        try:
            for _ in range(10):
                resp = await self.client.users_conversations(
                    user=user_id,
                    types="public_channel,private_channel",
                    exclude_archived=True,
                    limit=200,
                    cursor=cursor,
                )
                found += [c["id"] for c in resp.get("channels") or [] if isinstance(c, dict) and c.get("id")]
                cursor = (resp.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    break
        except SlackApiError as exc:
            log.info("Slack did not list the channels of %s: %s", user_id, exc.response.get("error"))
            found = cached[1] if cached else None
        self._channels[user_id] = (time.monotonic(), found)
        return found

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
