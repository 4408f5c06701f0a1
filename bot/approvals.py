"""Approvals from Slack. Placeholder until the approvals module lands."""

from __future__ import annotations


async def on_run_change(session, svc, change) -> None:
    return None


async def on_task_change(session, svc, task, old_status, *, source: str) -> None:
    return None


async def expire_and_remind(svc) -> None:
    return None
