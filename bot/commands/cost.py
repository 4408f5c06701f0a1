"""`/runs cost`: spend over a period of UTC days, read from the daily rollups (a few rows a day, never a scan
of runs), grouped by workflow, model or status, with the spend on failed runs and the period before."""

from __future__ import annotations

import math
import time
from datetime import timedelta

from bot.actors import Actor
from bot.commands.answers import Reply
from bot.commands.grammar import Command
from bot.render.spend import CostReport, cost_report
from bot.services import Services
from store import rollups
from store.models import utcnow


async def _spend(svc: Services, start, end, previous_start, by: str):
    """The period's rows by `by` and by status, and the period before by status. A month of rollups is tens of
    thousands of rows on a large workspace, so an answer is reused for COST_CACHE_SECONDS (0: never)."""
    key = (start, end, by)
    ttl = svc.settings.COST_CACHE_SECONDS
    cached = svc.cost_cache.get(key)
    if cached is not None and time.monotonic() - cached[0] < ttl:
        return cached[1:]
    async with svc.sessions() as session:
        rows, statuses = await rollups.spend(session, start=start, end=end, by=by)
        _, before = await rollups.spend(session, start=previous_start, end=start, by="status")
    if ttl > 0:
        if len(svc.cost_cache) > 64:
            svc.cost_cache.clear()
        svc.cost_cache[key] = (time.monotonic(), rows, statuses, before)
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
