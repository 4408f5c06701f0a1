"""`runs_by_prefix` reads both ranges of a prefix typed without `run_` in one statement; what it returns, and in
which order, is what one read per range gave (each range's first runs by id, the bare prefix's first)."""

from __future__ import annotations

from datetime import datetime, timezone

from store.db import create_engine, sessionmaker, upgrade
from store.models import Run
from store.queries import prefix_range, runs_by_prefix

IDS = [f"run_{c}{i:02d}x" for c in "abrsu" for i in range(9)] + ["rb01", "rb02", "ru", "run_", "zzz1", "run_zzz1"]


async def _per_range(session, prefix: str, limit: int) -> list[str]:
    """The reference: one ordered, limited read per range, merged in range order (the code before the change)."""
    from sqlalchemy import select

    found: dict[str, None] = {}
    for p in [prefix] if prefix.startswith("run_") else [prefix, f"run_{prefix}"]:
        low, high = prefix_range(p)
        rows = await session.scalars(select(Run.id).where(Run.id >= low, Run.id < high).order_by(Run.id).limit(limit))
        for run_id in rows:
            found.setdefault(run_id, None)
    return list(found)[:limit]


async def test_one_statement_gives_what_one_read_per_range_gave(db_url):
    engine = create_engine(db_url)
    try:
        await upgrade(engine)
        sessions = sessionmaker(engine)
        now = datetime.now(timezone.utc)
        async with sessions.begin() as session:
            session.add_all(
                Run(id=i, workflow_id="wf", workflow_name="wf", status="completed", created_at=now, updated_at=now)
                for i in IDS
            )
        async with sessions() as session:
            for prefix in ["a", "a0", "a03", "r", "ru", "run", "run_", "run_b", "rb", "s", "zzz", "zzz1", "q"]:
                for limit in (1, 6, 20):
                    got = [r.id for r in await runs_by_prefix(session, prefix, limit=limit)]
                    assert got == await _per_range(session, prefix, limit), (prefix, limit)
        async with engine.connect() as conn:  # rows of the table's columns (`/runs show`), the same runs
            for prefix in ["a", "a03", "r", "run_b", "rb", "zzz1", "q"]:
                rows = await runs_by_prefix(conn, prefix, limit=6, rows=True)
                async with sessions() as session:
                    assert [r.id for r in rows] == await _per_range(session, prefix, 6), prefix
                assert all(r.workflow_id == "wf" and r.status == "completed" for r in rows)
    finally:
        await engine.dispose()
