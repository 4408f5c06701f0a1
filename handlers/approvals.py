"""Bolt listeners: approval buttons and the reject modal."""

from __future__ import annotations


def register(app, svc) -> None:
    return None
