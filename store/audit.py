"""Writing the audit trail: one row per action taken from Slack (reading it is `queries.audit_entries`)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from store.models import AuditEntry

TEXT_LIMIT = 2000  # detail and message are cut to this many characters


def add_entry(
    session: AsyncSession,
    *,
    user_id: str,
    action: str,
    target: str | None,
    detail: str | None,
    result: str,
    message: str | None,
) -> None:
    session.add(
        AuditEntry(
            user_id=user_id,
            action=action,
            target=target,
            detail=(detail or "")[:TEXT_LIMIT] or None,
            result=result,
            message=(message or "")[:TEXT_LIMIT] or None,
        )
    )
