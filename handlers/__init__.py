"""Slack listeners (one module per kind, each with `register`) and the platform webhook handler."""

from __future__ import annotations

from slack_bolt.app.async_app import AsyncApp


def register_listeners(app: AsyncApp, svc) -> None:
    from handlers import actions, commands, errors, events, views

    errors.register(app, svc)
    commands.register(app, svc)
    actions.register(app, svc)
    views.register(app, svc)
    events.register(app, svc)
