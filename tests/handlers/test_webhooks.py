"""`POST /webhooks/platform` end to end: the real bot, the reference platform and the Slack stand-in."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from store.models import Run, WebhookDelivery
from tests.support.harness import sign_webhook


def a_run(run_id="run_Webhook001", status="running", updated="2026-11-25T10:00:01.000Z"):
    return {
        "id": run_id,
        "workflow": {"id": "wf_invoices", "name": "Invoice triage"},
        "status": status,
        "created_at": "2026-11-25T10:00:00Z",
        "updated_at": updated,
        "steps": [],
        "progress": {"total_steps": 5, "completed_steps": 1},
    }


async def count_deliveries(h) -> int:
    async with h.svc.sessions() as s:
        return await s.scalar(select(func.count()).select_from(WebhookDelivery))


async def test_a_signed_webhook_sent_twice_is_stored_and_processed_once(harness):
    h = harness
    for _ in range(2):
        resp = await h.post_webhook("run.started", {"run": a_run()}, msg_id="msg_twice")
        assert resp.status == 200
    assert await count_deliveries(h) == 1

    async def processed():
        async with h.svc.sessions() as s:
            d = await s.get(WebhookDelivery, "msg_twice")
            run = await s.get(Run, "run_Webhook001")
            return d.processed_at is not None and run is not None and run.status == "running"

    await h.wait_for(processed, what="the webhook to be processed")
    assert h.ingest.duplicates == 1


async def test_two_long_webhook_ids_sharing_their_first_128_characters_are_two_events(harness):
    h = harness
    prefix = "msg_" + "x" * 200
    first = await h.post_webhook("run.started", {"run": a_run("run_LongIdA")}, msg_id=prefix + "A")
    second = await h.post_webhook("run.started", {"run": a_run("run_LongIdB")}, msg_id=prefix + "B")
    again = await h.post_webhook("run.started", {"run": a_run("run_LongIdB")}, msg_id=prefix + "B")
    assert (first.status, second.status, again.status) == (200, 200, 200)
    assert await count_deliveries(h) == 2  # the whole id counts: both stored, the repeat of B is not

    async def both_processed():
        async with h.svc.sessions() as s:
            return await s.get(Run, "run_LongIdA") is not None and await s.get(Run, "run_LongIdB") is not None

    await h.wait_for(both_processed, what="both events processed")
    assert h.ingest.duplicates == 1


async def test_forged_and_stale_webhooks_are_refused_with_401(harness):
    h = harness
    forged = await h.post_webhook(
        "run.started", {"run": a_run()}, secret="whsec_" + "Zm9yZ2VkLXNlY3JldC1mb3JnZWQtc2VjcmV0"
    )
    assert forged.status == 401
    body = json.dumps({"type": "run.started", "timestamp": "2026-11-25T10:00:00Z", "data": {"run": a_run()}})
    stale = sign_webhook(body, timestamp=datetime.now(timezone.utc) - timedelta(minutes=6))
    async with h.http.post(f"{h.bot_url}/webhooks/platform", data=body, headers=stale) as resp:
        assert resp.status == 401
        assert (await resp.json())["error"]["code"] == "invalid_signature"
    async with h.http.post(
        f"{h.bot_url}/webhooks/platform", data=body, headers={"content-type": "application/json"}
    ) as resp:
        assert resp.status == 401
    assert await count_deliveries(h) == 0


async def test_a_malformed_webhook_is_refused_with_400_naming_the_field(harness):
    h = harness
    bad = a_run()
    bad["status"] = "exploded"
    resp = await h.post_webhook("run.failed", {"run": bad})
    assert resp.status == 400
    body = json.dumps({"type": "run.failed", "timestamp": "x", "data": {}})
    async with h.http.post(f"{h.bot_url}/webhooks/platform", data=body, headers=sign_webhook(body)) as r:
        assert r.status == 400
        assert "timestamp" in (await r.json())["error"]["message"]
    body = json.dumps({"type": "run.failed", "timestamp": "2026-11-25T10:00:00Z", "data": {"run": bad}})
    async with h.http.post(f"{h.bot_url}/webhooks/platform", data=body, headers=sign_webhook(body)) as r:
        assert r.status == 400
        assert "data.run.status" in (await r.json())["error"]["message"]
    assert await count_deliveries(h) == 0


async def test_unknown_event_types_are_accepted_for_forward_compatibility(harness):
    resp = await harness.post_webhook("run.teleported", {"anything": 1})
    assert resp.status == 200
    assert await count_deliveries(harness) == 1


async def test_webhooks_from_the_reference_platform_reach_the_store(harness):
    h = harness
    run = await h.start_run("wf_summaries", "succeed")

    async def completed():
        async with h.svc.sessions() as s:
            stored = await s.get(Run, run["id"])
            return stored is not None and stored.status == "completed"

    await h.wait_for(completed, timeout=20, what="the run's completion to arrive by webhook")


async def test_an_unsigned_slack_request_is_refused(harness):
    h = harness
    async with h.http.post(f"{h.bot_url}/slack/events", data={"command": "/runs", "text": "help"}) as resp:
        assert resp.status == 401


async def test_health_readiness_and_metrics(harness):
    h = harness
    async with h.http.get(f"{h.bot_url}/healthz") as resp:
        assert resp.status == 200
    async with h.http.get(f"{h.bot_url}/readyz") as resp:
        body = await resp.json()
        assert resp.status == 200, body
        assert {"database", "scheduler", "slack_delivery", "tracker"} <= set(body["checks"])
    await h.post_webhook("run.started", {"run": a_run()})
    async with h.http.get(f"{h.bot_url}/metrics") as resp:
        text = await resp.text()
        assert 'runbot_webhooks_total{outcome="stored"} 1.0' in text
