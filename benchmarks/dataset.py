"""The store the slash-command benchmark reads: N runs (10% failed, 50 workflows, failures with their steps),
written straight into the tables the Alembic migration creates (`store.db.upgrade`), in bulk: raw sqlite3
in one transaction, or PostgreSQL COPY, with the runs' indexes rebuilt once at the end.

The SQLite file is cached under `benchmarks/out/`, named by a key of the Alembic migration head (its revision
and a digest of every migration script, so a new or edited migration rebuilds it) and of the dataset's
parameters (size, seed, shares, models, prices), and regenerated when it is a day old (runs span the last 28
days, so `--since 7d` keeps its meaning and housekeeping's retention never deletes them); caches of other keys
for the same size are removed; each benchmark works on a copy.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import random
import shutil
import sqlite3
import string
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from benchmarks.common import OUT
from benchmarks.cost_rows import POSTGRES_ROLLUPS, SQLITE_ROLLUPS, USAGE_COLUMNS, usage_of
from reference.platform.samples import ERROR_CATALOG, WORKFLOWS
from reference.platform.usage import PRICES
from store.db import MIGRATIONS, alembic_config, create_engine, upgrade

BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
SPAN = timedelta(days=28)
MAX_AGE_SECONDS = 86400
CHUNK = 50_000
SEED = 9
STATUS_SHARES = (
    ("failed", 0.10),
    ("cancelled", 0.03),
    ("running", 0.002),
    ("pending", 0.0005),
    ("waiting", 0.0005),
    ("paused", 0.0002),
)
MODELS = ("gpt-4.1-mini", "claude-sonnet-4-5", "gpt-4.1", "gemini-2.5-flash")
CODES = tuple(ERROR_CATALOG)
STEP_NAMES = ("Fetch input", "Extract fields", "Summarise with LLM", "Check policy", "Deliver result")
STEP_TYPES = ("http", "code", "llm", "code", "tool")
RUN_COLUMNS = (
    "id",
    "workflow_id",
    "workflow_name",
    "status",
    "created_at",
    "started_at",
    "completed_at",
    "updated_at",
    "duration_ms",
    "trigger_type",
    "actor_slack_id",
    "total_steps",
    "completed_steps",
    "model",
    "failed_step_id",
    "failed_step_index",
    "failed_step_name",
    "error_code",
    "replay_of",
    "alerted",
    "data",
    *USAGE_COLUMNS,
)
STEP_COLUMNS = ("run_id", "id", "index", "name", "type", "status", "started_at", "completed_at", "error")


def workflows() -> list[tuple[str, str]]:
    known = [(w["id"], w["name"]) for w in WORKFLOWS]
    return known + [(f"wf_bench_{i:02d}", f"Bench workflow {i:02d}") for i in range(len(known) + 1, 51)]


def _rfc3339(dt: datetime | None) -> str | None:
    return None if dt is None else dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _sqlite_ts(dt: datetime | None) -> str | None:
    return None if dt is None else dt.strftime("%Y-%m-%d %H:%M:%S.%f")


def _status(rng: random.Random) -> str:
    r = rng.random()
    for status, share in STATUS_SHARES:
        if r < share:
            return status
        r -= share
    return "completed"


def generate(n: int, *, now: datetime, seed: int = SEED):
    """Yield (run_row, step_rows) in id order; timestamps as datetimes, `data` as JSON text."""
    rng = random.Random(seed)
    ids: set[str] = set()
    while len(ids) < n:
        ids.add("run_" + "".join(rng.choices(BASE62, k=12)))
    flows = workflows()
    for run_id in sorted(ids):
        wf_id, wf_name = flows[rng.randrange(len(flows))]
        status = _status(rng)
        active = status in ("running", "pending", "waiting", "paused")
        created = now - (timedelta(seconds=rng.uniform(60, 7200)) if active else SPAN * rng.random())
        started = None if status == "pending" else created + timedelta(seconds=1)
        duration = rng.randint(5_000, 300_000)
        completed = None if active else started + timedelta(milliseconds=duration)
        updated = completed or started or created
        model = MODELS[rng.randrange(len(MODELS))]
        done_steps = 5 if status == "completed" else rng.randint(0, 4)
        data = {
            "id": run_id,
            "workflow": {"id": wf_id, "name": wf_name},
            "status": status,
            "created_at": _rfc3339(created),
            "started_at": _rfc3339(started),
            "completed_at": _rfc3339(completed),
            "updated_at": _rfc3339(updated),
            "duration_ms": None if active else duration,
            "trigger": {"type": "schedule", "payload": {"batch": rng.randint(1, 9999)}},
            "progress": {"total_steps": 5, "completed_steps": done_steps},
            "model": model,
            "failed_step_id": None,
            "replay_of": None,
        }
        steps: list[tuple] = []
        code = None
        failed_step_id = None
        if status == "failed":
            code = CODES[rng.randrange(len(CODES))]
            message, provider_status, retryable, _ = ERROR_CATALOG[code]
            failed_step_id = f"step_{done_steps + 1}"
            step_json = []
            for i in range(5):
                st = "completed" if i < done_steps else "failed" if i == done_steps else "skipped"
                error = (
                    {
                        "code": code,
                        "message": message,
                        "provider": "openai" if provider_status else None,
                        "provider_status": provider_status,
                        "retryable": retryable,
                    }
                    if st == "failed"
                    else None
                )
                s_start = started + timedelta(milliseconds=duration * i // 5) if st != "skipped" else None
                s_end = started + timedelta(milliseconds=duration * (i + 1) // 5) if st != "skipped" else None
                step_json.append(
                    {
                        "id": f"step_{i + 1}",
                        "index": i,
                        "name": STEP_NAMES[i],
                        "type": STEP_TYPES[i],
                        "status": st,
                        "started_at": _rfc3339(s_start),
                        "completed_at": _rfc3339(s_end),
                        "error": error,
                    }
                )
                steps.append(
                    (
                        run_id,
                        f"step_{i + 1}",
                        i,
                        STEP_NAMES[i],
                        STEP_TYPES[i],
                        st,
                        s_start,
                        s_end,
                        json.dumps(error) if error else None,
                    )
                )
            data["failed_step_id"] = failed_step_id
            data["steps"] = step_json
        usage_columns, usage = usage_of(run_id, model)
        if usage is not None:
            data["usage"] = usage
        row = (
            run_id,
            wf_id,
            wf_name,
            status,
            created,
            started,
            completed,
            updated,
            None if active else duration,
            "schedule",
            None,
            5,
            done_steps,
            model,
            failed_step_id,
            done_steps if status == "failed" else None,
            STEP_NAMES[done_steps] if status == "failed" else None,
            code,
            None,
            status == "failed",
            json.dumps(data, separators=(",", ":")),
            *usage_columns,
        )
        yield row, steps


def pick_targets(n: int, *, now: datetime, seed: int = SEED) -> dict:
    """What the commands ask for: a workflow with failures and an unambiguous run-ID prefix."""
    flows = workflows()
    rng = random.Random(seed)
    first = "run_" + "".join(rng.choices(BASE62, k=12))  # the first id drawn by generate()
    return {
        "runs": n,
        "generated_at": now.isoformat(),
        "workflow": flows[0][0],
        "show_prefix": first[4:12],
        "show_id": first,
        "usage": True,
    }


def _sqlite_fill(path: Path, n: int, now: datetime) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA cache_size=-200000")
    indexes = [
        r[0]
        for r in db.execute("SELECT sql FROM sqlite_master WHERE type='index' AND tbl_name='runs' AND sql IS NOT NULL")
    ]
    names = [
        r[0]
        for r in db.execute("SELECT name FROM sqlite_master WHERE type='index' AND tbl_name='runs' AND sql IS NOT NULL")
    ]
    db.execute("BEGIN")
    for name in names:
        db.execute(f'DROP INDEX "{name}"')
    run_sql = f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) VALUES ({', '.join('?' * len(RUN_COLUMNS))})"
    quoted = ", ".join(f'"{c}"' for c in STEP_COLUMNS)
    step_sql = f"INSERT INTO steps ({quoted}) VALUES ({', '.join('?' * len(STEP_COLUMNS))})"
    runs: list[tuple] = []
    steps: list[tuple] = []
    for row, step_rows in generate(n, now=now):
        runs.append(tuple(_sqlite_ts(v) if isinstance(v, datetime) else v for v in row))
        steps.extend(tuple(_sqlite_ts(v) if isinstance(v, datetime) else v for v in s) for s in step_rows)
        if len(runs) >= CHUNK:
            db.executemany(run_sql, runs)
            db.executemany(step_sql, steps)
            runs.clear()
            steps.clear()
    db.executemany(run_sql, runs)
    db.executemany(step_sql, steps)
    db.executemany("INSERT INTO workflows (id, name) VALUES (?, ?)", workflows())
    db.execute(SQLITE_ROLLUPS)
    targets = pick_targets(n, now=now)
    db.execute("INSERT INTO kv (key, value) VALUES ('sync.done', ?)", (json.dumps({"at": now.isoformat(), "runs": n}),))
    db.execute("INSERT INTO kv (key, value) VALUES ('bench.generated', ?)", (json.dumps(targets),))
    for sql in indexes:
        db.execute(sql)
    db.execute("COMMIT")
    db.execute("PRAGMA journal_mode=WAL")
    db.close()


def read_targets(path: Path) -> dict | None:
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            row = db.execute("SELECT value FROM kv WHERE key='bench.generated'").fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        return None
    return json.loads(row[0]) if row else None


def migration_head() -> str:
    """The Alembic head this code migrates to, with a digest of every migration script (a migration edited in
    place keeps its revision but changes the schema)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    digest = hashlib.sha256()
    for script in sorted((MIGRATIONS / "versions").glob("*.py")):
        digest.update(script.name.encode() + b"\0" + script.read_bytes())
    return f"{head}.{digest.hexdigest()[:10]}"


def store_key(n: int, *, head: str | None = None) -> str:
    """What a cached store of n runs depends on: the migration head and the dataset's parameters (the constants
    above, the prices, and the code that draws and writes the rows)."""
    params = repr(
        (SEED, SPAN, STATUS_SHARES, MODELS, CODES, STEP_NAMES, STEP_TYPES, RUN_COLUMNS, STEP_COLUMNS, workflows())
        + (sorted(PRICES.items()), SQLITE_ROLLUPS)
        + tuple(inspect.getsource(f) for f in (generate, pick_targets, usage_of, _sqlite_fill))
    )
    return f"{head or migration_head()}-{hashlib.sha256(params.encode()).hexdigest()[:10]}"


def cache_path(n: int, *, out: Path = OUT, head: str | None = None) -> Path:
    return out / f"runs-{n}-{store_key(n, head=head)}.db"


def _remove_stale(path: Path, n: int, out: Path) -> None:
    """Caches of the same size under another key (an older migration head, other parameters, the old
    unkeyed name) are never read again: they go, with their WAL files."""
    for old in [*out.glob(f"runs-{n}-*.db"), out / f"runs-{n}.db"]:
        if old != path and not old.name.endswith(".generating.db"):
            for p in (old, Path(f"{old}-wal"), Path(f"{old}-shm")):
                p.unlink(missing_ok=True)


async def sqlite_store(n: int, *, out: Path = OUT) -> tuple[Path, dict, float | None]:
    """The cached store of n runs: (path, targets, seconds spent generating it, None when cached)."""
    out.mkdir(parents=True, exist_ok=True)
    path = cache_path(n, out=out)
    _remove_stale(path, n, out)
    targets = read_targets(path) if path.exists() else None
    fresh = targets and time.time() - datetime.fromisoformat(targets["generated_at"]).timestamp() < MAX_AGE_SECONDS
    if fresh and "show_id" in targets and "usage" in targets:
        return path, targets, None
    started = time.perf_counter()
    tmp = path.with_name(f"{path.stem}.generating.db")
    for p in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        p.unlink(missing_ok=True)
    engine = create_engine(f"sqlite+aiosqlite:///{tmp}")
    await upgrade(engine)
    await engine.dispose()
    await asyncio.to_thread(_sqlite_fill, tmp, n, datetime.now(timezone.utc))
    tmp.replace(path)
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return path, read_targets(path), time.perf_counter() - started


def working_copy(path: Path, name: str) -> Path:
    """A copy the bot may write to, so the cached store stays as generated."""
    work = OUT / name
    for p in (work, Path(f"{work}-wal"), Path(f"{work}-shm")):
        p.unlink(missing_ok=True)
    shutil.copyfile(path, work)
    return work


async def postgres_store(url: str, n: int) -> tuple[dict, float]:
    """Fill an empty PostgreSQL database (migrated here) with n runs by COPY; (targets, seconds)."""
    import asyncpg

    started = time.perf_counter()
    engine = create_engine(url)
    await upgrade(engine)
    await engine.dispose()
    now = datetime.now(timezone.utc)
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        indexes = await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'runs' AND indexname LIKE 'ix_%'"
        )
        for ix in indexes:
            await conn.execute(f'DROP INDEX "{ix["indexname"]}"')
        runs: list[tuple] = []
        steps: list[tuple] = []

        async def flush() -> None:
            await conn.copy_records_to_table("runs", records=runs, columns=list(RUN_COLUMNS))
            await conn.copy_records_to_table("steps", records=steps, columns=list(STEP_COLUMNS))
            runs.clear()
            steps.clear()

        for row, step_rows in generate(n, now=now):
            runs.append(row)
            steps.extend(step_rows)
            if len(runs) >= CHUNK:
                await flush()
        await flush()
        await conn.executemany("INSERT INTO workflows (id, name) VALUES ($1, $2)", workflows())
        await conn.execute(POSTGRES_ROLLUPS)
        targets = pick_targets(n, now=now)
        await conn.execute(
            "INSERT INTO kv (key, value) VALUES ('sync.done', $1)", json.dumps({"at": now.isoformat(), "runs": n})
        )
        await conn.execute("INSERT INTO kv (key, value) VALUES ('bench.generated', $1)", json.dumps(targets))
        for ix in indexes:
            await conn.execute(ix["indexdef"])
        await conn.execute("ANALYZE")  # what autovacuum does after a bulk load
    finally:
        await conn.close()
    return targets, time.perf_counter() - started
