"""Database engine, sessions and migrations: SQLite (WAL) by default, PostgreSQL through asyncpg. The dialect
is decided here, once (`is_postgres`, `insert_for`), and sessions wake the outbox's deliverer after a commit
that wrote to the outbox (`on_outbox_commit`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from pathlib import Path
from typing import Callable

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import ORMExecuteState, Session

from store.models import OutboxItem

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
# Any constant both replicas agree on: the advisory lock that serialises migrations at start.
MIGRATION_LOCK_KEY = 0x72756E626F74
# Alembic keeps its context in module globals: one migration at a time within a process too.
_locks: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock]" = weakref.WeakKeyDictionary()


def _in_process() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    if loop not in _locks:
        _locks[loop] = asyncio.Lock()
    return _locks[loop]


def is_postgres(bind: AsyncEngine | AsyncSession) -> bool:
    """Whether an engine, or the engine a session is bound to, is PostgreSQL (else SQLite)."""
    engine = bind.bind if isinstance(bind, AsyncSession) else bind
    return engine.dialect.name == "postgresql"


def insert_for(session: AsyncSession):
    """The dialect's INSERT, for ON CONFLICT clauses (both dialects spell them the same way)."""
    return pg_insert if is_postgres(session) else sqlite_insert


def create_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_async_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True, pool_recycle=1800)


# session.info key: this transaction added or changed outbox rows.
OUTBOX_WRITTEN = "outbox_written"
# session.info key: a write transaction (`sessions.begin()`); on SQLite it holds the write lock from its start.
WRITES = "writes"


def _note_outbox_rows(session: Session, _context, _instances) -> None:
    if any(isinstance(obj, OutboxItem) for obj in (*session.new, *session.dirty)):
        session.info[OUTBOX_WRITTEN] = True


def _note_outbox_statements(state: ORMExecuteState) -> None:
    mapper = state.bind_mapper
    if (state.is_insert or state.is_update) and mapper is not None and mapper.class_ is OutboxItem:
        state.session.info[OUTBOX_WRITTEN] = True


def _forget_outbox_rows(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None:  # the whole transaction, not a savepoint, was rolled back
        session.info.pop(OUTBOX_WRITTEN, None)


def _sqlite_write_lock(session: Session, _transaction, connection) -> None:
    """A write transaction on SQLite starts with BEGIN IMMEDIATE. The driver otherwise begins at the first
    INSERT/UPDATE/DELETE, so what a transaction read before its first write was read outside it: two writers
    (a webhook and a tracking poll merging the same run) could both read "running", then both store
    "completed" in turn and both react to the change. Holding the lock from the first statement makes the store's
    "SQLite has one writer" true for everything a transaction reads (readers still read, WAL)."""
    if session.info.get(WRITES) and connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")


class Sessions(async_sessionmaker):
    """`sessions()` for reads (and writes committed by hand); `sessions.begin()` for a write transaction that
    commits when the block ends and, on SQLite, holds the write lock from its first statement.

    On SQLite the write transactions of this process also queue on an asyncio lock, first come first served:
    waiting in SQLite's busy handler instead means sleeping 1 to 100 ms a try while the lock may come free, so
    under a burst a Slack post's bookkeeping or a failure's alert lost rounds to the ingest writer. One process
    writes one SQLite file (docs/deployment.md), so the queue sees every writer that matters."""

    def __init__(self, engine: AsyncEngine, **kw) -> None:
        super().__init__(engine, **kw)
        self.write_queue = asyncio.Lock() if engine.dialect.name == "sqlite" else None
        self._writer: asyncio.Task | None = None

    @contextlib.asynccontextmanager
    async def begin(self):
        if self.write_queue is None:
            async with self(info={WRITES: True}) as session, session.begin():
                yield session
            return
        me = asyncio.current_task()
        if self._writer is me:
            raise RuntimeError("a write transaction opened inside another one would wait for itself")
        async with self.write_queue:
            self._writer = me
            try:
                async with self(info={WRITES: True}) as session, session.begin():
                    yield session
            finally:
                self._writer = None


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions of one engine. Their class is their own, so the deliverer of one app listens to its sessions
    only (see `on_outbox_commit`)."""
    session_class = type("StoreSession", (Session,), {"outbox_listeners": []})
    event.listen(session_class, "before_flush", _note_outbox_rows)
    event.listen(session_class, "do_orm_execute", _note_outbox_statements)
    event.listen(session_class, "after_soft_rollback", _forget_outbox_rows)
    event.listen(session_class, "after_begin", _sqlite_write_lock)

    def _after_commit(session: Session) -> None:
        if session.info.pop(OUTBOX_WRITTEN, False):
            for listener in session_class.outbox_listeners:
                listener()

    event.listen(session_class, "after_commit", _after_commit)
    return Sessions(engine, expire_on_commit=False, sync_session_class=session_class)


def on_outbox_commit(sessions: async_sessionmaker[AsyncSession], listener: Callable[[], None]) -> None:
    """Call `listener` after each commit of these sessions that added or changed outbox rows: never before
    the rows are visible to the deliverer, and without the writer having to remember it."""
    sessions.kw["sync_session_class"].outbox_listeners.append(listener)


def alembic_config(url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if url:
        cfg.set_main_option("sqlalchemy.url", url)
    return cfg


async def upgrade(engine: AsyncEngine) -> None:
    """Apply every migration, under a database lock so replicas starting together do not race."""

    def _run(connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")

    async with _in_process(), engine.connect() as conn:
        if is_postgres(engine):
            await conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
            await conn.commit()
        try:
            await conn.run_sync(_run)
            await conn.commit()
        finally:
            if is_postgres(engine):
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY})
                await conn.commit()
    log.info("database schema is up to date")


async def ping(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def migration_state(engine: AsyncEngine) -> tuple[str | None, str | None]:
    """The database's Alembic revision (None before the first migration) and the newest one this code ships."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    async with engine.connect() as conn:
        current = await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())
    return current, head


# SQLSTATEs of a failure of the moment, not of the statement: a deadlock or serialization failure PostgreSQL
# broke by aborting this transaction, a lock wait that timed out, the server going away.
TRANSIENT_SQLSTATES = {"40001", "40P01", "55P03", "57P01", "57P02", "57P03", "08000", "08003", "08006"}


def transient(exc: BaseException) -> bool:
    """Whether a transaction failed for a reason of the moment (retry it as it was), not because of what it
    did: a deadlock with another replica, SQLite's "database is locked", a lost connection."""
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        for orig in (exc.orig, getattr(exc.orig, "__cause__", None)):
            code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
            if code in TRANSIENT_SQLSTATES:
                return True
        return isinstance(exc, OperationalError) and "locked" in str(exc.orig)
    return isinstance(exc, (ConnectionError, asyncio.TimeoutError))
