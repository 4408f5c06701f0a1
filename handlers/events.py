"""Bolt listeners: Events API. Opening the App Home tab publishes it afresh (pending approvals); the bot's own
`member_joined_channel` (it was invited) delivers what was held for that channel (bot/reach.py)."""

from __future__ import annotations

from bot.approvals import reactions


def register(app, svc) -> None:
    @app.event("app_home_opened")
    async def home_opened(event, context):
        if event.get("tab", "home") == "home" and event.get("user"):
            svc.spawn(reactions.publish_home(svc, context["actor"]), name="publish home")

    @app.event("member_joined_channel")
    async def member_joined(event, context):
        channel = event.get("channel")
        if event.get("user") == context.get("bot_user_id") and isinstance(channel, str) and svc.reach is not None:
            svc.spawn(svc.reach.joined(channel), name="invited to a channel")
