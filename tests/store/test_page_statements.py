"""`/runs failed` and `/runs list` pages come from statements built once per shape (which filters are given) and
executed with each request's values: a statement reused with other values must give what a Python filter of the
same runs gives, in order, page after page, on SQLite and PostgreSQL alike; the `listed` rows carry the columns
a page shows, with the lifecycle's beside them; and `--workflow` resolves to the same ids in one Core select. Each
on a connection and on the raw read path the slash commands use (`store/reads.py`)."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta, timezone

import pytest

from store.db import create_engine, sessionmaker, upgrade
from store.models import AlertLifecycle, Run, Workflow
from store.queries import failed_runs, list_runs, resolve_workflow, workflow_ids
from store.reads import Reader

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
READS = pytest.mark.parametrize("via", ["connection", "reader"])  # an AsyncConnection, or the raw read path


@contextlib.asynccontextmanager
async def reads(engine, via: str):
    """What the statements run on: a connection, or the `Reader` the slash commands read through."""
    if via == "connection":
        async with engine.connect() as conn:
            yield conn
        return
    reader = Reader(engine)
    try:
        yield reader
    finally:
        await reader.close()


def _runs() -> list[Run]:
    runs = []
    for i in range(40):
        status = ("failed", "running", "completed")[i % 3]
        at = NOW - timedelta(hours=i)
        runs.append(
            Run(
                id=f"run_page{i:03d}",
                workflow_id=f"wf_{i % 2}",
                workflow_name=f"Workflow {i % 2}",
                status=status,
                created_at=at,
                started_at=at,
                completed_at=at if status != "running" else None,
                updated_at=at,
                error_code=("rate_limited", "timeout")[i % 4 // 2] if status == "failed" else None,
                model=("m1", "m2")[i % 5 % 2],
                cost_micros=None if i % 7 == 0 else i * 1000,
                failed_step_index=1 if status == "failed" else None,
                failed_step_name=f"Step of run_page{i:03d}" if status == "failed" else None,
                data={"id": f"run_page{i:03d}", "steps": []},
            )
        )
    return runs


async def _pages(fetch, limit: int, key) -> list[str]:
    """Every page in turn, each after the previous page's last row, as the Next page button asks."""
    ids, before = [], None
    while True:
        rows = await fetch(limit=limit + 1, before=before)
        page = rows[:limit]
        ids += [r.id for r in page]
        if len(rows) <= limit:
            return ids
        before = key(page[-1])


@READS
async def test_reused_page_statements_give_what_a_filter_of_the_runs_gives(db_url, via):
    engine = create_engine(db_url)
    try:
        await upgrade(engine)
        runs = _runs()
        async with sessionmaker(engine).begin() as session:
            session.add_all(runs)
            session.add(AlertLifecycle(run_id="run_page003", on_it=[], resolved_by="U0ANA", resolved_at=NOW))
        newest_failed = sorted((r for r in runs if r.status == "failed"), key=lambda r: r.completed_at, reverse=True)
        newest = sorted(runs, key=lambda r: r.created_at, reverse=True)
        async with reads(engine, via) as conn:
            for workflow, code, since, min_cost in [
                (None, None, None, None),
                ("wf_1", None, None, None),
                ("wf_0", None, None, None),  # the same shape, another value
                (None, "timeout", NOW - timedelta(hours=30), None),
                (None, "rate_limited", NOW - timedelta(hours=20), 5000),
                (None, None, None, 12000),
            ]:
                want = [
                    r.id
                    for r in newest_failed
                    if (workflow is None or r.workflow_id == workflow)
                    and (code is None or r.error_code == code)
                    and (since is None or r.completed_at >= since)
                    and (min_cost is None or (r.cost_micros is not None and r.cost_micros >= min_cost))
                ]

                async def fetch(**kw):
                    return await failed_runs(
                        conn,
                        workflow=workflow,
                        code=code,
                        since=since,
                        min_cost=min_cost,
                        marked=True,
                        listed=True,
                        **kw,
                    )

                for limit in (3, 50):
                    got = await _pages(fetch, limit, lambda r: (r.completed_at, r.id))
                    assert got == want, (workflow, code, since, min_cost, limit)
            rows = await failed_runs(conn, marked=True, listed=True, limit=50)
            marked = {r.id: (r.lc_run_id, r.resolved_by) for r in rows}
            assert marked["run_page003"] == ("run_page003", "U0ANA") and marked["run_page000"] == (None, None)
            assert {r.id: (r.failed_step_index, r.failed_step_name) for r in rows} == {
                r.id: (1, f"Step of {r.id}") for r in newest_failed
            }

            for statuses, model, since in [
                (None, None, None),
                (["running"], None, None),
                (["completed", "failed"], "m2", None),
                (["failed"], "m1", NOW - timedelta(hours=25)),
            ]:
                want = [
                    r.id
                    for r in newest
                    if (statuses is None or r.status in statuses)
                    and (model is None or r.model == model)
                    and (since is None or r.created_at >= since)
                ]

                async def fetch(**kw):
                    return await list_runs(conn, statuses=statuses, model=model, since=since, listed=True, **kw)

                assert await _pages(fetch, 4, lambda r: (r.created_at, r.id)) == want, (statuses, model, since)
    finally:
        await engine.dispose()


@READS
async def test_workflow_ids_in_one_core_select_match_the_entities_lookup(db_url, via):
    engine = create_engine(db_url)
    try:
        await upgrade(engine)
        async with sessionmaker(engine).begin() as session:
            session.add_all(
                Workflow(id=i, name=n)
                for i, n in [
                    ("wf_a", "Invoices"),
                    ("wf_b", "Invoices"),
                    ("wf_c", "Summaries"),
                    ("Summaries", "Other"),  # an id that is another workflow's name: the id wins
                ]
            )
        async with reads(engine, via) as conn, sessionmaker(engine)() as session:
            for typed in ["wf_a", "Invoices", "invoices", "Summaries", "summaries", "OTHER", "nope", ""]:
                want = sorted(w.id for w in await resolve_workflow(session, typed))
                assert sorted(await workflow_ids(conn, typed)) == want, typed
            assert await workflow_ids(conn, "Summaries") == ["Summaries"]
            assert await workflow_ids(conn, "Invoices") == ["wf_a", "wf_b"]
    finally:
        await engine.dispose()
