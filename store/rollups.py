"""Daily cost rollups: each run counts once, in the row of its UTC creation day, workflow, model and status,
with its cost and tokens. A run that changes moves its contribution from its old row to its new one in the
same transaction, so `/runs cost` reads a few rows a day instead of scanning runs.

Closed UTC days change only when a late event moves a run created on one (or housekeeping prunes them): each such
write stamps the day it changed (`DAY_CHANGED` + the ISO day; a prune stamps `CLOSED_CHANGED`, every day) with a
new token in the same transaction, so a reader may keep its sums of each closed day for as long as the tokens it
read them with are current, and reads again only the days that changed (bot/commands/cost.py)."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Date, String, and_, bindparam, delete, func, literal, or_, select, type_coerce, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from store import kv
from store.db import insert_for
from store.models import CostRollup, KeyValue, Run, Workflow, utcnow
from store.reads import LONG_READ

COUNTED = ("runs", "priced_runs", "cost_micros", "input_tokens", "output_tokens")
CLOSED_CHANGED = "cost_rollups:closed_changed"  # every closed day changed (a prune)
DAY_CHANGED = "cost_rollups:day_changed:"  # + the ISO day: that closed day changed
DEFERRED = "cost_rollups:deferred"  # session.info: shifts held for one write at the end of a batch


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
    today = utcnow().date()
    if rows[0]["day"] < today:
        await closed_days_changed(session, [r["day"] for r in rows if r["day"] < today])


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


async def closed_days_changed(session: AsyncSession, days: Iterable[date] | None = None) -> None:
    """Say, in the writer's transaction, that rollups of these closed days changed (None: of every closed day),
    with a blind upsert (no read, no lock taken before the write, keys in order), each day once per transaction
    however many runs of it the transaction moves."""
    transaction = session.sync_session.get_transaction()
    stamped = session.info.get(CLOSED_CHANGED)
    if stamped is None or stamped[0] is not transaction:
        stamped = (transaction, set())
        session.info[CLOSED_CHANGED] = stamped
    keys = [CLOSED_CHANGED] if days is None else sorted({DAY_CHANGED + d.isoformat() for d in days})
    keys = [k for k in keys if k not in stamped[1]]
    if not keys:
        return
    token = uuid.uuid4().hex
    if len(keys) == 1:
        await kv.put(session, keys[0], {"token": token})
    else:
        insert = insert_for(session)(KeyValue).values([{"key": k, "value": {"token": token}} for k in keys])
        await session.execute(
            insert.on_conflict_do_update(index_elements=["key"], set_={"value": insert.excluded.value})
        )
    stamped[1].update(keys)


@functools.cache
def _tokens():
    table = KeyValue.__table__
    return select(table.c.key, table.c.value).where(
        or_(table.c.key == CLOSED_CHANGED, and_(table.c.key >= bindparam("low"), table.c.key < bindparam("high")))
    )


async def change_tokens(conn, start: date, end: date) -> tuple[str, dict[date, str]]:
    """The token of the last change to every closed day ("" before any) and those of the days [start, end) that
    changed since, in one statement (`conn`: a connection, a session or a `store.reads.Reader`)."""
    everything, days = "", {}
    bounds = {"low": DAY_CHANGED + start.isoformat(), "high": DAY_CHANGED + end.isoformat()}
    for key, value in (await conn.execute(_tokens(), bounds)).all():
        token = str((value or {}).get("token") or "") if isinstance(value, dict) else ""
        if key == CLOSED_CHANGED:
            everything = token
        else:
            days[date.fromisoformat(key[len(DAY_CHANGED) :])] = token
    return everything, days


def first_open_day(grace_seconds: float, now: datetime | None = None) -> date:
    """The first UTC day whose rollups may still change without stamping its change: today, or yesterday within
    `grace_seconds` of midnight (a write that began before midnight, and so stamped nothing, has committed by
    then: COST_CLOSING_GRACE_SECONDS)."""
    return ((now or utcnow()) - timedelta(seconds=grace_seconds)).date()


async def prune(session: AsyncSession, *, before: date) -> int:
    result = await session.execute(delete(CostRollup).where(CostRollup.day < before))
    await session.execute(
        delete(KeyValue).where(KeyValue.key >= DAY_CHANGED, KeyValue.key < DAY_CHANGED + before.isoformat())
    )
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
GROUP, STATUS = "g", "s"

# (GROUP, workflow id, model or status) or (STATUS, status) -> (runs, priced runs, cost in micro-dollars): a day's
# sums by the grouping asked and by status, the two things `/runs cost` shows, never their cross product (50
# workflows by 7 statuses would be 350 entries a day to add instead of 57). Tuples of ints, never lists: a dict of
# them is left alone by the garbage collector, so the sums a process keeps do not lengthen its full collections.
Sums = dict[tuple[str, str], tuple[int, int, int]]
ZERO = (0, 0, 0)


@functools.cache
def _sums_statement(by: str, whole: bool, days: bool):
    """The rollups of [start, end) (`whole`), else of `days` and [first_open, end), summed by day and status, and
    from `split` on by day and the grouping too; a statement per shape, built once, values bound at execution.
    The changed closed days and the open ones are read apart (each an index range read in index order, from the
    covering indexes by status and by workflow), not as one `IN … OR` (a row set to sort: 2.7 against 0.9 ms)."""
    day = CostRollup.day
    if whole:
        ranges = [and_(day >= bindparam("start", type_=Date), day < bindparam("end", type_=Date))]
    else:  # a few days and the open ones: each an index range, never the period's scan
        ranges = [and_(day >= bindparam("first_open", type_=Date), day < bindparam("end", type_=Date))]
        if days:
            ranges.insert(0, day.in_(bindparam("days", type_=Date, expanding=True)))
    text = type_coerce(day, String).label("day")  # SQLite's text as it is (PostgreSQL's driver gives a date)
    sums = (func.sum(CostRollup.runs), func.sum(CostRollup.priced_runs), func.sum(CostRollup.cost_micros))
    parts = [
        select(text, literal(STATUS).label("kind"), CostRollup.status.label("key"), *sums)
        .where(wanted)
        .group_by(day, CostRollup.status)
        for wanted in ranges
    ]
    if by != "status":
        column = _GROUPS[by]
        parts += [
            select(text, literal(GROUP).label("kind"), column.label("key"), *sums)
            .where(wanted, day >= bindparam("split", type_=Date))
            .group_by(day, column)
            for wanted in ranges
        ]
    statement = parts[0] if len(parts) == 1 else union_all(*parts)
    # A whole period (a first read, or after a prune) reads every day's rollups: on a reader's thread.
    return statement.execution_options(**{LONG_READ: True}) if whole else statement


async def sums_by_day(
    conn, *, days: Sequence[date], open_from: date, start: date, end: date, by: str, split: date | None = None
) -> dict[date, Sums]:
    """One statement over the rollups: the sums of `days` and of every day from `open_from`, within [start, end),
    by day: by status, and by the grouping (workflow, model or status) from `split` on (`conn`: a connection or a
    `store.reads.Reader`)."""
    if start >= end:
        return {}
    days = sorted(d for d in days if start <= d < min(open_from, end))
    first_open = max(open_from, start)
    whole = len(days) == (first_open - start).days  # every closed day: the whole range
    some_days = bool(days) and not whole
    statement = _sums_statement(by, whole, some_days)
    params: dict[str, Any] = {"start": start, "end": end, "first_open": first_open, "split": split or start}
    if some_days:
        params["days"] = days
    found: dict[date, Sums] = {}
    by_text: dict[object, Sums] = {}
    grouped = by != "status"
    for day, kind, key, runs, priced, cost in (await conn.execute(statement, params)).all():
        sums = by_text.get(day)
        if sums is None:
            sums = by_text[day] = found.setdefault(day if isinstance(day, date) else date.fromisoformat(day), {})
        counts = (int(runs or 0), int(priced or 0), int(cost or 0))
        sums[(kind, key)] = counts
        if not grouped:
            sums[(GROUP, key)] = counts
    return found


def by_status(found: Sums) -> Sums:
    """The same sums by status only: what the period before needs."""
    return {k: v for k, v in found.items() if k[0] == STATUS}


def shifted(total: Sums, old: Sums, new: Sums) -> None:
    """`total` minus `old` plus `new`, in place (a changed day's sums replaced in a period's)."""
    for part, sign in ((old, -1), (new, 1)):
        for key, (runs, priced, cost) in part.items():
            r, p, c = total.get(key, ZERO)
            total[key] = (r + sign * runs, p + sign * priced, c + sign * cost)


def added(*parts: Sums) -> Sums:
    total: Sums = {}
    for part in parts:
        for key, (runs, priced, cost) in part.items():
            r, p, c = total.get(key, ZERO)
            total[key] = (r + runs, p + priced, c + cost)
    return total


@functools.cache
def _names():
    return select(Workflow.id, Workflow.name).where(Workflow.id.in_(bindparam("ids", expanding=True)))


async def spend_rows(conn, found: Sums, *, by: str, named: int | None = None) -> tuple[list[SpendRow], list[SpendRow]]:
    """Sums as rows by the grouping (the most spent first; workflows named, the first `named` of them when given:
    the rows shown) and by status (`conn`: a connection or a `store.reads.Reader`)."""

    def rows(kind: str) -> list[SpendRow]:
        out = [SpendRow(k, k, r, p, c) for (x, k), (r, p, c) in found.items() if x == kind and r > 0]
        out.sort(key=lambda s: (-s.cost_micros, -s.runs, s.key))
        return out

    grouped = rows(GROUP)
    if by == "workflow" and grouped:
        ids = [r.key for r in grouped[:named]]
        names = dict((await conn.execute(_names(), {"ids": ids})).all())
        grouped = [SpendRow(r.key, names.get(r.key, r.key), r.runs, r.priced_runs, r.cost_micros) for r in grouped]
    return grouped, rows(STATUS)


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
