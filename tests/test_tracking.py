"""Tracking active runs: what webhooks miss is found by polling, within a few intervals."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from bot import tracking
from bot.runs import active_run_ids
from store.models import Approval, Run, SlackMessage, WebhookDelivery

INTERVAL = 0.5


@pytest.fixture
def settings_overrides():
    return {"TRACK_INTERVAL_SECONDS": INTERVAL, "TRACK_BACKOFF_MAX_SECONDS": 2.0}


async def stored_run(h, run_id):
    async with h.svc.sessions() as s:
        return await s.get(Run, run_id)


async def alert_messages(h, run_id):
    async with h.svc.sessions() as s:
        return (
            await s.scalars(select(SlackMessage).where(SlackMessage.kind == "alert", SlackMessage.subject == run_id))
        ).all()


async def stop_scheduler(h):
    """Direct `track_cycle` calls whose requests a test counts must not share the platform with the scheduler's."""
    await h.scheduler.shutdown()
    assert not h.scheduler.running


def slack_mentions(h, channel, text):
    return [m for m in h.slack.messages(channel) if text in json.dumps({"t": m.text, "b": m.blocks})]


async def test_a_failure_whose_webhook_was_suppressed_is_found_and_alerted(harness):
    h = harness
    await h.sim("POST", "/sim/webhooks", {"mode": "suppress", "count": -1, "types": ["run.failed"]})
    run = await h.start_run("wf_invoices", "fail", error_code="provider_timeout")
    await h.wait_for(lambda: stored_run(h, run["id"]), what="the run to be known from its early webhooks")
    stored = await h.wait_for(
        lambda: _status_is(h, run["id"], "failed"), timeout=15, what="tracking to find the failure no webhook reported"
    )
    assert stored.error_code == "provider_timeout"

    async def failure_suppressed():
        log = await h.sim("GET", "/sim/webhooks/log")
        return [e for e in log if e["type"] == "run.failed" and e["run_id"] == run["id"]]

    # The platform's webhook queue logs the suppressed delivery on its own time: wait for it, then check it.
    entries = await h.wait_for(failure_suppressed, timeout=20, what="the platform to log the run.failed webhook")
    assert all(e["suppressed"] for e in entries), entries
    await h.settled()
    async with h.svc.sessions() as s:
        assert (
            await s.scalar(
                select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.type == "run.failed")
            )
            == 0
        )
    await h.wait_for(
        lambda: slack_mentions(h, "C0ALERTS", run["id"]), timeout=15, what="the alert of a failure found by tracking"
    )


async def _status_is(h, run_id, status):
    run = await stored_run(h, run_id)
    return run if run is not None and run.status == status else None


async def test_a_run_none_of_whose_webhooks_arrived_is_still_found(harness):
    h = harness
    await tracking.track_cycle(h.svc)  # marks the first cycle, so the next asks for updated_after
    await h.sim("POST", "/sim/webhooks", {"mode": "suppress", "count": -1})
    run = await h.start_run("wf_invoices", "fail", error_code="invalid_request")
    stored = await h.wait_for(
        lambda: _status_is(h, run["id"], "failed"),
        timeout=20,
        what="a run whose every webhook was lost to be found by updated_after",
    )
    _, live = await h.api("GET", f"/runs/{run['id']}")
    assert live["failed_step_id"] and stored.failed_step_id == live["failed_step_id"]
    assert stored.error_code == "invalid_request"
    await h.wait_for(
        lambda: slack_mentions(h, "C0ALERTS", run["id"]), timeout=15, what="the alert of a run no webhook ever reported"
    )


async def test_a_pending_approval_whose_webhook_was_suppressed_is_posted(harness):
    h = harness
    await h.sim("POST", "/sim/webhooks", {"mode": "suppress", "count": -1, "types": ["approval.requested"]})
    run = await h.start_run(
        "wf_refunds", "approval", actor={"name": "Sam Rivera", "slack_user_id": "U0SAMPLE1"}, approval_ttl_seconds=300
    )

    async def task_known():
        async with h.svc.sessions() as s:
            return (await s.scalars(select(Approval).where(Approval.run_id == run["id"]))).first()

    task = await h.wait_for(task_known, timeout=15, what="tracking to find the pending approval")
    assert task.status == "pending"
    await h.wait_for(
        lambda: slack_mentions(h, "C0APPROVALS", run["id"]) or slack_mentions(h, "C0APPROVALS", task.id),
        timeout=15,
        what="the approval card of a task found by tracking",
    )


async def test_a_completed_run_stops_being_polled(harness):
    h = harness
    run = await h.start_run("wf_summaries", "succeed")
    await h.wait_for(lambda: _status_is(h, run["id"], "completed"), timeout=20, what="the run to complete")
    async with h.svc.sessions() as s:
        assert run["id"] not in await active_run_ids(s)
    await stop_scheduler(h)
    await h.sim("POST", "/sim/stats/reset")
    summary = await tracking.track_cycle(h.svc)
    assert summary["tracked"] == 0
    stats = await h.sim("GET", "/sim/stats")
    assert stats["requests"].get("GET /v1/runs/{id}", 0) == 0


async def test_requests_grow_with_batches_not_runs(harness):
    h = harness
    created = await h.sim("POST", "/sim/runs/bulk", {"count": 250, "status": "running", "frozen": True})
    ids = created["ids"]
    runs = await h.svc.platform.runs_by_id(ids)
    async with h.svc.sessions.begin() as s:
        from bot.contract import run_of
        from bot.runs import merge_run

        for r in runs:
            await merge_run(s, run_of(r))
    await stop_scheduler(h)
    await h.sim("POST", "/sim/stats/reset")
    summary = await tracking.track_cycle(h.svc)
    assert summary["tracked"] >= 250 and summary["polled"] >= 250
    stats = (await h.sim("GET", "/sim/stats"))["requests"]
    # 250 runs by id: 3 batches of 100, plus the updated_after pages and one approvals page.
    assert stats.get("GET /v1/runs/{id}", 0) == 0
    assert stats.get("GET /v1/runs", 0) <= 3 + 3, stats


@pytest.mark.parametrize(
    "settings_overrides", [{"TRACK_INTERVAL_SECONDS": INTERVAL, "TRACK_BACKOFF_MAX_SECONDS": 8 * INTERVAL}]
)
async def test_a_platform_outage_backs_off_and_recovers(harness):
    h = harness
    scheduler = h.scheduler
    await h.wait_for(lambda: scheduler.tracker.cycles >= 1, timeout=10, what="a first good cycle")
    await h.sim("POST", "/sim/stall", {"seconds": 3600, "status": 503})  # until the test ends it
    await h.wait_for(lambda: scheduler.tracker.failures >= 1, timeout=15, what="the tracker to see the outage")
    ticks_at_first_failure = scheduler.ticks["track"]
    failures_at_first = scheduler.tracker.failures
    async with h.http.get(f"{h.bot_url}/readyz") as resp:
        body = await resp.json()
        assert resp.status == 200  # tracker trouble is reported, not a 503
        assert body["checks"]["tracker"]["consecutive_errors"] >= 1
    async with h.http.get(f"{h.bot_url}/metrics") as resp:
        assert "runbot_tracker_errors_total" in await resp.text()
    # Backoff: while the outage lasts, the scheduler ticks every interval but the tracker tries far less often.
    await h.wait_for(
        lambda: scheduler.ticks["track"] >= ticks_at_first_failure + 16,
        timeout=60,
        what="sixteen scheduler ticks during the outage",
    )
    tries = scheduler.tracker.failures - failures_at_first
    ticks = scheduler.ticks["track"] - ticks_at_first_failure
    assert 1 <= tries <= ticks // 2, (tries, ticks)
    await h.sim("POST", "/sim/stall", {"seconds": 0})
    await h.wait_for(lambda: scheduler.tracker.failures == 0, timeout=30, what="the tracker to recover")
    assert scheduler.tracker.last_error is None


async def test_out_of_order_events_do_not_roll_back_the_state(harness):
    h = harness
    now = datetime.now(timezone.utc)
    run = {
        "id": "run_OutOfOrder1",
        "workflow": {"id": "wf_invoices", "name": "Invoice triage"},
        "created_at": (now - timedelta(seconds=10)).isoformat(),
        "progress": {"total_steps": 5, "completed_steps": 2},
    }
    newer = {
        **run,
        "status": "completed",
        "updated_at": now.isoformat(),
        "completed_at": now.isoformat(),
        "progress": {"total_steps": 5, "completed_steps": 5},
    }
    older = {**run, "status": "running", "updated_at": (now - timedelta(seconds=5)).isoformat()}
    step = {"id": "step_2", "index": 1, "name": "Extract", "status": "running"}
    assert (await h.post_webhook("run.completed", {"run": newer})).status == 200
    assert (await h.post_webhook("run.step.updated", {"run": older, "step": step})).status == 200
    assert (await h.post_webhook("run.started", {"run": older})).status == 200
    await h.wait_for(lambda: h.ingest.processed >= 3, what="all three events processed")
    stored = await stored_run(h, "run_OutOfOrder1")
    assert stored.status == "completed" and stored.completed_steps == 5


async def test_reordered_platform_webhooks_end_in_the_platforms_state(harness):
    h = harness
    await h.sim("POST", "/sim/webhooks", {"mode": "reorder", "count": 6})
    run = await h.start_run("wf_invoices", "fail", error_code="provider_error")
    await h.wait_for(lambda: _status_is(h, run["id"], "failed"), timeout=20, what="the failure")
    _, live = await h.api("GET", f"/runs/{run['id']}")
    assert live["status"] == "failed"
    live_updated = datetime.fromisoformat(live["updated_at"].replace("Z", "+00:00"))

    async def matches_platform():
        stored = await stored_run(h, run["id"])
        return stored.status == "failed" and stored.updated_at == live_updated

    await h.settled()
    await h.wait_for(matches_platform, timeout=20, what="the stored run to end in the platform's state")
