"""`/runs cost`: spend over a period of UTC days, read from the daily rollups (a few rows a day, never a scan
of runs), grouped by workflow, model or status, with the spend on failed runs and the period before."""

from __future__ import annotations

import math
from datetime import timedelta

from bot.actors import Actor
from bot.commands.answers import Reply
from bot.commands.grammar import Command
from bot.render.spend import CostReport, cost_report
from bot.services import Services
from store import rollups
from store.models import utcnow

COST_SUMS_KEPT = 64  # (period, grouping) sums of closed days kept per process


async def _closed_sums(svc: Services, session, token: str, start, end, by: str) -> rollups.Sums:
    """Sums of closed days [start, end), kept per (period, grouping) while `token` is the store's last change to a
    closed day: in steady state a month costs one read of today's rows, and a late event is never missed."""
    key = (start, end, by)
    kept = svc.cost_cache.get(key)
    if kept is not None and kept[0] == token:
        return kept[1]
    found = await rollups.sums(session, start=start, end=end, by=by)
    if len(svc.cost_cache) >= COST_SUMS_KEPT:
        svc.cost_cache.pop(next(iter(svc.cost_cache)))
    svc.cost_cache[key] = (token, found)
    return found


async def _spend(svc: Services, start, end, previous_start, by: str):
    """The period's rows by `by` and by status, and the period before by status: closed days from sums kept in
    the process (valid while no closed day changed), the days still open read from the rollups."""
    open_from = rollups.first_open_day()
    async with svc.sessions() as session:
        token = await rollups.closed_token(session)
        current = rollups.added(
            await _closed_sums(svc, session, token, start, min(end, max(open_from, start)), by),
            await rollups.sums(session, start=max(start, open_from), end=end, by=by),
        )
        previous = rollups.added(
            await _closed_sums(
                svc, session, token, previous_start, min(start, max(open_from, previous_start)), "status"
            ),
            await rollups.sums(session, start=max(previous_start, open_from), end=start, by="status"),
        )
        rows, statuses = await rollups.spend_rows(session, current, by=by)
        _, before = await rollups.spend_rows(session, previous, by="status")
    return rows, statuses, before


def period_days(flags: dict, default_days: int) -> int:
    since = flags.get("since")
    return max(1, math.ceil(since / timedelta(days=1))) if since else default_days


async def do_cost(svc: Services, actor: Actor, command: Command, channel: str) -> Reply:
    days = period_days(command.flags, svc.settings.COST_DEFAULT_SINCE_DAYS)
    by = command.flags.get("by", "workflow")
    end = utcnow().date() + timedelta(days=1)  # today counts, as far as it has gone
    start = end - timedelta(days=days)
    previous_start = start - timedelta(days=days)
    rows, statuses, before = await _spend(svc, start, end, previous_start, by)
    report = CostReport(
        start=start,
        end=end,
        by=by,
        rows=rows,
        statuses=statuses,
        previous=before,
        understood=command.line,
        top=svc.settings.COST_TOP_ROWS,
    )
    return Reply(cost_report(report), command.share)
