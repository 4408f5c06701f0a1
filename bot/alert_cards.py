"""An alert's card from the store: the run, the alert's own state (replays, notes made when it was posted) and
the run's lifecycle, rendered whole; and its rebuild in every channel after a change (issue 16)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox
from bot.people import mention
from bot.render.alerts import alert_message, slack_user_of
from bot.render.metadata import alert_metadata
from bot.render.mrkdwn import Mrkdwn
from bot.services import Services
from bot.views import view_of_run
from store import messages
from store.messages import fresh
from store.models import AlertLifecycle, Run


def view_of(row: AlertLifecycle | dict | None) -> dict | None:
    """The lifecycle as the renderers read it: {"on_it": [...], "resolved": {...}, "recovered": {...}}."""
    if row is None:
        return None
    if isinstance(row, dict):
        return row
    return {
        "on_it": list(row.on_it or []),
        "resolved": (
            {"by": row.resolved_by, "at": _iso(row.resolved_at), "note": row.resolved_note} if row.resolved_by else None
        ),
        "recovered": {"by": row.recovered_by, "at": _iso(row.recovered_at)} if row.recovered_by else None,
    }


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


async def lifecycle_of(session: AsyncSession, run_id: str) -> dict | None:
    return view_of(await session.get(AlertLifecycle, run_id))


def owners(svc: Services, run: Run) -> list[str]:
    """Mentions of who owns the run: WORKFLOW_OWNERS for its workflow, and the Slack user named in its trigger."""
    people = list(svc.settings.WORKFLOW_OWNERS.get(run.workflow_id, []))
    starter = slack_user_of(((run.data or {}).get("trigger") or {}).get("actor"))
    if starter and starter not in people:
        people.append(starter)
    return [mention(p) for p in people]


def render(svc: Services, run: Run, state: dict, lifecycle: dict | None = None) -> dict:
    data = run.data or {}
    step_id = run.failed_step_id or (
        next((s["id"] for s in data.get("steps") or [] if s.get("status") == "failed"), None)
    )
    view = view_of_run(run)
    message = alert_message(
        view,
        run_url_of=svc.settings.run_url,
        step_url=svc.settings.run_url(run.id, step_id) if step_id else None,
        owners=owners(svc, run),
        replays=state.get("replays") or [],
        lifecycle=lifecycle,
        notes=[Mrkdwn(n) for n in state.get("notes") or []],
        approvers=[mention(p) for p in svc.settings.APPROVERS],
    )
    replays = list(state.get("replays") or [])
    recovered = (lifecycle or {}).get("recovered")
    if recovered and recovered.get("by"):  # recovered along a chain of replays (a replay of a replay completed)
        replays.append({"run_id": recovered["by"], "status": "completed"})
    return {**message, "metadata": alert_metadata(view, replays)}


async def rebuild(session: AsyncSession, svc: Services, run_id: str, lifecycle: dict | None) -> int:
    """Every channel's alert of the run, rebuilt whole and replaced in place; returns how many."""
    cards = await messages.messages_of(session, "alert", run_id)
    run = await session.get(Run, run_id) if cards else None
    if run is None:
        return 0
    for message in cards:
        await fresh(session, message)
        await outbox.update_message(session, message, render(svc, run, message.state or {}, lifecycle))
    return len(cards)
