"""The failure context line of an alert (issue 16), computed from the store when the alert is made: new or
recurring, when the workflow last succeeded, and the step's failure rate over the workflow's newest runs.
`ALERT_CONTEXT_LINE=false` leaves it out (the benchmark measures its cost with and without)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.render.lifecycle import context_line
from bot.render.mrkdwn import Mrkdwn
from bot.services import Services
from bot.views import view_of_run
from store import context as reads
from store.models import Run, utcnow

CAP = 1000  # earlier failures counted at most ("1000th time" is already the point)


async def failure_context(session: AsyncSession, svc: Services, run: Run) -> Mrkdwn | None:
    settings = svc.settings
    if not settings.ALERT_CONTEXT_LINE:
        return None
    at = run.completed_at or run.updated_at or utcnow()
    new_window = timedelta(days=settings.ALERT_CONTEXT_NEW_DAYS)
    recurring_window = timedelta(hours=settings.ALERT_CONTEXT_RECURRING_HOURS)
    in_window = await reads.same_failures_since(session, run, at - new_window, until=at, cap=CAP)
    in_recent = (
        await reads.same_failures_since(session, run, at - recurring_window, until=at, cap=CAP)
        if in_window > 1
        else in_window
    )
    success = await reads.last_success(session, run.workflow_id, at)
    outcomes = await reads.newest_outcomes(session, run.workflow_id, at, settings.ALERT_CONTEXT_RATE_RUNS)
    rate = None
    if len(outcomes) >= settings.ALERT_CONTEXT_RATE_MIN_RUNS and run.failed_step_id:
        failed_here = sum(1 for status, step in outcomes if status == "failed" and step == run.failed_step_id)
        rate = (failed_here, len(outcomes))
    view = view_of_run(run)
    step = view.failed_step
    return context_line(
        code=run.error_code or "unknown",
        step_name=(step.name or step.id) if step else None,
        in_window=in_window,
        in_recent=in_recent,
        new_days=settings.ALERT_CONTEXT_NEW_DAYS,
        recurring_hours=settings.ALERT_CONTEXT_RECURRING_HOURS,
        last_success=(success[0], at - success[1]) if success else None,
        rate=rate,
        run_url_of=settings.run_url,
    )
