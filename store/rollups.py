"""Daily cost rollups: each run counts once, in the row of its UTC creation day, workflow, model and status,
with its cost and tokens. A run that changes moves its contribution from its old row to its new one in the
same transaction, so `/runs cost` reads a few rows a day instead of scanning runs.

Closed UTC days change only when a late event moves a run created on one (or housekeeping prunes them): each such
write stamps `CLOSED_CHANGED` with a new token in the same transaction, so a reader may keep its sums of closed
days for as long as the token it read them with is current (bot/commands/cost.py)."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from store import kv
from store.db import insert_for
from store.models import CostRollup, KeyValue, Run, Workflow, utcnow

COUNTED = ("runs", "priced_runs", "cost_micros", "input_tokens", "output_tokens")
CLOSED_CHANGED = "cost_rollups:closed_changed"
DEFERRED = "cost_rollups:deferred"  # session.info: shifts held for one write at the end of a batch
# A day counts as closed for readers only this long after its end, so a write that began before midnight (and so
# did not stamp CLOSED_CHANGED) has committed by then.
CLOSING_GRACE = timedelta(minutes=5)


@dataclass(frozen=True)
class Contribution:
    day: date
    workflow_id: str
    model: str
    status: str
    cost_micros: int | None
    input_tokens: int | None
    output_tokens: int | None

    def row(self, sign: int) -> dict:
        return {
            "day": self.day,
            "workflow_id": self.workflow_id,
            "model": self.model,
            "status": self.status,
            "runs": sign,
            "priced_runs": sign if self.cost_micros is not None else 0,
            "cost_micros": sign * (self.cost_micros or 0),
            "input_tokens": sign * (self.input_tokens or 0),
            "output_tokens": sign * (self.output_tokens or 0),
        }


def contribution(run: Run) -> Contribution:
    """What one stored run adds to the rollups as it is now."""
    return Contribution(
        run.created_at.date(),
        run.workflow_id,
        run.model or "",
        run.status,
        run.cost_micros,
        run.input_tokens,
        run.output_tokens,
    )


@functools.cache
def _upsert(insert):
    table = CostRollup.__table__
    upsert = insert(table)
    return upsert.on_conflict_do_update(
        index_elements=["day", "workflow_id", "model", "status"],
        set_={c: table.c[c] + upsert.excluded[c] for c in COUNTED},
    )


async def shift(session: AsyncSession, old: Contribution | None, new: Contribution | None) -> None:
    """Move a run's contribution from `old` (None: the run is new) to `new` (None: the run is gone)."""
    if old == new:
        return
    rows = ([old.row(-1)] if old else []) + ([new.row(1)] if new else [])
    pending = session.info.get(DEFERRED)
    if pending is None:
        await _write(session, rows)
        return
    for row in rows:
        held = pending.setdefault(_key(row), {**row, **dict.fromkeys(COUNTED, 0)})
        for c in COUNTED:
            held[c] += row[c]


def _key(row: dict) -> tuple:
    return row["day"], row["workflow_id"], row["model"], row["status"]


async def _write(session: AsyncSession, rows: list[dict]) -> None:
    # Rows in key order, so two runs moving between the same two rows in opposite directions lock them in the
    # same order (no deadlock on PostgreSQL).
    rows.sort(key=_key)
    await session.execute(_upsert(insert_for(session)), rows)
    if rows[0]["day"] < utcnow().date():
        await closed_days_changed(session)


def defer(session: AsyncSession) -> None:
    """Hold this session's shifts until `flush`, summed by row: a batch of events writes each rollup row once, at
    the end of its transaction, and holds no rollup row's lock while it waits for a run's (PostgreSQL: a
    transaction that merges one run locks the run, then rollup rows; a batch that locked rollup rows for one
    run and then waited for another run's lock could deadlock with it)."""
    session.info[DEFERRED] = {}


async def flush(session: AsyncSession, *, stop: bool = False) -> None:
    """Write the shifts held since `defer` (a no-op when none are held); `stop`: hold no more after this."""
    pending = session.info.pop(DEFERRED, None) if stop else session.info.get(DEFERRED)
    if not pending:
        return
    rows = [row for row in pending.values() if any(row[c] for c in COUNTED)]
    pending.clear()
    if rows:
        await _write(session, rows)


async def closed_days_changed(session: AsyncSession) -> None:
    """Say, in the writer's transaction, that rollups of a closed day changed (a blind upsert: no read, no lock
    taken before the write), once per transaction however many runs of closed days it moves."""
    transaction = session.sync_session.get_transaction()
    if transaction is not None and session.info.get(CLOSED_CHANGED) is transaction:
        return
    await kv.put(session, CLOSED_CHANGED, {"token": uuid.uuid4().hex})
    session.info[CLOSED_CHANGED] = transaction


async def closed_token(session: AsyncSession) -> str:
    """The token of the last change to a closed day ("" before any)."""
    row = await session.get(KeyValue, CLOSED_CHANGED, populate_existing=True)
    return str((row.value or {}).get("token") or "") if row is not None else ""


def first_open_day(now: datetime | None = None) -> date:
    """The first UTC day whose rollups may still change without stamping CLOSED_CHANGED: today, or yesterday
    within CLOSING_GRACE of midnight."""
    return ((now or utcnow()) - CLOSING_GRACE).date()


async def prune(session: AsyncSession, *, before: date) -> int:
    result = await session.execute(delete(CostRollup).where(CostRollup.day < before))
    if result.rowcount:
        await closed_days_changed(session)
    return result.rowcount or 0


@dataclass(frozen=True)
class SpendRow:
    key: str  # a workflow id, a model ("" when none) or a status
    label: str
    runs: int
    priced_runs: int
    cost_micros: int


_GROUPS = {"workflow": CostRollup.workflow_id, "model": CostRollup.model, "status": CostRollup.status}

# (group key, status) -> [runs, priced runs, cost in micro-dollars]
Sums = dict[tuple[str, str], list[int]]


async def sums(session: AsyncSession, *, start: date, end: date, by: str) -> Sums:
    """Runs and spend created on UTC days [start, end) by (workflow, model or status; status), summed in SQL over
    the period's rollup rows (the day range of the covering index)."""
    if start >= end:
        return {}
    column = _GROUPS[by]
    query = (
        select(
            column,
            CostRollup.status,
            func.sum(CostRollup.runs),
            func.sum(CostRollup.priced_runs),
            func.sum(CostRollup.cost_micros),
        )
        .where(CostRollup.day >= start, CostRollup.day < end)
        .group_by(column, CostRollup.status)
    )
    return {(k, st): [int(r or 0), int(p or 0), int(c or 0)] for k, st, r, p, c in (await session.execute(query)).all()}


def added(*parts: Sums) -> Sums:
    total: Sums = {}
    for part in parts:
        for key, (runs, priced, cost) in part.items():
            row = total.setdefault(key, [0, 0, 0])
            row[0] += runs
            row[1] += priced
            row[2] += cost
    return total


async def spend_rows(session: AsyncSession, found: Sums, *, by: str) -> tuple[list[SpendRow], list[SpendRow]]:
    """Sums as rows by the grouping (the most spent first, workflows named) and by status."""
    groups: dict[str, list[int]] = {}
    statuses: dict[str, list[int]] = {}
    for (key, status), counts in found.items():
        for target, k in ((groups, key), (statuses, status)):
            row = target.setdefault(k, [0, 0, 0])
            for i in range(3):
                row[i] += counts[i]
    names: dict[str, str] = {}
    if by == "workflow" and groups:
        ids = list(groups)
        names = dict((await session.execute(select(Workflow.id, Workflow.name).where(Workflow.id.in_(ids)))).all())

    def rows(found: dict[str, list[int]], labels: dict[str, str]) -> list[SpendRow]:
        out = [SpendRow(k, labels.get(k, k), r, p, c) for k, (r, p, c) in found.items() if r > 0]
        out.sort(key=lambda s: (-s.cost_micros, -s.runs, s.key))
        return out

    return rows(groups, names), rows(statuses, {})


async def spend(session: AsyncSession, *, start: date, end: date, by: str) -> tuple[list[SpendRow], list[SpendRow]]:
    """Runs and spend created on UTC days [start, end), grouped by workflow, model or status, and by status."""
    return await spend_rows(session, await sums(session, start=start, end=end, by=by), by=by)


async def day_rows(session: AsyncSession, day: date) -> list[tuple[str, str, int, int, int]]:
    """(workflow id, status, runs, priced runs, cost in micro-dollars) of the runs started on one UTC day."""
    query = (
        select(
            CostRollup.workflow_id,
            CostRollup.status,
            func.sum(CostRollup.runs),
            func.sum(CostRollup.priced_runs),
            func.sum(CostRollup.cost_micros),
        )
        .where(CostRollup.day == day)
        .group_by(CostRollup.workflow_id, CostRollup.status)
    )
    return [(w, s, int(r or 0), int(p or 0), int(c or 0)) for w, s, r, p, c in (await session.execute(query)).all()]


async def models_of(session: AsyncSession, workflow_id: str, *, limit: int = 99) -> list[str]:
    """The models seen on a workflow's runs (in the rollups, which outlive runs), most runs first."""
    query = (
        select(CostRollup.model, func.sum(CostRollup.runs).label("n"))
        .where(CostRollup.workflow_id == workflow_id, CostRollup.model != "")
        .group_by(CostRollup.model)
        .order_by(func.sum(CostRollup.runs).desc(), CostRollup.model)
        .limit(limit)
    )
    return [m for m, _ in (await session.execute(query)).all()]
