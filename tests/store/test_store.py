"""The store on SQLite and on a real PostgreSQL: migrations, merging by updated_at, exactly-once records."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from bot.contract import ApprovalModel, RunModel
from bot.runs import merge_approval, merge_run
from store.db import MIGRATIONS, create_engine, sessionmaker, upgrade
from store.models import Run, SlackMessage, Step, WebhookDelivery


def run_data(run_id="run_AbC123", status="running", updated="2026-11-25T10:00:01.000Z", steps=None, **kw):
    data = {
        "id": run_id,
        "workflow": {"id": "wf_invoices", "name": "Invoice triage"},
        "status": status,
        "created_at": "2026-11-25T10:00:00Z",
        "started_at": "2026-11-25T10:00:01Z",
        "completed_at": None,
        "updated_at": updated,
        "duration_ms": None,
        "trigger": {"type": "manual", "payload": {}, "actor": {"slack_user_id": "U0SAMPLE1"}},
        "progress": {"total_steps": 5, "completed_steps": 2},
        "model": "gpt-4.1-mini",
        "prompt": "Classify",
        "failed_step_id": None,
        "replay_of": None,
    }
    if steps is not None:
        data["steps"] = steps
    data.update(kw)
    return RunModel.model_validate(data)


@pytest.fixture
async def sessions(db_url):
    engine = create_engine(db_url)
    await upgrade(engine)
    yield sessionmaker(engine)
    await engine.dispose()


async def test_migrations_apply_twice_and_concurrently(db_url):
    engines = [create_engine(db_url) for _ in range(3)]
    try:
        await asyncio.gather(*(upgrade(e) for e in engines))
        await upgrade(engines[0])
        async with engines[0].connect() as conn:
            version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
        # The newest migration file in store/migrations/versions, read from the files, not from Alembic.
        newest = max(p.name.split("_")[0] for p in MIGRATIONS.joinpath("versions").glob("0*.py"))
        assert version == newest
    finally:
        for e in engines:
            await e.dispose()


async def test_newer_state_wins_and_late_event_never_rolls_back(sessions):
    failed_step = {
        "id": "step_3",
        "index": 2,
        "name": "Summarise with LLM",
        "type": "llm",
        "status": "failed",
        "error": {
            "code": "provider_rate_limited",
            "message": "Rate limit",
            "provider": "openai",
            "provider_status": 429,
            "retryable": True,
        },
    }
    async with sessions.begin() as s:
        first = await merge_run(s, run_data(status="running", updated="2026-11-25T10:00:05.000Z"))
        assert first.is_new and first.changed
    async with sessions.begin() as s:
        failed = await merge_run(
            s,
            run_data(
                status="failed",
                updated="2026-11-25T10:00:09.000Z",
                failed_step_id="step_3",
                steps=[failed_step],
                completed_at="2026-11-25T10:00:09Z",
            ),
        )
        assert failed.old_status == "running" and failed.new_status == "failed"
    async with sessions.begin() as s:
        late = await merge_run(s, run_data(status="running", updated="2026-11-25T10:00:07.000Z"))
        assert not late.changed
    async with sessions() as s:
        run = await s.get(Run, "run_AbC123")
        assert run.status == "failed"
        assert run.error_code == "provider_rate_limited"
        steps = (await s.scalars(select(Step).where(Step.run_id == run.id))).all()
        assert [st.id for st in steps] == ["step_3"]


async def test_a_list_without_steps_keeps_the_known_steps(sessions):
    step = {"id": "step_1", "index": 0, "name": "Fetch", "status": "completed"}
    async with sessions.begin() as s:
        await merge_run(s, run_data(updated="2026-11-25T10:00:01.000Z", steps=[step]))
    async with sessions.begin() as s:
        await merge_run(s, run_data(updated="2026-11-25T10:00:02.000Z", status="waiting"))
    async with sessions() as s:
        run = await s.get(Run, "run_AbC123")
        assert run.status == "waiting" and run.data["steps"][0]["id"] == "step_1"


async def test_decided_approval_is_never_reopened_by_a_late_request(sessions):
    task = {
        "id": "apr_1",
        "run_id": "run_AbC123",
        "step_id": "step_2",
        "workflow": {"id": "wf_refunds", "name": "R"},
        "kind": "spend",
        "action": "Send refund",
        "requested_by": "step",
        "requested_at": "2026-11-25T10:00:00Z",
        "expires_at": "2026-11-25T11:00:00Z",
        "status": "approved",
        "decided_by": "console:ana",
        "decided_at": "2026-11-25T10:05:00Z",
        "comment": None,
    }
    async with sessions.begin() as s:
        _, old = await merge_approval(s, ApprovalModel.model_validate(task))
        assert old is None
    async with sessions.begin() as s:
        stored, old = await merge_approval(
            s, ApprovalModel.model_validate({**task, "status": "pending", "decided_by": None})
        )
        assert old == "approved" and stored.status == "approved"


async def test_two_transactions_storing_one_new_approval_task_both_succeed(sessions):
    """A sync and the tracker (or two replicas) find the same new task at once: the second transaction sees the
    first one's row instead of failing on the task's key, and knows the task is not new."""
    task = ApprovalModel.model_validate(
        {
            "id": "apr_race",
            "run_id": "run_AbC123",
            "step_id": "step_2",
            "workflow": {"id": "wf_refunds", "name": "R"},
            "kind": "spend",
            "action": "Send refund",
            "requested_by": "step",
            "requested_at": "2026-11-25T10:00:00Z",
            "expires_at": "2026-11-25T11:00:00Z",
            "status": "pending",
        }
    )
    first_stored = asyncio.Event()
    first_may_commit = asyncio.Event()

    async def first():
        async with sessions.begin() as s:
            _, old = await merge_approval(s, task)
            await s.flush()
            first_stored.set()
            await first_may_commit.wait()
            return old

    async def second():
        await first_stored.wait()
        async with sessions.begin() as s:  # reads before the first commits, then writes after it
            stored, old = await merge_approval(s, task)
            return old, stored.status

    one = asyncio.create_task(first())
    two = asyncio.create_task(second())
    await first_stored.wait()
    await asyncio.sleep(0.2)  # let the second transaction read "no such task" and reach its insert
    first_may_commit.set()
    assert await one is None
    assert await two == ("pending", "pending")


async def test_webhook_ids_and_slack_messages_are_unique(sessions):
    async with sessions.begin() as s:
        s.add(WebhookDelivery(id="msg_1", type="run.failed", body={}))
        s.add(SlackMessage(kind="alert", subject="run_1", channel="C1"))
    with pytest.raises(IntegrityError):
        async with sessions.begin() as s:
            s.add(WebhookDelivery(id="msg_1", type="run.failed", body={}))
    with pytest.raises(IntegrityError):
        async with sessions.begin() as s:
            s.add(SlackMessage(kind="alert", subject="run_1", channel="C1"))
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(WebhookDelivery)) == 1


async def test_timestamps_read_back_in_utc(sessions):
    async with sessions.begin() as s:
        await merge_run(s, run_data(updated="2026-11-25T12:00:01.250+02:00"))
    async with sessions() as s:
        run = await s.get(Run, "run_AbC123")
        assert run.updated_at.utcoffset().total_seconds() == 0
        assert run.updated_at.hour == 10 and run.updated_at.microsecond == 250000


async def test_one_run_merged_several_times_in_one_transaction(sessions):
    step = {"id": "step_1", "index": 0, "name": "Fetch", "status": "running"}
    async with sessions.begin() as s:
        await merge_run(s, run_data(updated="2026-11-25T10:00:01.000Z", steps=[step]))
        await merge_run(
            s,
            run_data(
                updated="2026-11-25T10:00:02.000Z",
                steps=[{**step, "status": "completed"}, {**step, "id": "step_2", "index": 1}],
            ),
        )
        await merge_run(s, run_data(updated="2026-11-25T10:00:03.000Z", steps=[{**step, "status": "completed"}]))
    async with sessions() as s:
        steps = (await s.scalars(select(Step).where(Step.run_id == "run_AbC123"))).all()
        assert [(st.id, st.status) for st in steps] == [("step_1", "completed")]


async def test_the_same_new_run_merged_by_two_transactions_at_once(sessions):
    """A webhook and a poll (or a replay's answer) carrying one new run at the same moment."""

    async def merge(updated, status):
        async with sessions.begin() as s:
            change = await merge_run(s, run_data(run_id="run_Race0001", status=status, updated=updated))
            await asyncio.sleep(0.05)  # hold the transaction open while the other one starts
            return change.is_new

    results = await asyncio.gather(
        merge("2026-11-25T10:00:01.000Z", "running"),
        merge("2026-11-25T10:00:02.000Z", "failed"),
        return_exceptions=True,
    )
    assert not any(isinstance(r, Exception) for r in results), results
    assert sorted(results) == [False, True]
    async with sessions() as s:
        assert (await s.get(Run, "run_Race0001")).status == "failed"


async def test_one_completion_merged_by_two_transactions_at_once_changes_the_status_once(sessions):
    """A webhook and a tracking poll carrying the same completion of a known run at the same moment: exactly one
    of them sees the status change (the other sees the stored state as new as its own), so the reactions to a
    completion (an incident's recovery count, a storm's end, the rollups) happen once. On SQLite the first read
    of each transaction must already be inside it: read before its write lock, both would see "running"."""
    async with sessions.begin() as s:
        await merge_run(s, run_data(run_id="run_Twice001", status="running", updated="2026-11-25T10:00:01.000Z"))

    async def complete():
        async with sessions.begin() as s:
            run = await s.get(Run, "run_Twice001")  # what a batch preloads before it merges
            await asyncio.sleep(0.1)  # the other transaction starts meanwhile
            assert run is not None
            change = await merge_run(
                s, run_data(run_id="run_Twice001", status="completed", updated="2026-11-25T10:00:09.000Z")
            )
            return change.status_changed

    results = await asyncio.gather(complete(), complete(), return_exceptions=True)
    assert not any(isinstance(r, Exception) for r in results), results
    assert sorted(results) == [False, True]


async def test_a_write_transaction_opened_inside_another_says_so_instead_of_waiting_for_itself(db_url):
    """On SQLite the process's write transactions queue one behind the other: one opened inside another
    would wait for itself forever, so it raises at once (PostgreSQL has no such queue: nothing to check)."""
    engine = create_engine(db_url)
    await upgrade(engine)
    sessions = sessionmaker(engine)
    try:
        if not db_url.startswith("sqlite"):
            async with sessions.begin(), sessions.begin():
                pass
            return
        with pytest.raises(RuntimeError, match="inside another"):
            async with sessions.begin(), sessions.begin():
                pass

        async def other_task():  # another task waits its turn instead
            async with sessions.begin() as s:
                return await s.scalar(select(func.count()).select_from(Run))

        async with sessions.begin():
            waiting = asyncio.ensure_future(other_task())
            await asyncio.sleep(0.05)
            assert not waiting.done()
        assert await asyncio.wait_for(waiting, 10) == 0
    finally:
        await engine.dispose()
