"""Slack listeners (one module per kind, each with `register`) and the platform webhook handler.

- commands.py: `/runs`
- actions.py: buttons on runs (replay, show, cancel, pause, resume, next page)
- views.py: modal submissions about runs (replay with changes)
- approvals.py: approval buttons and the reject modal
- lifecycle.py: who handles a failure (I'm on it, Resolve), mutes, and Replay affected runs on incident cards
- events.py: Events API (App Home)
- unfurls.py: `link_shared` (run links unfurl)
- shortcuts.py: *Show run* (message shortcut) and *Find a run* (global shortcut and its modal)
- errors.py: the one error handler
- webhooks.py: the platform's webhooks (aiohttp, not Bolt)
"""

from __future__ import annotations

from slack_bolt.app.async_app import AsyncApp


def register_listeners(app: AsyncApp, svc) -> None:
    from handlers import actions, approvals, commands, errors, events, lifecycle, shortcuts, unfurls, views

    errors.register(app, svc)
    commands.register(app, svc)
    actions.register(app, svc)
    views.register(app, svc)
    approvals.register(app, svc)
    lifecycle.register(app, svc)
    events.register(app, svc)
    unfurls.register(app, svc)
    shortcuts.register(app, svc)
