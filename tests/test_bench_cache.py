"""The benchmark's cached store is keyed by the Alembic migration head and the dataset's parameters: a store
built at an older head is never handed to a bot (it answered HTTP 500 "no such table: alert_lifecycle")."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from alembic import command

from benchmarks import dataset
from store.db import alembic_config, migration_state

N = 300


def _tables(path: Path) -> set[str]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        db.close()


def _old_store(path: Path, revision: str) -> None:
    """A store as a bench of an older head left it: migrated to `revision`, with fresh targets."""
    cfg = alembic_config(f"sqlite:///{path}")
    command.upgrade(cfg, revision)
    targets = dataset.pick_targets(N, now=datetime.now(timezone.utc))
    db = sqlite3.connect(path)
    with db:
        db.execute("INSERT INTO kv (key, value) VALUES ('bench.generated', ?)", (json.dumps(targets),))
    db.close()


async def test_a_store_built_at_an_older_migration_head_is_rebuilt(tmp_path):
    unkeyed = tmp_path / f"runs-{N}.db"  # the name caches had before they were keyed
    _old_store(unkeyed, "0005")
    older = dataset.cache_path(N, out=tmp_path, head="0005.0000000000")
    _old_store(older, "0005")
    assert "alert_lifecycle" not in _tables(older)

    path, targets, seconds = await dataset.sqlite_store(N, out=tmp_path)

    assert seconds is not None, "the store of an older head was reused"
    assert path not in (unkeyed, older) and path == dataset.cache_path(N, out=tmp_path)
    assert {"alert_lifecycle", "cost_rollups", "runs", "steps"} <= _tables(path)
    assert targets["runs"] == N and targets["usage"]
    from store.db import create_engine

    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        current, head = await migration_state(engine)
    finally:
        await engine.dispose()
    assert current == head and dataset.migration_head().startswith(f"{head}.")
    assert not unkeyed.exists() and not older.exists(), "stale caches of the same size are left behind"

    again, _, seconds = await dataset.sqlite_store(N, out=tmp_path)
    assert again == path and seconds is None  # the same head and parameters: the cache serves


def test_the_key_follows_the_migration_head_and_the_parameters():
    key = dataset.store_key(N)
    assert dataset.store_key(N) == key
    assert dataset.store_key(N, head="0099.0123456789") != key
    assert dataset.cache_path(N + 1).name != dataset.cache_path(N).name
