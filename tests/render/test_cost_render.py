"""The cost, spend, tail, diff and budget renderers treat every outside string as data, and say "cost unknown"
rather than "$0.00"."""

from __future__ import annotations

import json
from datetime import date

from bot.render.budget import workflow_budget_message
from bot.render.cost import alert_cost_words, money
from bot.render.diff import run_diff
from bot.render.spend import CostReport, cost_report
from bot.render.tail import log_line, tail_message, tail_out_of_reach
from bot.views import view_of_run
from store.rollups import SpendRow

HOSTILE = "<!channel> <@U123ABC> *bold* & <http://evil|click>"


def url(run_id, step_id=None):
    return f"https://console.test/runs/{run_id}"


def assert_inert(payload):
    text = json.dumps(payload, ensure_ascii=False)
    assert "<!channel>" not in text and "<@U123ABC>" not in text and "<http://evil" not in text


def test_money_is_precise_for_small_bills_and_never_zero_for_unknown():
    assert [money(None), money(0), money(0.00004), money(0.0042), money(0.5), money(1234.5)] == [
        "cost unknown",
        "$0.00",
        "<$0.0001",
        "$0.0042",
        "$0.50",
        "$1,234.50",
    ]


def test_hostile_names_and_log_lines_are_data_everywhere():
    run = {
        "id": "run_h1",
        "workflow": {"id": "wf_h", "name": HOSTILE},
        "status": "failed",
        "model": HOSTILE,
        "prompt": HOSTILE,
        "usage": {"cost_usd": 0.2},
        "steps": [
            {"id": "s1", "index": 0, "name": HOSTILE, "status": "failed", "error": {"code": HOSTILE}},
        ],
    }
    view = view_of_run(run)
    assert "<!channel>" not in alert_cost_words(view)
    other = view_of_run({**run, "id": "run_h2", "prompt": "x", "steps": []})
    assert_inert(run_diff(view, other, HOSTILE, "x", url))
    row = SpendRow("wf_h", HOSTILE, 3, 2, 1_500_000)
    report = CostReport(date(2026, 11, 1), date(2026, 11, 8), "workflow", [row], [row], [], HOSTILE)
    assert_inert(cost_report(report))
    assert "1 run of unknown cost" in json.dumps(cost_report(report))
    line = log_line({"timestamp": "2026-11-25T10:00:42Z", "severity": "error", "event_type": "x", "message": HOSTILE})
    assert_inert(
        tail_message(
            run_id="run_h1", workflow=HOSTILE, status="running", lines=[line], run_url=url, interval=5, started_by="U0A"
        )
    )
    assert_inert(
        workflow_budget_message(
            workflow=HOSTILE,
            day="2026-11-25",
            spent_micros=1,
            budget_micros=1,
            run_id="run_h1",
            status="x",
            run_url=url,
        )
    )


def test_the_full_diff_modal_keeps_every_section_within_slacks_limit_after_escaping():
    from bot.render.diff import full_diff_modal

    modal = full_diff_modal("run_a", "&" * 5000, "run_b", "<" * 5000 + "\n" + "x" * 4000)
    texts = [b["text"]["text"] for b in modal["blocks"]]
    assert texts and all(len(t) <= 3000 for t in texts)
    assert sum(t.count("&amp;") for t in texts) == 5000 and sum(t.count("&lt;") for t in texts) == 5000


def test_a_tail_drops_its_oldest_lines_to_fit_a_section():
    lines = [f"line {i} " + "<" * 250 for i in range(15)]
    payload = tail_message(
        run_id="run_t", workflow="W", status="running", lines=lines, run_url=url, interval=5, started_by=None
    )
    body = payload["blocks"][1]["text"]["text"]
    assert len(body) <= 3000 and "line 14 " in body and "line 0 " not in body and "characters cut" not in body


def test_a_tail_out_of_reach_names_the_channel_only_by_a_checked_id_and_slacks_error_as_data():
    in_channel = tail_out_of_reach("run_x1", "C0GENERAL", "is_archived")
    assert "<#C0GENERAL>" in in_channel and "`/runs tail run_x1 --dm`" in in_channel
    hostile = tail_out_of_reach("run_x1", "<!channel>", "<!here>")
    assert "this conversation" in hostile and "<!channel>" not in hostile and "<!here>" not in hostile
