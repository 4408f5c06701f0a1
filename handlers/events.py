"""Bolt listeners: events."""

from __future__ import annotations


def register(app, svc) -> None:
    return None
