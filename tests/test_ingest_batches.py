"""Issue 20: a claimed batch of stored webhooks is processed in fewer statements (one run's step updates merged
once, rollup rows written once at the end) and ends in the same state as the same events processed one at a time:
late, doubled and reordered events included, each failure alerted once. Real parts: SQLite and PostgreSQL, the
Slack stand-in; the harness's own processor is stopped so the test chooses the batches."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from bot.ingest import Ingest
from bot.render.runs import run_line
from bot.views import view_of_listed, view_of_run
from store import deliveries, queries
from store.models import CostRollup, Run, SlackMessage, Step, utcnow
from tests.test_alerts import blocks_text

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)


def _at(seconds: int) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


def _run(run_id: str, status: str, at: int, done: int, **extra) -> dict:
    return {
        "id": run_id,
        "workflow": {"id": "wf_invoices", "name": "Invoice triage"},
        "status": status,
        "created_at": _at(0),
        "started_at": _at(0),
        "updated_at": _at(at),
        "progress": {"total_steps": 4, "completed_steps": done},
        "model": "gpt-4.1-mini",
        "usage": {"input_tokens": 10 * at, "output_tokens": at, "cost_usd": at / 1000},
        **extra,
    }


def _step(n: int, status: str, at: int, **extra) -> dict:
    return {"id": f"step_{n}", "index": n, "name": f"Step {n}", "type": "code", "status": status,
            "started_at": _at(at), **extra}  # fmt: skip


def _events(run_id: str) -> list[tuple[str, dict]]:
    """One run's webhooks in arrival order: step updates, one doubled (same state, another webhook-id), one late
    (older than the one before it), the failure, then a step update older than the failure."""
    error = {"code": "provider_error", "message": "boom"}
    steps = [
        _step(0, "completed", 1),
        _step(1, "completed", 2),
        _step(2, "failed", 4, error=error),
        _step(3, "pending", 0),
    ]
    return [
        ("run.started", {"run": _run(run_id, "running", 1, 0)}),
        ("run.step.updated", {"run": _run(run_id, "running", 2, 1), "step": _step(0, "completed", 1)}),
        ("run.step.updated", {"run": _run(run_id, "running", 3, 2), "step": _step(1, "completed", 2)}),
        ("run.step.updated", {"run": _run(run_id, "running", 3, 2), "step": _step(1, "completed", 2)}),
        ("run.step.updated", {"run": _run(run_id, "running", 2, 1), "step": _step(0, "running", 1)}),
        ("run.step.updated", {"run": _run(run_id, "running", 4, 2), "step": _step(2, "running", 3)}),
        (
            "run.failed",
            {"run": _run(run_id, "failed", 6, 2, steps=steps, failed_step_id="step_2", completed_at=_at(6))},
        ),
        ("run.step.updated", {"run": _run(run_id, "running", 5, 2), "step": _step(2, "running", 3)}),
    ]


async def _store(h, run_id: str) -> None:
    now = utcnow()
    rows = [
        {
            "id": f"wh_{run_id}_{i}",
            "type": kind,
            "body": {"type": kind, "timestamp": _at(0), "data": data},
            "received_at": now + timedelta(microseconds=i),
            "processed_at": None,
        }
        for i, (kind, data) in enumerate(_events(run_id))
    ]
    async with h.svc.sessions.begin() as session:
        await deliveries.store_new(session, rows)


async def _state(h, run_id: str) -> tuple:
    async with h.svc.sessions() as s:
        run = await s.get(Run, run_id)
        steps = (await s.scalars(select(Step).where(Step.run_id == run_id).order_by(Step.index))).all()
        alerts = (
            await s.scalars(select(SlackMessage).where(SlackMessage.kind == "alert", SlackMessage.subject == run_id))
        ).all()
        columns = [c.key for c in Run.__table__.columns if c.key not in ("id", "data")]
        data = {**run.data, "id": None}
        return (
            {c: getattr(run, c) for c in columns},
            data,
            [(s.id, s.status, s.started_at, s.error) for s in steps],
            len(alerts),
        )


async def _rollup_runs(h) -> dict:
    async with h.svc.sessions() as s:
        rows = (await s.scalars(select(CostRollup))).all()
        return {(r.status, r.model): (r.runs, r.cost_micros) for r in rows if r.runs}


async def test_a_batch_ends_in_the_state_of_its_events_processed_one_at_a_time(any_harness):
    h = any_harness
    await h.ingest.stop()  # this test chooses the batches
    ingest = Ingest(h.svc)
    await _store(h, "run_OneByOne1")
    while await ingest.process_pending(limit=1):
        pass
    one_by_one = await _state(h, "run_OneByOne1")
    assert await _rollup_runs(h) == {("failed", "gpt-4.1-mini"): (1, 6000)}

    await _store(h, "run_Batched01")
    batches = []
    while count := await ingest.process_pending(limit=50):
        batches.append(count)
    assert batches == [1, len(_events("run_Batched01")) - 1]  # the failure first, then the rest together
    batched = await _state(h, "run_Batched01")

    assert batched == one_by_one
    fields, data, steps, alerts = batched
    assert fields["status"] == "failed" and fields["completed_steps"] == 2 and fields["error_code"] == "provider_error"
    assert (fields["failed_step_index"], fields["failed_step_name"]) == (2, "Step 2")  # what a list line names
    assert [s[:2] for s in steps] == [
        ("step_0", "completed"),
        ("step_1", "completed"),
        ("step_2", "failed"),
        ("step_3", "pending"),
    ]
    assert alerts == 1
    # Each run counted once in the rollups, in the row of the state it ended in.
    assert await _rollup_runs(h) == {("failed", "gpt-4.1-mini"): (2, 12000)}


async def test_step_updates_of_a_run_folded_in_one_batch_keep_every_step(any_harness):
    h = any_harness
    await h.ingest.stop()
    ingest = Ingest(h.svc)
    events = [
        ("run.step.updated", {"run": _run("run_Folded001", "running", n + 1, n), "step": _step(n, "completed", n)})
        for n in range(4)
    ]
    now = utcnow()
    async with h.svc.sessions.begin() as session:
        await deliveries.store_new(
            session,
            [
                {
                    "id": f"wh_fold_{i}",
                    "type": kind,
                    "body": {"type": kind, "timestamp": _at(0), "data": data},
                    "received_at": now + timedelta(microseconds=i),
                    "processed_at": None,
                }
                for i, (kind, data) in enumerate(events)
            ],
        )
    assert await ingest.process_pending(limit=50) == 4
    fields, data, steps, _ = await _state(h, "run_Folded001")
    assert fields["completed_steps"] == 3 and fields["updated_at"] == T0 + timedelta(seconds=4)
    assert [s[:2] for s in steps] == [(f"step_{n}", "completed") for n in range(4)]
    assert [s["id"] for s in data["steps"]] == [f"step_{n}" for n in range(4)]
    assert await _rollup_runs(h) == {("running", "gpt-4.1-mini"): (1, 4000)}


@pytest.fixture
def settings_overrides():
    return {"STORM_THRESHOLD": 1000, "INCIDENT_WORKFLOWS": 2, "INCIDENT_WINDOW_SECONDS": 600.0}


async def test_a_card_each_failure_of_a_batch_changes_ends_in_the_newest_state(any_harness):
    h = any_harness
    await h.ingest.stop()
    ingest = Ingest(h.svc)
    error = {"code": "provider_rate_limited", "message": "slow down", "provider": "openai", "provider_status": 429}
    now = utcnow()
    rows = []
    for i in range(6):
        run_id = f"run_Provider{i:03d}"
        run = _run(
            run_id,
            "failed",
            6,
            1,
            steps=[_step(0, "failed", 5, error=error)],
            failed_step_id="step_0",
            completed_at=_at(6),
            workflow={"id": f"wf_flow{i % 3}", "name": f"Flow {i % 3}"},
        )
        body = {"type": "run.failed", "timestamp": _at(0), "data": {"run": run}}
        rows.append(
            {"id": f"wh_prov_{i}", "type": "run.failed", "body": body, "received_at": now + timedelta(microseconds=i)}
        )
    async with h.svc.sessions.begin() as session:
        await deliveries.store_new(session, [{**r, "processed_at": None} for r in rows])
    # One batch on SQLite (the card opens, then four updates held), four failures a batch on PostgreSQL.
    while await ingest.process_pending(limit=50):
        pass

    def card_text():
        cards = [m for m in h.slack.messages("C0ALERTS", top_level=True) if "openai" in m.text and "across" in m.text]
        return blocks_text(h.slack.message("C0ALERTS", cards[0].ts)) if len(cards) == 1 else ""

    await h.wait_for(lambda: "across 3 workflows, 6 runs" in card_text(), timeout=30, what="the card's newest state")
    assert (
        len([m for m in h.slack.messages("C0ALERTS", top_level=True) if "openai" in m.text and "across" in m.text]) == 1
    )


async def _store_events(h, prefix: str, events: list[tuple[str, dict]]) -> None:
    now = utcnow()
    rows = [
        {
            "id": f"wh_{prefix}_{i}",
            "type": kind,
            "body": {"type": kind, "timestamp": _at(0), "data": data},
            "received_at": now + timedelta(microseconds=i),
            "processed_at": None,
        }
        for i, (kind, data) in enumerate(events)
    ]
    async with h.svc.sessions.begin() as session:
        await deliveries.store_new(session, rows)


async def test_a_step_update_older_than_the_stored_run_keeps_a_step_the_store_lacks(any_harness):
    h = any_harness
    await h.ingest.stop()
    ingest = Ingest(h.svc)

    def events(run_id: str) -> tuple[tuple[str, dict], list[tuple[str, dict]]]:
        completed = ("run.completed", {"run": _run(run_id, "completed", 5, 4, completed_at=_at(5))})  # no steps
        steps = [
            ("run.step.updated", {"run": _run(run_id, "running", 1 + n, n), "step": _step(n, "completed", n)})
            for n in range(2)
        ]
        return completed, steps

    completed, steps = events("run_InOrder001")
    await _store_events(h, "in_order", [*steps, completed])
    while await ingest.process_pending(limit=50):
        pass
    completed, steps = events("run_LateSteps1")
    await _store_events(h, "late", [completed, *steps])
    while await ingest.process_pending(limit=50):
        pass
    completed, steps = events("run_LateAlone1")
    await _store_events(h, "alone", [completed, *steps])
    while await ingest.process_pending(limit=1):
        pass

    in_order = await _state(h, "run_InOrder001")
    assert in_order[0]["status"] == "completed"
    assert [s[:2] for s in in_order[2]] == [("step_0", "completed"), ("step_1", "completed")]
    assert await _state(h, "run_LateSteps1") == in_order
    assert await _state(h, "run_LateAlone1") == in_order


async def test_a_failed_step_that_comes_after_the_failure_is_named_in_lists_as_in_the_alert(any_harness):
    """A failure stored without its steps, then an older step update bringing the failed step: the columns a list
    line reads (`store.queries.LISTED`) follow the steps, so the line names the step and code the run's JSON holds."""
    h = any_harness
    await h.ingest.stop()
    ingest = Ingest(h.svc)
    error = {"code": "provider_error", "message": "boom"}
    failure = _run("run_LateStep01", "failed", 6, 2, failed_step_id="step_2", completed_at=_at(6))
    step = _step(2, "failed", 4, error=error)
    await _store_events(
        h,
        "late_step",
        [
            ("run.failed", {"run": failure}),
            ("run.step.updated", {"run": _run("run_LateStep01", "running", 5, 2), "step": step}),
        ],
    )
    while await ingest.process_pending(limit=1):
        pass
    fields, data, _, _ = await _state(h, "run_LateStep01")
    assert fields["status"] == "failed" and [s["id"] for s in data["steps"]] == ["step_2"]
    assert (fields["failed_step_index"], fields["failed_step_name"], fields["error_code"]) == (
        2,
        "Step 2",
        "provider_error",
    )
    async with h.svc.engine.connect() as conn:
        (row,) = [r for r in await queries.failed_runs(conn, listed=True, limit=50) if r.id == "run_LateStep01"]
    async with h.svc.sessions() as s:
        run = await s.get(Run, "run_LateStep01")
    url = h.settings.run_url
    listed, whole = run_line(view_of_listed(row), url), run_line(view_of_run(run), url)
    assert listed == whole and "Step 2" in listed and "provider_error" in listed
