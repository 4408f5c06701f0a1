"""Bolt listeners: Events API. Opening the App Home tab publishes it afresh (pending approvals)."""

from __future__ import annotations

from bot.approvals import reactions


def register(app, svc) -> None:
    @app.event("app_home_opened")
    async def home_opened(event, context):
        if event.get("tab", "home") == "home" and event.get("user"):
            svc.spawn(reactions.publish_home(svc, context["actor"]), name="publish home")
