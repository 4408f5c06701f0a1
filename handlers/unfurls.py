"""Bolt listener: `link_shared`. Acknowledged at once; the run cards are read and sent by `bot/unfurl.py` after."""

from __future__ import annotations

from bot import unfurl


def register(app, svc) -> None:
    @app.event("link_shared")
    async def link_shared(event):
        svc.spawn(unfurl.unfurl_links(svc, event), name="unfurl run links")
