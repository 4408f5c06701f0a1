"""App Home as a dashboard for the person looking at it: what `bot/render/home.py` shows, read from the store in
the publishing transaction (`bot/approvals/reactions.py` versions and queues it), and which people's App Home
a run's change concerns."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.alert_cards import view_of
from bot.render.home import Dashboard, DaySpend, FailureLine, home_view
from bot.render.lifecycle import list_mark, state_of
from bot.render.mrkdwn import is_user_id
from bot.runs import RunChange
from bot.services import Services
from bot.views import TaskView, view_of_run
from store import dashboard, rollups
from store import lifecycle as lifecycle_store
from store.models import Run
from store.runs import runs_by_id


async def home_for(
    session: AsyncSession,
    svc: Services,
    user: str,
    tasks: list[TaskView],
    *,
    can_decide: bool,
    channels: list[str] | None,
    approvers: str,
    now: datetime,
) -> dict:
    s = svc.settings
    limit = s.HOME_LIST_LIMIT
    by_expiry = sorted(tasks, key=lambda t: (t.expires_at is None, t.expires_at or now, t.id))
    decidable: set[str] = set()
    if can_decide:
        starters = {r.id: r.actor_slack_id for r in await runs_by_id(session, sorted({t.run_id for t in tasks}))}
        decidable = {
            t.id for t in tasks if user not in t.votes and (s.ALLOW_SELF_APPROVAL or starters.get(t.run_id) != user)
        }
    failures: list = []
    if channels is not None:
        workflows = (
            None
            if s.ALERT_CHANNEL and s.ALERT_CHANNEL in channels
            else await dashboard.failure_workflows(session, channels)
        )
        since = now - timedelta(hours=s.HOME_FAILURE_HOURS)
        rows = await dashboard.recent_failures(session, since=since, workflows=workflows, limit=limit)
        failures = await _failures(session, rows)
    board = Dashboard(
        tasks=by_expiry,
        decidable=frozenset(decidable),
        approvers=approvers,
        watched=[view_of_run(r) for r in await dashboard.watched_runs(session, user, limit=limit)],
        failures=failures,
        failure_hours=s.HOME_FAILURE_HOURS,
        failures_known=channels is not None,
        triggered=[view_of_run(r) for r in await dashboard.triggered_runs(session, user, limit=limit)],
        spend=await _spend(session, now),
    )
    return home_view(board, now, s.run_url)


async def _failures(session: AsyncSession, rows: list) -> list[FailureLine]:
    """Each failure with its lifecycle (who is on it, resolved, recovered): open ones first (nobody or someone on
    it), then the settled ones, each group newest first (the query's order; sorting is stable)."""
    ids = [r.id for r in rows]
    lifecycles = await lifecycle_store.lifecycles_of(session, ids)
    replayed = await dashboard.recovered(session, ids)  # a completed replay the lifecycle has not marked yet
    lines = []
    for r in rows:
        lc = view_of(lifecycles.get(r.id))
        if r.id in replayed and not (lc or {}).get("recovered"):
            lc = {**(lc or {}), "recovered": {"by": replayed[r.id], "at": None}}
        lines.append(FailureLine(view_of_run(r), state_of(lc), list_mark(lc)))
    return sorted(lines, key=lambda line: not line.open)


async def _spend(session: AsyncSession, now: datetime) -> DaySpend | None:
    """Today's spend (UTC) from the daily rollups, once the platform has reported any usage; None before."""
    if not await dashboard.usage_known(session):
        return None
    return DaySpend(now.date(), await rollups.day_rows(session, now.date()))


async def people_of_failure(session: AsyncSession, run_id: str | None) -> set[str]:
    """Who follows a failed run on their App Home: its watchers, who triggered it, who is on it."""
    if not run_id:
        return set()
    users = set(await dashboard.watchers(session, run_id))
    run = await session.get(Run, run_id)
    if run is not None and is_user_id(run.actor_slack_id):
        users.add(run.actor_slack_id)
    row = (await lifecycle_store.lifecycles_of(session, [run_id])).get(run_id)
    on_it = (row.on_it or []) if row is not None else []
    users.update(p["user"] for p in on_it if is_user_id(p.get("user")))
    return users


async def homes_to_refresh(session: AsyncSession, users: set[str], run_id: str | None, key_of) -> list[str]:
    """Of these people and those who follow the failed run, the ones with an App Home published by the bot."""
    return await dashboard.with_home(session, sorted(users | await people_of_failure(session, run_id)), key_of)


async def people_concerned(session: AsyncSession, change: RunChange, key_of) -> list[str]:
    """Whose App Home shows this run (they watch or triggered it) and who has an App Home to refresh."""
    if not change.status_changed:
        return []
    users = set(await dashboard.watchers(session, change.run.id))
    if is_user_id(change.run.actor_slack_id):
        users.add(change.run.actor_slack_id)
    if change.run.replay_of and change.run.status == "completed":
        users |= await people_of_failure(session, change.run.replay_of)  # the failure it recovered
    return await dashboard.with_home(session, sorted(users), key_of)
