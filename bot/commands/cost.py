"""`/runs cost`: spend over a period of UTC days, read from the daily rollups (a few rows a day, never a scan
of runs), grouped by workflow, model or status, with the spend on failed runs and the period before.

The sums of each closed day are kept in the process with the token of its last change (store/rollups.py), and
the period's sums with them: a request reads the change tokens, then in one statement over the rollups the days
still open and the closed days whose token moved (a late event changes one day: that day is read again and
replaced in the period's sums); a prune, or a period not seen before, reads the whole period once."""

from __future__ import annotations

import math
from datetime import date, timedelta

from bot.actors import Actor
from bot.commands.answers import Reply
from bot.commands.grammar import Command
from bot.render.spend import CostReport, cost_report
from bot.services import Services
from store import rollups
from store.models import utcnow

COST_SUMS_KEPT = 16  # (period, grouping) entries kept per process, each with the sums of its closed days


class Kept:
    """A period's closed days [previous_start, closed_end): the tokens they were read with, each day's sums (by
    the grouping in the period, by status before it) and their totals."""

    def __init__(self, everything: str) -> None:
        self.everything = everything
        self.tokens: dict[date, str] = {}
        self.days: dict[date, rollups.Sums] = {}
        self.current: rollups.Sums = {}
        self.previous: rollups.Sums = {}


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days)]


async def _spend(svc: Services, start: date, end: date, previous_start: date, by: str):
    """The period's rows by `by` and by status, and the period before by status."""
    open_from = rollups.first_open_day(svc.settings.COST_CLOSING_GRACE_SECONDS)
    closed_end = min(end, max(open_from, previous_start))
    closed = _days(previous_start, closed_end)
    key = (previous_start, closed_end, start, by)
    conn = svc.reader  # the read path (store/reads.py): statements built once, run on the driver
    everything, tokens = await rollups.change_tokens(conn, previous_start, closed_end)
    kept = svc.cost_cache.get(key)
    if kept is None or kept.everything != everything:
        kept = Kept(everything)
        stale = closed
    else:
        stale = [d for d in closed if tokens.get(d, "") != kept.tokens.get(d, "")]
    found = await rollups.sums_by_day(
        conn, days=stale, open_from=open_from, start=previous_start, end=end, by=by, split=start
    )
    for day in stale:
        sums = found.pop(day, {})
        if day < start:
            sums = rollups.by_status(sums)
        rollups.shifted(kept.current if day >= start else kept.previous, kept.days.get(day, {}), sums)
        kept.days[day] = sums
        kept.tokens[day] = tokens.get(day, "")
    if key not in svc.cost_cache and len(svc.cost_cache) >= COST_SUMS_KEPT:
        svc.cost_cache.pop(next(iter(svc.cost_cache)))
    svc.cost_cache[key] = kept
    # `found` now holds the open days only.
    current = rollups.added(kept.current, *(s for d, s in found.items() if d >= start))
    previous = rollups.added(kept.previous, *(rollups.by_status(s) for d, s in found.items() if d < start))
    rows, statuses = await rollups.spend_rows(conn, current, by=by, named=svc.settings.COST_TOP_ROWS)
    _, before = await rollups.spend_rows(conn, previous, by="status")
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
