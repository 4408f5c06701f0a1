"""`/runs watch`: follow one run by direct message. Placeholder until the commands module lands."""

from __future__ import annotations


async def on_run_change(session, svc, change) -> None:
    return None
