"""The raw read path (`store/reads.py`) gives what a Core select on a connection gives, value for value and type
for type (aware datetimes, dicts from JSON, booleans, dates, NULLs, `IN` lists expanded), on SQLite and
PostgreSQL; it reads what was committed after its first read; on SQLite it cannot write, it reads a bounded
statement on the loop's own connection and a long one on a thread, and a read that finds the file busy waits on
a thread, never on the loop; and it reads a database in memory through the engine (other connections would see
another database)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import String, bindparam, exists, func, select, type_coerce

from store.db import create_engine, sessionmaker, upgrade
from store.models import CostRollup, MutedFailure, Run
from store.reads import LONG_READ, READERS, Reader

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)

RUNS = select(
    Run.id,
    Run.created_at,
    Run.completed_at,
    Run.cost_micros,
    Run.data,
    exists().where(MutedFailure.run_id == Run.id).label("muted"),
).where(Run.status.in_(bindparam("statuses", expanding=True)), Run.created_at >= bindparam("since"))
RUNS = RUNS.order_by(Run.id)
ROLLUPS = (
    select(type_coerce(CostRollup.day, String).label("day_text"), CostRollup.day, func.sum(CostRollup.cost_micros))
    .where(CostRollup.day >= bindparam("start"))
    .group_by(CostRollup.day)
    .order_by(CostRollup.day)
)


@contextlib.asynccontextmanager
async def reading(url: str, *, migrate: bool = True):
    """An engine (migrated unless told not to) and its `Reader`, both closed at the end."""
    engine = create_engine(url)
    reader = Reader(engine)
    try:
        if migrate:
            await upgrade(engine)
        yield engine, reader
    finally:
        await reader.close()
        await engine.dispose()


def _run(i: int, status: str) -> Run:
    at = NOW - timedelta(hours=i)
    return Run(
        id=f"run_read{i:02d}",
        workflow_id="wf_1",
        workflow_name="Workflow 1",
        status=status,
        created_at=at,
        started_at=at,
        completed_at=None if status == "running" else at + timedelta(minutes=1),
        updated_at=at,
        cost_micros=None if i % 3 == 0 else i * 1000,
        data={"id": f"run_read{i:02d}", "steps": [{"id": "s1", "usage": {"cost_usd": 0.5}}], "note": "é ✓"},
    )


async def test_the_read_path_gives_what_a_connection_gives(db_url):
    async with reading(db_url) as (engine, reader):
        async with sessionmaker(engine).begin() as session:
            session.add_all(_run(i, ("failed", "running", "completed")[i % 3]) for i in range(12))
            session.add(MutedFailure(channel="C0ALERTS", run_id="run_read01", workflow_id="wf_1", mute_id=1))
            session.add_all(
                CostRollup(
                    day=date(2026, 11, d),
                    workflow_id="wf_1",
                    model="m",
                    status="failed",
                    runs=1,
                    priced_runs=1,
                    cost_micros=d * 10,
                    input_tokens=0,
                    output_tokens=0,
                )
                for d in (27, 28, 30)
            )
        for params in (
            {"statuses": ["failed", "running"], "since": NOW - timedelta(hours=8)},
            {"statuses": ["completed"], "since": NOW - timedelta(days=2)},
            {"statuses": ["failed", "running", "completed"], "since": NOW - timedelta(days=2)},
            {"statuses": ["nothing"], "since": NOW},
        ):
            async with engine.connect() as conn:
                want = (await conn.execute(RUNS, params)).all()
            got = (await reader.execute(RUNS, params)).all()
            assert bool(want) == (params["statuses"] != ["nothing"]), params
            assert [tuple(r) for r in got] == [tuple(r) for r in want], params
            for g, w in zip(got, want):
                assert [type(v) for v in g] == [type(v) for v in w]
                assert g.created_at.tzinfo is not None and g.id == w.id and g.muted == w.muted
        got = (await reader.execute(RUNS, {"statuses": ["running"], "since": NOW - timedelta(hours=5)})).all()
        assert [(r.id, r.muted) for r in got] == [("run_read01", True), ("run_read04", False)]
        async with engine.connect() as conn:
            want = (await conn.execute(ROLLUPS, {"start": date(2026, 11, 28)})).all()
        got = (await reader.execute(ROLLUPS, {"start": date(2026, 11, 28)})).all()
        assert [tuple(r) for r in got] == [tuple(r) for r in want] and len(got) == 2
        assert got[0].day == date(2026, 11, 28)

        # A write committed after the reader's first read is read (each statement reads the last commit).
        async with sessionmaker(engine).begin() as session:
            session.add(_run(40, "failed"))
        got = (await reader.execute(RUNS, {"statuses": ["failed"], "since": NOW - timedelta(days=3)})).all()
        assert "run_read40" in {r.id for r in got}


async def test_the_read_path_cannot_write_on_sqlite(sqlite_url):
    async with reading(sqlite_url) as (engine, reader):
        await reader.execute(RUNS, {"statuses": ["failed"], "since": NOW})  # opens its connections
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            await reader._on_reader("DELETE FROM runs", ())


async def test_a_database_in_memory_is_read_through_the_engine():
    async with reading("sqlite+aiosqlite://", migrate=False) as (engine, reader):
        async with engine.begin() as conn:
            await conn.run_sync(Run.metadata.create_all)
        async with sessionmaker(engine).begin() as session:
            session.add(_run(1, "failed"))
        rows = (await reader.execute(RUNS, {"statuses": ["failed"], "since": NOW - timedelta(days=1)})).all()
        assert [r.id for r in rows] == ["run_read01"]


async def test_a_long_read_runs_on_a_thread_and_gives_the_same_rows(sqlite_url):
    async with reading(sqlite_url) as (engine, reader):
        async with sessionmaker(engine).begin() as session:
            session.add_all(_run(i, "failed") for i in range(5))
        params = {"statuses": ["failed"], "since": NOW - timedelta(days=1)}
        inline = (await reader.execute(RUNS, params)).all()
        assert reader._loop_connection is not None and not reader._connections  # read on the loop's connection
        long = (await reader.execute(RUNS.execution_options(**{LONG_READ: True}), params)).all()
        assert len(reader._connections) == READERS  # read on a thread's
        assert [tuple(r) for r in long] == [tuple(r) for r in inline] and len(inline) == 5


async def test_a_read_that_finds_the_file_busy_waits_on_a_thread_and_the_loop_keeps_running(sqlite_url, tmp_path):
    """Another connection holds the file exclusively: the loop's own read gives way at once (its busy timeout is
    zero) and a reader thread waits for the file, while the event loop goes on serving; the answer comes when
    the file is free."""
    async with reading(sqlite_url) as (engine, reader):
        async with sessionmaker(engine).begin() as session:
            session.add(_run(1, "failed"))
        await engine.dispose()  # its connections closed: the holder can take the file
        holder = sqlite3.connect(tmp_path / "runbot.db")
        try:
            holder.execute("PRAGMA locking_mode=EXCLUSIVE")
            holder.execute("UPDATE runs SET workflow_name = 'Held' WHERE id = 'run_read01'")
            holder.commit()  # exclusive locking mode keeps the lock after the commit, until the connection closes

            ticks = 0

            async def tick() -> None:
                nonlocal ticks
                while True:
                    ticks += 1
                    await asyncio.sleep(0.01)

            ticker = asyncio.create_task(tick())
            asyncio.get_running_loop().call_later(0.5, holder.close)
            rows = (await reader.execute(RUNS, {"statuses": ["failed"], "since": NOW - timedelta(days=1)})).all()
            ticker.cancel()
        finally:
            holder.close()
        assert [r.id for r in rows] == ["run_read01"]
        assert ticks >= 20  # the loop ran on while the read waited for the file (0.5 s: about 50 ticks)
        assert reader._connections  # the read was made on a thread
