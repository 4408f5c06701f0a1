"""Usage and cost end to end: the reference platform reports usage for llm steps (none for one sample
workflow, tokens without a cost for an unpriced model), the bot validates it at the webhook, stores it on
runs and in the daily rollups, and shows unknown cost as unknown, never as zero."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from sqlalchemy import func, select

from store.models import CostRollup, Run
from tests.support.harness import sign_webhook
from tests.test_commands import stored


async def rollup_totals(h) -> tuple[int, int, int]:
    async with h.svc.sessions() as s:
        runs, priced, cost = (
            await s.execute(
                select(func.sum(CostRollup.runs), func.sum(CostRollup.priced_runs), func.sum(CostRollup.cost_micros))
            )
        ).one()
    return int(runs or 0), int(priced or 0), int(cost or 0)


async def test_usage_reaches_the_store_and_the_rollups_and_unknown_stays_unknown(harness):
    h = harness
    priced = await h.start_run("wf_invoices", "succeed", id="run_cost0001")
    failed = await h.start_run("wf_invoices", "fail", id="run_cost0002")  # fails on its llm step
    unknown = await h.start_run("wf_tools", "succeed", gate=False, id="run_cost0003")  # reports no usage
    partial = await h.start_run("wf_summaries", "succeed", model="mystery-9", id="run_cost0004")  # unpriced model
    for run_id, status in [(priced["id"], "completed"), (failed["id"], "failed"), (unknown["id"], "completed")]:
        await stored(h, run_id, status)
    await stored(h, partial["id"], "completed")
    await h.settled()
    async with h.svc.sessions() as s:
        rows = {r.id: r for r in (await s.scalars(select(Run))).all()}
    for run_id in (priced["id"], failed["id"]):
        _, platform = await h.api("GET", f"/runs/{run_id}")
        usage = platform["usage"]
        assert usage["cost_usd"] > 0
        assert rows[run_id].cost_micros == round(usage["cost_usd"] * 1_000_000)
        assert rows[run_id].input_tokens == usage["input_tokens"] > 0
    assert rows[failed["id"]].output_tokens == 0  # the failed call burned its prompt only
    assert rows[unknown["id"]].cost_micros is None and rows[unknown["id"]].input_tokens is None
    assert rows[partial["id"]].cost_micros is None and rows[partial["id"]].input_tokens > 0
    runs, priced_runs, cost = await rollup_totals(h)
    assert (runs, priced_runs) == (4, 2)
    assert cost == rows[priced["id"]].cost_micros + rows[failed["id"]].cost_micros


async def test_a_run_moving_on_moves_its_rollup_row_and_counts_once(harness):
    h = harness
    run = await h.start_run("wf_invoices", "succeed", frozen=True, status="running", id="run_cost0010")
    await stored(h, run["id"], "running")
    await h.sim("POST", f"/sim/runs/{run['id']}/advance", {"status": "completed"})
    await stored(h, run["id"], "completed")
    await h.settled()
    async with h.svc.sessions() as s:
        rows = (await s.scalars(select(CostRollup).where(CostRollup.runs != 0))).all()
    assert [(r.status, r.runs) for r in rows] == [("completed", 1)]


async def test_a_webhook_with_malformed_usage_is_refused_naming_the_field(harness):
    h = harness
    run = {
        "id": "run_costbad1",
        "workflow": {"id": "wf_invoices", "name": "Invoice triage"},
        "status": "running",
        "created_at": "2026-11-25T10:00:00Z",
        "updated_at": "2026-11-25T10:00:01Z",
        "usage": {"input_tokens": 10, "cost_usd": "0.10"},
    }
    body = json.dumps(
        {"type": "run.started", "timestamp": datetime.now(timezone.utc).isoformat(), "data": {"run": run}}
    )
    async with h.http.post(f"{h.bot_url}/webhooks/platform", data=body, headers=sign_webhook(body)) as r:
        assert r.status == 400
        assert "data.run.usage.cost_usd" in (await r.json())["error"]["message"]
    run["usage"] = {"input_tokens": 10}  # partial usage is valid: cost unknown
    resp = await h.post_webhook("run.started", {"run": run})
    assert resp.status == 200
    row = await stored(h, "run_costbad1", "running")
    assert row.input_tokens == 10 and row.cost_micros is None
