"""Bolt listeners: Events API. Opening the App Home tab publishes it afresh (pending approvals)."""

from __future__ import annotations

from bot import approvals


def register(app, svc) -> None:
    @app.event("app_home_opened")
    async def home_opened(event):
        if event.get("tab", "home") == "home" and event.get("user"):
            svc.spawn(approvals.publish_home(svc, event["user"]), name="publish home")
