"""Queries named for what they answer, so handlers never build SQL. Every filter `/runs` offers has an
index that serves it; run-ID prefixes are ranges on the primary key, not LIKE."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String, and_, bindparam, exists, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from store.lifecycle import is_open
from store.models import AlertLifecycle, Approval, AuditEntry, MutedFailure, Run, Subscription, Workflow


def prefix_range(prefix: str) -> tuple[str, str]:
    """[prefix, next) such that id >= prefix AND id < next matches exactly the ids starting with prefix."""
    return prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)


async def runs_by_prefix(session: AsyncSession, prefix: str, *, limit: int = 6, rows: bool = False) -> list:
    """Runs whose id starts with `prefix` (case-sensitive; `run_` may be left out), as git resolves commits.
    `rows`: rows of the runs table's columns (a Core select; `session` may be a connection), not `Run` entities."""
    candidates = [prefix] if prefix.startswith("run_") else [prefix, f"run_{prefix}"]
    ranges = [prefix_range(p) for p in candidates]
    params: dict = {"limit": limit}
    for i, (low, high) in enumerate(ranges):
        params.update({f"low{i}": low, f"high{i}": high})
    query = _page(("prefix", rows, len(ranges)), lambda: _prefix_statement(rows, len(ranges)))
    found_rows = list(
        (await session.execute(query, params)).all() if rows else (await session.scalars(query, params)).all()
    )
    found: dict = {}
    for low, high in ranges:
        for run in [r for r in found_rows if low <= r.id < high][:limit]:
            found.setdefault(run.id, run)
    return list(found.values())[:limit]


def _prefix_statement(rows: bool, ranges: int):
    """The runs of one or two id ranges (`low0`..`high0`, `low1`..`high1`), by id. With two, one statement takes each
    range's first `limit` ids (an index range scan that stops there, as one read per range did), then those runs;
    the caller orders them as one read per range would give them."""
    runs = select(*Run.__table__.c) if rows else select(Run)
    limit = bindparam("limit", type_=Integer)

    def bounded(i: int):
        return (Run.id >= bindparam(f"low{i}", type_=String), Run.id < bindparam(f"high{i}", type_=String))

    if ranges == 1:
        return runs.where(*bounded(0)).order_by(Run.id).limit(limit)
    firsts = [select(Run.id).where(*bounded(i)).order_by(Run.id).limit(limit).subquery() for i in range(ranges)]
    return runs.where(Run.id.in_(union_all(*(select(first.c.id) for first in firsts)))).order_by(Run.id)


# What a listed run's line and the Next page button read (`bot.views.view_of_listed`): a Core select of these
# columns, rows rather than ORM entities, when a page asks for `listed` rows; never `data` (a page of failed runs
# decoded 11 JSON documents of 1.4 kB each, with their steps, to show one line a run).
LISTED = (
    Run.id,
    Run.workflow_id,
    Run.workflow_name,
    Run.status,
    Run.created_at,
    Run.started_at,
    Run.completed_at,
    Run.duration_ms,
    Run.total_steps,
    Run.completed_steps,
    Run.model,
    Run.error_code,
    Run.failed_step_index,
    Run.failed_step_name,
    Run.cost_micros,
)
# The lifecycle's columns beside them (`lc_run_id` None: no lifecycle row, the run is open).
LIFECYCLE = (
    AlertLifecycle.run_id.label("lc_run_id"),
    AlertLifecycle.on_it,
    AlertLifecycle.resolved_by,
    AlertLifecycle.resolved_at,
    AlertLifecycle.resolved_note,
    AlertLifecycle.recovered_by,
    AlertLifecycle.recovered_at,
)


def _select(listed: bool):
    return select(*LISTED) if listed else select(Run)


async def _fetch(session: AsyncSession, query, rows: bool, params: dict | None = None) -> list:
    """The rows of a page: `Run`s, or rows for a query of `LISTED` columns or one `_marked` widened."""
    if rows:
        return list((await session.execute(query, params)).all())
    return list((await session.scalars(query, params)).all())


# Page statements by shape (which filters are given), their values bound at execution: built once, so a page pays
# neither building the statement nor its cache key (SQLAlchemy memoises the key on the statement object).
_PAGES: dict[tuple, Any] = {}


def _page(shape: tuple, build: Callable[[], Any]):
    statement = _PAGES.get(shape)
    if statement is None:
        statement = _PAGES[shape] = build()
    return statement


def _bound(**values) -> dict:
    """The parameters of a page statement: the filters given (the shape left the others out)."""
    return {key: value for key, value in values.items() if value is not None}


def _marked(query, listed: bool = False):
    """The same page with each run's alert lifecycle (None: open) and whether a mute kept its alert quiet, in the
    one statement (a primary-key join and an indexed EXISTS per listed row), not two more round trips. `listed`:
    the lifecycle's columns (`LIFECYCLE`) rather than its entity."""
    muted = exists().where(MutedFailure.run_id == Run.id).label("muted")
    lifecycle = LIFECYCLE if listed else (AlertLifecycle,)
    return query.add_columns(*lifecycle, muted).outerjoin(AlertLifecycle, AlertLifecycle.run_id == Run.id)


def _min_cost(query, min_cost: int | None, by_cost: bool):
    """`query` without runs under `min_cost` (bound as `min_cost`; runs of unknown cost left out too). `+ 0` keeps
    the planner on the time-ordered index (a scan that stops at the page) rather than the cost index, which would
    fetch and sort every costly run: 1.8 ms instead of 27 ms on 1,000,000 runs; sorted by cost, that index serves."""
    if min_cost is None:
        return query
    cost = Run.cost_micros if by_cost else Run.cost_micros + 0
    return query.where(cost >= bindparam("min_cost"))


async def _costliest(
    session: AsyncSession,
    query,
    before: tuple | None,
    limit: int,
    *,
    unknown: bool,
    rows: bool = False,
    params: dict | None = None,
) -> list:
    """The costliest first, then (when `unknown`) the runs of unknown cost, newest id first; `before` is the
    (cost_micros, id) of the previous page's last row. Two plain descending reads, each served by the
    (status, cost_micros) or (cost_micros) index on SQLite and PostgreSQL alike (no NULLS LAST sort)."""
    found: list = []
    if before is None or before[0] is not None:
        known = query.where(Run.cost_micros.is_not(None))
        if before is not None:
            cost, run_id = before
            known = known.where(or_(Run.cost_micros < cost, and_(Run.cost_micros == cost, Run.id < run_id)))
        found = await _fetch(session, known.order_by(Run.cost_micros.desc(), Run.id.desc()).limit(limit), rows, params)
    if unknown and len(found) < limit:
        rest = query.where(Run.cost_micros.is_(None))
        if before is not None and before[0] is None:
            rest = rest.where(Run.id < before[1])
        found += await _fetch(session, rest.order_by(Run.id.desc()).limit(limit - len(found)), rows, params)
    return found


async def failed_runs(
    session: AsyncSession,
    *,
    since: datetime | None = None,
    workflow: str | None = None,
    code: str | None = None,
    min_cost: int | None = None,
    by_cost: bool = False,
    limit: int = 10,
    before: tuple | None = None,
    open_only: bool = False,
    marked: bool = False,
    listed: bool = False,
) -> list:
    """Failed runs, newest failure first (or the costliest, `by_cost`); `before` is the (completed_at, id) of
    the last row of the previous page. `min_cost` (micro-dollars) leaves out runs of unknown cost; `open_only`:
    those nobody handles (not recovered, not resolved, nobody on it). `marked`: (run, lifecycle, muted) rows;
    `listed`: rows of the `LISTED` columns (with `marked`, the `LIFECYCLE` columns and `muted` beside them)."""
    given = (bool(workflow), bool(code), bool(since), min_cost is not None)
    params = _bound(workflow=workflow or None, code=code or None, since=since or None, min_cost=min_cost)

    def filtered():
        query = _select(listed).where(Run.status == "failed")
        if marked:
            query = _marked(query, listed)
        if open_only:
            query = query.where(is_open())
        if workflow:
            query = query.where(Run.workflow_id == bindparam("workflow"))
        if code:
            query = query.where(Run.error_code == bindparam("code"))
        if since:
            query = query.where(Run.completed_at >= bindparam("since"))
        return _min_cost(query, min_cost, by_cost)

    if by_cost:
        found = await _costliest(
            session, filtered(), before, limit, unknown=min_cost is None, rows=marked or listed, params=params
        )
        return found

    def page():
        query = filtered()
        if before:
            query = query.where(
                or_(
                    Run.completed_at < bindparam("before_at"),
                    and_(Run.completed_at == bindparam("before_at"), Run.id < bindparam("before_id")),
                )
            )
        return query.order_by(Run.completed_at.desc(), Run.id.desc()).limit(bindparam("limit", type_=Integer))

    statement = _page(("failed", marked, listed, open_only, *given, bool(before)), page)
    if before:
        params.update(before_at=before[0], before_id=before[1])
    return await _fetch(session, statement, marked or listed, {**params, "limit": limit})


async def list_runs(
    session: AsyncSession,
    *,
    statuses: list[str] | None = None,
    since: datetime | None = None,
    workflow: str | None = None,
    model: str | None = None,
    min_cost: int | None = None,
    by_cost: bool = False,
    limit: int = 10,
    before: tuple | None = None,
    listed: bool = False,
) -> list:
    """Runs of any status, newest created first (or the costliest, `by_cost`); `listed`: rows of the `LISTED`
    columns."""
    given = (bool(statuses), bool(workflow), bool(model), bool(since), min_cost is not None)
    params = _bound(statuses=statuses or None, workflow=workflow or None, model=model or None, since=since or None)
    params.update(_bound(min_cost=min_cost))

    def filtered():
        query = _select(listed)
        if statuses:
            query = query.where(Run.status.in_(bindparam("statuses", expanding=True)))
        if workflow:
            query = query.where(Run.workflow_id == bindparam("workflow"))
        if model:
            query = query.where(Run.model == bindparam("model"))
        if since:
            query = query.where(Run.created_at >= bindparam("since"))
        return _min_cost(query, min_cost, by_cost)

    if by_cost:
        return await _costliest(
            session, filtered(), before, limit, unknown=min_cost is None, rows=listed, params=params
        )

    def page():
        query = filtered()
        if before:
            query = query.where(
                or_(
                    Run.created_at < bindparam("before_at"),
                    and_(Run.created_at == bindparam("before_at"), Run.id < bindparam("before_id")),
                )
            )
        return query.order_by(Run.created_at.desc(), Run.id.desc()).limit(bindparam("limit", type_=Integer))

    statement = _page(("list", listed, *given, bool(before)), page)
    if before:
        params.update(before_at=before[0], before_id=before[1])
    return await _fetch(session, statement, listed, {**params, "limit": limit})


@functools.cache
def _workflow_named():
    named = bindparam("name", type_=String)
    return select(Workflow.id).where(or_(Workflow.id == named, Workflow.name == named)).order_by(Workflow.id)


@functools.cache
def _every_workflow():
    return select(Workflow.id, Workflow.name)


async def workflow_ids(session: AsyncSession, name_or_id: str) -> list[str]:
    """`resolve_workflow`'s answer as ids, the id and the exact name read in one Core select (`session` may be a
    connection or a `store.reads.Reader`: statements built once); only a name matched in another case reads every
    workflow."""
    rows = (await session.execute(_workflow_named(), {"name": name_or_id})).all()
    ids = [row.id for row in rows]
    if name_or_id in ids:
        return [name_or_id]
    if ids:
        return ids
    folded = name_or_id.casefold()
    return [row.id for row in (await session.execute(_every_workflow())).all() if row.name.casefold() == folded]


async def resolve_workflow(session: AsyncSession, name_or_id: str) -> list[Workflow]:
    """A workflow by id, else by name (case-insensitive): zero, one or several matches."""
    exact = await session.get(Workflow, name_or_id)
    if exact is not None:
        return [exact]
    rows = (await session.scalars(select(Workflow).where(Workflow.name == name_or_id))).all()
    if rows:
        return list(rows)
    folded = name_or_id.casefold()
    return [w for w in (await session.scalars(select(Workflow))).all() if w.name.casefold() == folded]


async def failure_channels(session: AsyncSession, settings, workflow_id: str) -> list[str]:
    """Where a failure of this workflow is alerted: ALERT_CHANNEL and every channel subscribed to its failures."""
    channels = [settings.ALERT_CHANNEL] if settings.ALERT_CHANNEL else []
    subscribed = (
        await session.scalars(
            select(Subscription.channel)
            .where(Subscription.workflow_id == workflow_id, Subscription.failures.is_(True))
            .order_by(Subscription.channel)
        )
    ).all()
    return channels + [c for c in subscribed if c not in channels]


async def approval_channels(session: AsyncSession, settings, workflow_id: str) -> list[str]:
    """Where an approval card of this workflow goes: APPROVAL_CHANNEL and every channel subscribed to its approvals."""
    channels = [settings.APPROVAL_CHANNEL] if settings.APPROVAL_CHANNEL else []
    subscribed = (
        await session.scalars(
            select(Subscription.channel)
            .where(Subscription.workflow_id == workflow_id, Subscription.approvals.is_(True))
            .order_by(Subscription.channel)
        )
    ).all()
    return channels + [c for c in subscribed if c not in channels]


async def audit_entries(
    session: AsyncSession, *, target: str | None = None, since: datetime | None = None, limit: int = 20
) -> list[AuditEntry]:
    query = select(AuditEntry)
    if target:
        query = query.where(AuditEntry.target == target)
    if since:
        query = query.where(AuditEntry.at >= since)
    return list((await session.scalars(query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit))).all())


async def known_workflows(session: AsyncSession, *, limit: int = 25) -> list[Workflow]:
    return list((await session.scalars(select(Workflow).order_by(Workflow.name).limit(limit))).all())


async def workflows_by_id(session: AsyncSession, ids: list[str]) -> list[Workflow]:
    if not ids:
        return []
    return list((await session.scalars(select(Workflow).where(Workflow.id.in_(ids)))).all())


async def channel_subscriptions(session: AsyncSession, channel: str) -> list[Subscription]:
    """What one channel is subscribed to (served by the primary key, channel first)."""
    return list(
        (
            await session.scalars(
                select(Subscription).where(Subscription.channel == channel).order_by(Subscription.workflow_id)
            )
        ).all()
    )


async def pending_approvals(session: AsyncSession, *, limit: int = 25) -> list[Approval]:
    """Approval tasks waiting for a decision, the soonest to expire first."""
    return list(
        (
            await session.scalars(
                select(Approval)
                .where(Approval.status == "pending")
                .order_by(Approval.expires_at, Approval.id)
                .limit(limit)
            )
        ).all()
    )


async def approvals_by_id(session: AsyncSession, ids: list[str | None]) -> list[Approval]:
    wanted = sorted({i for i in ids if i})
    return list((await session.scalars(select(Approval).where(Approval.id.in_(wanted)))).all()) if wanted else []
