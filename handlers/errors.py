"""Bolt listeners: errors."""

from __future__ import annotations


def register(app, svc) -> None:
    return None
