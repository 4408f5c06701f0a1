"""The read path of the answers people wait for (`/runs failed`, `/runs list`, `/runs cost`): Core selects
compiled once by SQLAlchemy and run on the driver itself, so a read costs what the database takes plus one hop.

Through an `AsyncConnection` a select pays a pool checkout, SQLAlchemy's result machinery and, on SQLite, four
trips to aiosqlite's thread (cursor, execute, fetch, close) and a rollback on return: 1.0-1.6 ms for a page that
SQLite reads in 0.08 ms (`benchmarks/RESULTS.md`, "Issue 17, last pass"). Here:

- SQLite: connections of its own, opened read-only (`PRAGMA query_only`), in autocommit so every statement
  reads the last committed state (WAL: readers do not wait for the writer). A bounded read (an index range that
  stops at a page, a few days of rollups: what every statement here is unless marked `LONG_READ`) runs on the
  event loop's own connection: 0.05-0.5 ms of SQLite, where a trip to a thread and back cost 0.1-0.3 ms more on
  this 2-core VM and widened the tail (`/runs cost` p99 7.1-7.4 ms with the trips, 4.4-5.0 ms without). Its busy
  timeout is zero: in the rare moment a reader must wait (another connection holding the file exclusively), the
  read goes to a thread instead of holding the loop. A `LONG_READ` (a whole period of rollups) always runs on
  one of `READERS` connections, each on its own thread (`aiosqlite`: one trip runs the statement and fetches its
  rows). A database in memory (one per connection) is read through the engine's connection instead.
- PostgreSQL: a connection from the engine's pool, the statement run by asyncpg itself (its prepared-statement
  cache, no transaction begun, so none to roll back).

What SQLAlchemy does is kept: the SQL is its compiled statement (binds, `IN` lists expanded, casts), parameters go
through the columns' bind processors and values through their result processors, so a row holds what a Core
select's row holds (datetimes, dicts from JSON). Rows are named tuples (`row.id`, `row[0]`, unpacking).
`tests/store/test_reads.py` compares both paths on SQLite and PostgreSQL.

Statements are compiled once per statement object: pass statements built once (module constants, or the
page statements of `store/queries.py` kept by shape) with their values bound at execution."""

from __future__ import annotations

import asyncio
import collections
import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any

import aiosqlite
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Select

READERS = 2  # SQLite connections on threads, for long reads and for reads that found the file busy
LONG_READ = "runbot_long_read"  # a statement's execution option: it may read much (runs on a reader thread)
COMPILED_KEPT = 512  # compiled statements kept; statements built anew each time would otherwise pile up


class Plan:
    """A statement compiled for one dialect: its SQL, the bind processors, the row type and the processors of
    the columns that need one (index, processor)."""

    __slots__ = ("compiled", "row", "results", "long")

    def __init__(self, statement: Select, engine: AsyncEngine) -> None:
        dialect = engine.dialect
        self.long = bool(statement.get_execution_options().get(LONG_READ))
        self.compiled = statement.compile(dialect=dialect)
        columns = list(statement.selected_columns)
        self.row = collections.namedtuple("Row", [c.key for c in columns], rename=True)  # type: ignore[misc]
        processors = [c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns]
        self.results = tuple((i, p) for i, p in enumerate(processors) if p is not None)

    def arguments(self, params: Mapping[str, Any] | None) -> tuple[str, tuple]:
        """The SQL with its `IN` lists expanded and the positional values, each through its bind processor."""
        state = self.compiled.construct_expanded_state(dict(params) if params else None, escape_names=False)
        processors = state.processors
        values = state.parameters
        order = state.positiontup or ()
        return state.statement, tuple(
            processors[key](values[key]) if key in processors else values[key] for key in order
        )

    def rows(self, raw: Sequence[Sequence[Any]]) -> list:
        make, results = self.row._make, self.results
        if not results:
            return [make(r) for r in raw]
        out = []
        for r in raw:
            values = list(r)
            for i, process in results:
                values[i] = process(values[i])
            out.append(make(values))
        return out


class Result:
    """What callers read of a select's result: its rows (`.all()`, as the reads of queries and rollups do)."""

    __slots__ = ("_rows",)

    def __init__(self, rows: list) -> None:
        self._rows = rows

    def all(self) -> list:
        return self._rows


class Reader:
    """Core selects on the driver (see the module's docstring). `execute(statement, params)` answers as an
    `AsyncConnection.execute` of a select does, for the reads of `store/queries.py` and `store/rollups.py` that
    take "a connection or a reader"."""

    def __init__(self, engine: AsyncEngine, *, readers: int = READERS) -> None:
        self.engine = engine
        self._plans: dict[int, tuple[Select, Plan]] = {}
        self._path = _sqlite_file(engine)
        self._size = readers
        self._connections: list[aiosqlite.Connection] = []
        self._busy: dict[int, int] = {}
        self._opening: asyncio.Lock | None = None
        self._loop_connection: sqlite3.Connection | None = None
        self._closed = False

    def plan(self, statement: Select) -> Plan:
        kept = self._plans.get(id(statement))
        if kept is not None and kept[0] is statement:
            return kept[1]
        if len(self._plans) >= COMPILED_KEPT:
            self._plans.pop(next(iter(self._plans)))
        plan = Plan(statement, self.engine)
        self._plans[id(statement)] = (statement, plan)  # the statement kept with it: its id is not reused
        return plan

    async def execute(self, statement: Select, params: Mapping[str, Any] | None = None) -> Result:
        plan = self.plan(statement)
        sql, args = plan.arguments(params)
        if self._path is None:
            raw = await self._through_engine(sql, args)
        else:
            raw = None if plan.long else self._inline(sql, args)
            if raw is None:
                raw = await self._on_reader(sql, args)
        return Result(plan.rows(raw))

    def _inline(self, sql: str, args: tuple) -> list | None:
        """A bounded read on the event loop's connection; None when the file is busy (then a thread reads it)."""
        if self._closed:
            raise RuntimeError("the reader is closed")
        try:
            if self._loop_connection is None:
                conn = sqlite3.connect(self._path, timeout=0)  # a busy file answers at once, never holds the loop
                conn.execute("PRAGMA query_only=ON")
                self._loop_connection = conn
            return self._loop_connection.execute(sql, args).fetchall()
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                return None
            raise

    async def _through_engine(self, sql: str, args: tuple) -> Sequence[Sequence[Any]]:
        async with self.engine.connect() as conn:
            driver = (await conn.get_raw_connection()).driver_connection
            if self.engine.dialect.name == "postgresql":
                return await driver.fetch(sql, *args)
            return await driver.execute_fetchall(sql, args)

    async def _on_reader(self, sql: str, args: tuple) -> Sequence[Sequence[Any]]:
        if self._closed:
            raise RuntimeError("the reader is closed")
        if len(self._connections) < self._size:
            await self._open()
        conn = min(self._connections, key=lambda c: self._busy[id(c)])
        self._busy[id(conn)] += 1
        try:
            return await conn.execute_fetchall(sql, args)
        finally:
            self._busy[id(conn)] -= 1

    async def _open(self) -> None:
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            while len(self._connections) < self._size:
                conn = await aiosqlite.connect(self._path, timeout=30)
                await conn.execute("PRAGMA query_only=ON")
                await conn.execute("PRAGMA busy_timeout=30000")
                self._busy[id(conn)] = 0
                self._connections.append(conn)

    async def close(self) -> None:
        self._closed = True
        if self._loop_connection is not None:
            self._loop_connection.close()
            self._loop_connection = None
        connections, self._connections = self._connections, []
        for conn in connections:
            await conn.close()


def _sqlite_file(engine: AsyncEngine) -> str | None:
    """The file of a SQLite database (None: PostgreSQL, or a database in memory that other connections cannot
    see)."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:") or engine.url.query.get("uri"):
        return None
    return database
