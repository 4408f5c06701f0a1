"""Retention of issue 16's rows: provider and muted failures, ended mutes, and the lifecycle of pruned runs go;
what is current stays (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from store import lifecycle
from store.db import create_engine, sessionmaker, upgrade
from store.models import AlertLifecycle, Mute, MutedFailure, ProviderFailure, utcnow


async def test_prune_drops_what_is_past_retention_and_keeps_the_rest(db_url):
    engine = create_engine(db_url)
    await upgrade(engine)
    sessions = sessionmaker(engine)
    now = utcnow()
    old, cutoff = now - timedelta(days=40), now - timedelta(days=30)
    try:
        async with sessions.begin() as s:
            for at in (old, now):
                s.add(
                    ProviderFailure(
                        provider="openai", workflow_id="wf", step_name="x", run_id="r", error_code="c", at=at
                    )
                )
                s.add(MutedFailure(channel="C1", run_id="r", workflow_id="wf", mute_id=1, at=at))
            s.add(Mute(channel="C1", workflow_id="wf", until=old, created_by="U1"))
            s.add(Mute(channel="C1", workflow_id="wf", until=None, created_by="U1"))
            s.add(AlertLifecycle(run_id="run_gone", on_it=[{"user": "U1", "since": now.isoformat()}]))
        async with sessions.begin() as s:
            assert await lifecycle.prune(s, cutoff) == 4  # one of each kind
        async with sessions() as s:
            for model in (ProviderFailure, MutedFailure, Mute):
                assert await s.scalar(select(func.count()).select_from(model)) == 1, model
            assert await s.get(AlertLifecycle, "run_gone") is None
    finally:
        await engine.dispose()
