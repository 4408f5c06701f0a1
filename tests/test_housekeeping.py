"""Housekeeping and the daily digest."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from bot.contract import RunModel, rfc3339
from bot.housekeeping import daily_digest, prune
from bot.render.digest import digest_message
from bot.runs import merge_run
from store.models import Run, Subscription, WebhookDelivery, utcnow


def failed(run_id, workflow, code, when):
    step = {
        "id": "s1",
        "index": 0,
        "name": "LLM",
        "status": "failed",
        "error": {"code": code, "message": "x", "retryable": True},
    }
    return {
        "id": run_id,
        "workflow": {"id": workflow, "name": workflow.replace("wf_", "").title()},
        "status": "failed",
        "created_at": rfc3339(when),
        "updated_at": rfc3339(when),
        "completed_at": rfc3339(when),
        "failed_step_id": "s1",
        "steps": [step],
        "progress": {"total_steps": 1, "completed_steps": 0},
    }


def failed_run(run_id, workflow, code, when, **changes):
    return RunModel.model_validate({**failed(run_id, workflow, code, when), **changes})


async def test_daily_digest_counts_yesterdays_failures_per_workflow_and_code(harness):
    h = harness
    now = utcnow().replace(hour=9)
    yesterday = now - timedelta(days=1)
    async with h.svc.sessions.begin() as s:
        for i in range(3):
            r = await merge_run(s, failed_run(f"run_dg{i}", "wf_invoices", "provider_timeout", yesterday))
            r.run.alerted = True
        r = await merge_run(s, failed_run("run_dgx", "wf_refunds", "invalid_request", yesterday))
        r.run.alerted = True
        r = await merge_run(s, failed_run("run_dgold", "wf_refunds", "invalid_request", now - timedelta(days=3)))
        r.run.alerted = True
        s.add(Subscription(channel="C0GENERAL", workflow_id="wf_refunds", failures=True))
    assert await daily_digest(h.svc, now=now) == 2
    alerts = await h.wait_for(
        lambda: [m for m in h.slack.messages("C0ALERTS") if "Daily digest" in m.text],
        what="the digest in the alert channel",
    )
    assert "4 failed runs" in alerts[0].text and "`provider_timeout` ×3" in alerts[0].text
    general = await h.wait_for(
        lambda: [m for m in h.slack.messages("C0GENERAL") if "Daily digest" in m.text],
        what="the digest in the subscribed channel",
    )
    assert "1 failed run" in general[0].text and "provider_timeout" not in general[0].text


async def test_prune_removes_old_deliveries_and_finished_runs_only(harness):
    h = harness
    old = utcnow() - timedelta(days=h.settings.RETENTION_DAYS + 1)
    async with h.svc.sessions.begin() as s:
        s.add(WebhookDelivery(id="msg_old", type="run.failed", body={}, received_at=old, processed_at=old))
        s.add(WebhookDelivery(id="msg_new", type="run.failed", body={}, processed_at=utcnow()))
        await merge_run(s, failed_run("run_old", "wf_invoices", "provider_timeout", old))
        await merge_run(
            s, failed_run("run_oldactive", "wf_invoices", "x", old, status="running", completed_at=None, steps=[])
        )
    summary = await prune(h.svc)
    assert summary["deliveries"] == 1 and summary["runs"] == 1
    async with h.svc.sessions() as s:
        assert await s.get(Run, "run_oldactive") is not None
        assert await s.get(Run, "run_old") is None
        assert await s.scalar(select(func.count()).select_from(WebhookDelivery)) == 1


async def test_the_digest_is_posted_once_per_day_even_if_the_job_runs_again(harness):
    h = harness
    now = utcnow().replace(hour=9)
    async with h.svc.sessions.begin() as s:
        r = await merge_run(s, failed_run("run_once", "wf_invoices", "provider_timeout", now - timedelta(days=1)))
        r.run.alerted = True
    assert await daily_digest(h.svc, now=now) == 1
    assert await daily_digest(h.svc, now=now) == 0


def test_the_digest_counts_per_workflow_and_code_and_escapes_what_the_platform_named():
    day = datetime(2026, 11, 25, tzinfo=timezone.utc)
    message = digest_message(
        [
            ("wf_a", "<!channel> triage", "provider_timeout", 2),
            ("wf_b", "Refunds", "x<y", 1),
            ("wf_b", "Refunds", "provider_timeout", 1),
        ],
        day,
    )
    assert message["text"].startswith("Daily digest for 2026-11-25: 4 failed runs")
    assert "`provider_timeout` ×3, `x&lt;y` ×1" in message["text"]
    lines = message["blocks"][1]["text"]["text"]
    assert "<!channel>" not in lines and "*&lt;!channel&gt; triage* (`wf_a`): 2 failures" in lines
    assert "*Refunds* (`wf_b`): 2 failures" in lines


@pytest.mark.parametrize("settings_overrides", [{"DIGEST_HOUR": 7}])
async def test_digest_hour_schedules_the_digest_daily_at_that_hour_and_the_scheduler_posts_it(harness):
    h = harness
    job = h.scheduler._scheduler.get_job("digest")
    assert job is not None
    assert (job.next_run_time.hour, job.next_run_time.minute, job.next_run_time.utcoffset()) == (7, 0, timedelta(0))
    assert timedelta(0) < job.next_run_time - utcnow() <= timedelta(days=1)
    async with h.http.get(f"{h.bot_url}/readyz") as resp:
        assert "digest" in (await resp.json())["checks"]["scheduler"]["jobs"]
    yesterday = utcnow() - timedelta(days=1)
    async with h.svc.sessions.begin() as s:
        r = await merge_run(s, failed_run("run_dgsched", "wf_invoices", "provider_timeout", yesterday))
        r.run.alerted = True
    job.modify(next_run_time=utcnow())  # the clock reaches DIGEST_HOUR: the scheduler runs the job itself
    digest = await h.wait_for(
        lambda: [m for m in h.slack.messages("C0ALERTS") if "Daily digest" in m.text],
        timeout=20,
        what="the scheduled digest in the alert channel",
    )
    assert "provider_timeout" in json.dumps(digest[0].blocks or []) + digest[0].text
    assert h.scheduler.ran.get("digest") == 1
    assert (job.next_run_time.hour, job.next_run_time.minute) == (7, 0)  # and again tomorrow at the hour


async def test_without_digest_hour_there_is_no_digest_job(harness):
    assert harness.scheduler._scheduler.get_job("digest") is None
    assert "digest" not in harness.scheduler.status()["jobs"]
