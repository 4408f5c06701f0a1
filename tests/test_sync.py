"""`runbot sync` and the first start: the store is filled from the platform's API, page by page, back
RETENTION_DAYS; pending approval tasks are taken in; past failures are never alerted."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.sync import first_sync, sync
from store.models import Approval, KeyValue, OutboxItem, Run


async def count_runs(h, **where) -> int:
    async with h.svc.sessions() as s:
        query = select(func.count()).select_from(Run)
        for key, value in where.items():
            query = query.where(getattr(Run, key) == value)
        return await s.scalar(query)


async def test_sync_fills_the_store_page_by_page_and_never_alerts_past_failures(harness):
    h = harness
    await h.sim("POST", "/sim/runs/bulk", {"count": 450, "status": "completed"})  # no webhooks: only the API knows them
    await h.sim("POST", "/sim/runs/bulk", {"count": 30, "status": "failed", "workflow": "wf_invoices"})
    await h.sim("POST", "/sim/runs/bulk", {"count": 5, "status": "running"})
    assert await count_runs(h) == 0
    await h.sim("POST", "/sim/stats/reset")

    summary = await sync(h.svc)

    assert summary["runs"] == 485
    assert await count_runs(h) == 485
    assert await count_runs(h, status="failed") == 30
    assert await count_runs(h, status="failed", alerted=True) == 30  # findable, never alerted
    stats = await h.sim("GET", "/sim/stats")
    assert stats["requests"]["GET /v1/runs"] >= 3  # 200 a page
    async with h.svc.sessions() as s:  # an alert would be in the outbox in the sync's own transaction
        assert await s.scalar(select(func.count()).select_from(OutboxItem).where(OutboxItem.channel == "C0ALERTS")) == 0
    await h.slack.send_command("failed --limit 50")
    listed = h.slack.ephemerals("C0ALERTS")[-1]
    failed_ids = [r["id"] for r in (await h.api("GET", "/runs?status=failed&limit=200"))[1]["data"]]
    assert len(failed_ids) == 30 and all(run_id in str(listed.blocks) for run_id in failed_ids)


async def test_sync_takes_in_pending_approval_tasks(harness):
    h = harness
    await h.sim("POST", "/sim/webhooks", {"mode": "suppress", "count": -1})
    run = await h.start_run("wf_refunds", "approval")

    async def waiting():
        return (await h.api("GET", f"/runs/{run['id']}"))[1]["status"] == "waiting"

    await h.wait_for(waiting, timeout=15, what="the run to wait on its approval")
    await h.sim("POST", "/sim/webhooks/reset")
    summary = await sync(h.svc)
    assert summary["approvals"] == 1
    async with h.svc.sessions() as s:
        task = await s.scalar(select(Approval).where(Approval.run_id == run["id"]))
        assert task is not None and task.status == "pending"
        assert (await s.get(Run, run["id"])).status == "waiting"
        assert await s.get(KeyValue, "sync.done") is not None


async def test_the_first_sync_retries_while_the_platform_is_unreachable_then_runs_once(harness):
    h = harness
    await h.wait_for(lambda: _synced(h), timeout=15, what="the sync at start")  # the app's own first sync
    async with h.svc.sessions.begin() as s:
        await s.delete(await s.get(KeyValue, "sync.done"))
    await h.sim("POST", "/sim/runs/bulk", {"count": 3, "status": "completed"})
    await h.sim("POST", "/sim/stall", {"seconds": 1.5, "status": 503})
    await first_sync(h.svc, retry_seconds=0.2)
    assert await count_runs(h) == 3
    await h.sim("POST", "/sim/stats/reset")
    await first_sync(h.svc, retry_seconds=0.2)  # done once: not again
    assert "GET /v1/runs" not in (await h.sim("GET", "/sim/stats"))["requests"]


async def _synced(h) -> bool:
    async with h.svc.sessions() as s:
        return await s.get(KeyValue, "sync.done") is not None
