"""Usage and cost end to end: the reference platform reports usage for llm steps (none for one sample
workflow, tokens without a cost for an unpriced model), the bot validates it at the webhook, stores it on
runs and in the daily rollups, and shows unknown cost as unknown, never as zero."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, func, select, update

from store import rollups
from store.models import CostRollup, KeyValue, Run
from tests.support.harness import sign_webhook
from tests.test_commands import command, later, shown, stored


async def rollup_totals(h) -> tuple[int, int, int]:
    async with h.svc.sessions() as s:
        runs, priced, cost = (
            await s.execute(
                select(func.sum(CostRollup.runs), func.sum(CostRollup.priced_runs), func.sum(CostRollup.cost_micros))
            )
        ).one()
    return int(runs or 0), int(priced or 0), int(cost or 0)


async def test_usage_reaches_the_store_and_the_rollups_and_unknown_stays_unknown(any_harness):
    h = any_harness
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


async def test_a_run_moving_on_moves_its_rollup_row_and_counts_once(any_harness):
    h = any_harness
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


# Cost where people look

NOW = datetime.now(timezone.utc)


def priced_run(run_id: str, *, workflow=("wf_a", "Alpha"), status="failed", cost=None, days_ago=0, tokens=1000):
    """A run as a platform would send it, with usage (cost None: tokens without a cost; tokens None: no usage)."""
    at = (NOW - timedelta(days=days_ago)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    steps = [
        {"id": "step_1", "index": 0, "name": "Fetch", "type": "http", "status": "completed"},
        {"id": "step_2", "index": 1, "name": "Ask the LLM", "type": "llm", "status": status},
    ]
    if status == "failed":
        steps[1]["error"] = {"code": "provider_timeout", "message": "timed out", "retryable": True}
    run = {
        "id": run_id,
        "workflow": {"id": workflow[0], "name": workflow[1]},
        "status": status,
        "created_at": at,
        "updated_at": at,
        "completed_at": at,
        "model": "gpt-4.1",
        "failed_step_id": "step_2" if status == "failed" else None,
        "progress": {"total_steps": 2, "completed_steps": 1},
        "steps": steps,
    }
    if tokens is not None:
        usage = {"input_tokens": tokens, "output_tokens": tokens // 2}
        if cost is not None:
            usage["cost_usd"] = cost
        run["usage"] = usage
        steps[1]["usage"] = dict(usage)
    return run


async def send_runs(h, *runs):
    for run in runs:
        event = "run.started" if run["status"] == "running" else f"run.{run['status']}"
        resp = await h.post_webhook(event, {"run": run})
        assert resp.status == 200
    for run in runs:
        await stored(h, run["id"], run["status"])


async def test_min_cost_and_sort_cost_on_failed_and_list_leave_unknown_out_or_last(any_harness):
    h = any_harness
    await send_runs(
        h,
        priced_run("run_mc_big", cost=0.75),
        priced_run("run_mc_small", cost=0.20),
        priced_run("run_mc_unknown", tokens=None),
        priced_run("run_mc_partial", cost=None),
        priced_run("run_mc_done", status="completed", cost=1.25),
    )
    over = shown(await command(h, "failed --min-cost 0.50"))
    assert "run_mc_big" in over and "$0.75" in over
    assert "run_mc_small" not in over and "run_mc_unknown" not in over and "run_mc_partial" not in over
    none = await command(h, "failed --min-cost $5")
    assert "No runs match" in none.text and "unknown cost are left out" in none.text
    by_cost = shown(await command(h, "failed --sort cost"))
    assert by_cost.index("run_mc_big") < by_cost.index("run_mc_small") < by_cost.index("run_mc_unknown")
    assert "costliest first" in by_cost
    listed = shown(await command(h, "list --sort cost --min-cost 0.1"))
    assert listed.index("run_mc_done") < listed.index("run_mc_big") < listed.index("run_mc_small")
    assert "run_mc_partial" not in listed
    first = await command(h, "failed --sort cost --limit 2")
    assert "run_mc_big" in shown(first) and "run_mc_unknown" not in shown(first)
    await h.slack.click(first, "runs_next_page")
    await h.slack.wait_for(lambda s: "page 2" in shown(first))
    assert "run_mc_big" not in shown(first) and "run_mc_unknown" in shown(first)
    bad = await command(h, "failed --min-cost lots")
    assert "US dollars" in bad.text


async def test_show_breaks_cost_down_per_step_and_says_unknown_when_it_is(harness):
    h = harness
    await send_runs(h, priced_run("run_sh_priced", cost=0.0042, tokens=1200), priced_run("run_sh_none", tokens=None))
    await send_runs(h, priced_run("run_sh_partial", cost=None))
    detail = shown(await command(h, "show run_sh_priced"))
    assert "*Cost*: 1,200 in · 600 out · $0.0042" in detail and "2. Ask the LLM: 1,200 in" in detail
    assert "Fetch:" not in detail  # no usage reported for that step: not shown as zero
    none = shown(await command(h, "show run_sh_none"))
    assert "Cost*: unknown" in none and "$0.00" not in none
    partial = shown(await command(h, "show run_sh_partial"))
    assert "cost unknown" in partial and "reported tokens without a cost" in partial


async def test_the_failure_alert_says_what_the_run_cost_and_what_the_failed_step_burned(harness):
    h = harness
    priced = await h.start_run("wf_invoices", "fail", id="run_al_priced")
    unknown = await h.start_run("wf_tools", "fail", gate=False, fail_step=1, id="run_al_none")
    await stored(h, priced["id"], "failed")
    await stored(h, unknown["id"], "failed")
    await h.settled()
    _, platform = await h.api("GET", f"/runs/{priced['id']}")
    step = next(s for s in platform["steps"] if s["status"] == "failed")

    def alert_of(run_id):
        return next((m for m in h.slack.messages("C0ALERTS") if run_id in shown(m)), None)

    await h.slack.wait_for(lambda s: alert_of(priced["id"]) and alert_of(unknown["id"]), timeout=15)
    from bot.render.cost import money

    line = f"Cost {money(platform['usage']['cost_usd'])} ({money(step['usage']['cost_usd'])} on the failed step)"
    assert line in shown(alert_of(priced["id"]))
    assert "Cost unknown" in shown(alert_of(unknown["id"])) and "$0.00" not in shown(alert_of(unknown["id"]))


# /runs cost


async def test_runs_cost_reports_spend_failed_share_change_and_unknown_from_the_rollups(harness):
    h = harness
    await send_runs(
        h,
        priced_run("run_pc_1", cost=0.75),
        priced_run("run_pc_2", status="completed", cost=0.20),
        priced_run("run_pc_3", workflow=("wf_b", "Beta <b>"), status="completed", cost=1.05),
        priced_run("run_pc_4", workflow=("wf_b", "Beta <b>"), status="completed", tokens=None),
        priced_run("run_pc_old", status="completed", cost=1.00, days_ago=8),
        priced_run("run_pc_older", status="completed", cost=9.00, days_ago=20),
    )
    report = shown(await command(h, "cost --since 7d"))
    assert "$2.00 on 4 runs, up 100% from $1.00 the period before" in report
    assert "$0.75 on failed runs, 38% of $2.00" in report
    assert "1 run of unknown cost, not counted" in report
    assert report.index("Beta &lt;b&gt;") < report.index("Alpha")  # the costliest first, names escaped
    assert "█" in report and "<b>" not in report
    by_status = shown(await command(h, "cost --since 30d --by status"))
    assert "$12.00 on 6 runs" in by_status and "completed" in by_status and "failed" in by_status
    by_model = shown(await command(h, "cost --by model"))
    assert "gpt-4.1" in by_model
    # The rollups outlive the runs: pruning runs past RETENTION_DAYS leaves the spend.
    async with h.svc.sessions.begin() as s:
        await s.execute(delete(Run))
    again = shown(await command(h, "cost --since 7d"))
    assert "$2.00 on 4 runs" in again
    empty = await command(h, "cost --since 1d --by workflow")
    assert "$2.00" in shown(empty)


# Budgets


@pytest.mark.parametrize("settings_overrides", [{"BUDGET_RUN_USD": 0.5, "BUDGET_WORKFLOW_DAILY_USD": 2.0}])
async def test_budgets_notify_once_per_run_and_once_per_workflow_day(harness):
    h = harness
    running = priced_run("run_bg_1", status="running", cost=0.30)
    running["completed_at"] = None
    running["steps"][1]["status"] = "running"
    await send_runs(h, running)
    running = {**running, "usage": {**running["usage"], "cost_usd": 0.60}, "updated_at": later_ts(1)}
    await send_runs(h, running)  # crosses the per-run budget while running: Pause is offered
    again = {**running, "usage": {**running["usage"], "cost_usd": 0.90}, "updated_at": later_ts(2)}
    await send_runs(h, again)  # still over: no second notification
    resp = await h.post_webhook("run.started", {"run": again}, msg_id="msg_budget_dup")
    assert resp.status == 200
    await send_runs(h, priced_run("run_bg_2", status="completed", cost=0.40), priced_run("run_bg_3", cost=0.80))
    # run_bg_3 takes the day's total to $2.10, past $2.00; run_bg_4 adds to it without a second notification
    await send_runs(h, priced_run("run_bg_4", status="completed", cost=0.45))
    await h.settled()
    posts = [m for m in h.slack.messages("C0ALERTS") if "Over budget" in shown(m)]
    per_run = [m for m in posts if "per-run budget" in shown(m)]
    daily = [m for m in posts if "daily budget" in shown(m)]
    assert sorted(("run_bg_1" in shown(m), "run_bg_3" in shown(m)) for m in per_run) == [(False, True), (True, False)]
    assert len(daily) == 1 and "Alpha" in shown(daily[0]) and "$2.10" in shown(daily[0])
    run_note = next(m for m in per_run if "run_bg_1" in shown(m))
    assert "run_pause" in shown(run_note) and "run_show" in shown(run_note)
    done = next(m for m in per_run if "run_bg_3" in shown(m))
    assert "run_pause" not in shown(done)  # a failed run cannot be paused
    await h.slack.click(done, "run_show", user_id="U0SANDBOX")
    detail = await later(h, lambda t: "run_bg_3" in t and "*Cost*" in t, channel="C0ALERTS")
    assert "$0.80" in shown(detail)


async def test_budgets_are_off_by_default(harness):
    h = harness
    await send_runs(h, priced_run("run_bg_off", cost=500.0))
    await h.settled()
    assert not [m for m in h.slack.messages("C0ALERTS") if "Over budget" in shown(m)]


def later_ts(seconds: int) -> str:
    return (NOW + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


async def test_the_daily_digest_has_a_spend_line(harness):
    from bot.housekeeping import daily_digest

    h = harness
    await send_runs(
        h,
        priced_run("run_dg_1", cost=0.75, days_ago=1),
        priced_run("run_dg_2", status="completed", cost=0.45, days_ago=1),
        priced_run("run_dg_3", status="completed", tokens=None, days_ago=1),
        priced_run("run_dg_today", status="completed", cost=9.0),
    )
    await h.settled()
    assert await daily_digest(h.svc) == 1
    digest = await h.wait_for(
        lambda: next((m for m in h.slack.messages("C0ALERTS") if "Daily digest" in m.text), None), what="the digest"
    )
    assert "Spend: $1.20 on 3 runs, $0.75 on failed runs (62%) · 1 of unknown cost" in shown(digest)


@pytest.mark.parametrize("settings_overrides", [{"RETENTION_DAYS": 5, "COST_ROLLUP_RETENTION_DAYS": 60}])
async def test_rollups_outlive_runs_and_are_pruned_on_their_own_retention(harness):
    from bot.housekeeping import prune

    h = harness
    await send_runs(
        h,
        priced_run("run_rt_recent", status="completed", cost=1.0, days_ago=20),
        priced_run("run_rt_old", status="completed", cost=2.0, days_ago=90),
    )
    await h.settled()
    summary = await prune(h.svc)
    assert summary["runs"] == 2 and summary["cost_rollup_rows"] == 1
    async with h.svc.sessions() as s:
        left = (await s.execute(select(func.sum(CostRollup.cost_micros)))).scalar_one()
    assert left == 1_000_000


async def test_runs_cost_sees_at_once_a_late_event_on_a_closed_day_and_a_new_run_today(any_harness):
    h = any_harness
    await send_runs(h, priced_run("run_cc_old", status="running", cost=1.0, days_ago=3))
    assert "$1.00 on 1 run" in shown(await command(h, "cost --since 7d"))  # the closed days' sums are kept now
    late = priced_run("run_cc_old", status="completed", cost=3.0, days_ago=3)
    late["updated_at"] = NOW.strftime("%Y-%m-%dT%H:%M:%S.000Z")  # the run ends today, three days after it started
    await send_runs(h, late)
    assert "$3.00 on 1 run" in shown(await command(h, "cost --since 7d"))  # its day changed: read again
    await send_runs(h, priced_run("run_cc_new", status="completed", cost=1.0))
    assert "$4.00 on 2 runs" in shown(await command(h, "cost --since 7d"))  # today is always read


@pytest.mark.parametrize(
    ("settings_overrides", "seen"),
    [({"COST_CLOSING_GRACE_SECONDS": 2 * 86400}, "$3.00"), ({"COST_CLOSING_GRACE_SECONDS": 0}, "$1.00")],
)
async def test_a_day_within_the_closing_grace_is_read_again_on_every_request(harness, seen):
    """A write begun before midnight stamps no closed day (its day was open): readers read a day again on every
    request until COST_CLOSING_GRACE_SECONDS after its end (here two days: yesterday; zero: kept sums)."""
    h = harness
    await send_runs(h, priced_run("run_gr_1", status="completed", cost=1.0, days_ago=1))
    assert "$1.00 on 1 run" in shown(await command(h, "cost --since 7d"))
    async with h.svc.sessions.begin() as s:  # that write lands now, unstamped
        await s.execute(
            update(CostRollup)
            .where(CostRollup.day == (NOW - timedelta(days=1)).date())
            .values(cost_micros=CostRollup.cost_micros + 2_000_000)
        )
    assert f"{seen} on 1 run" in shown(await command(h, "cost --since 7d"))


@pytest.mark.parametrize("settings_overrides", [{"COST_ROLLUP_RETENTION_DAYS": 4}])
async def test_runs_cost_reads_again_each_closed_day_that_changed_and_every_day_after_a_prune(any_harness):
    from bot.housekeeping import prune

    h = any_harness

    def housekept() -> bool:  # the scheduler's first pass prunes too: it must not land in the middle of the test
        return any(
            sample.labels.get("job") == "housekeeping" and sample.value > 0
            for metric in h.svc.metrics.jobs.collect()
            for sample in metric.samples
            if sample.name.endswith("_total")
        )

    await h.wait_for(housekept, timeout=60, what="the scheduler's first housekeeping pass")
    await send_runs(
        h,
        priced_run("run_cd_3", status="running", cost=1.0, days_ago=3),
        priced_run("run_cd_5", status="completed", cost=2.0, days_ago=5),
        priced_run("run_cd_6", status="running", cost=2.0, days_ago=6),
    )
    async with h.svc.sessions.begin() as s:  # as if these runs had arrived while their days were open: no stamps
        await s.execute(delete(KeyValue).where(KeyValue.key.startswith(rollups.DAY_CHANGED)))
    assert "$5.00 on 3 runs" in shown(await command(h, "cost --since 7d"))  # the closed days' sums are kept now
    late = [
        priced_run("run_cd_3", status="completed", cost=4.0, days_ago=3),
        priced_run("run_cd_6", status="completed", cost=5.0, days_ago=6),
    ]
    for run in late:
        run["updated_at"] = NOW.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    await send_runs(h, *late)
    assert "$11.00 on 3 runs" in shown(await command(h, "cost --since 7d"))  # both days read again
    assert (await prune(h.svc))["cost_rollup_rows"] > 0  # days five and six ago are past the rollups' retention
    assert "$4.00 on 1 run" in shown(await command(h, "cost --since 7d"))
