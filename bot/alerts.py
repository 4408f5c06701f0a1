"""Failure alerts (issue: failure alerts). Placeholder until the alerts module lands."""

from __future__ import annotations


async def on_run_change(session, svc, change, *, source: str) -> None:
    return None
