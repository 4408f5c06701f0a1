"""Shortcuts end to end, through signed `message_action`, `shortcut`, `block_actions` and `view_submission` payloads
from the Slack stand-in: *Show run* on a message, and the *Find a run* modal."""

from __future__ import annotations

import json

import pytest

from tests.test_alerts import wait_for_alert
from tests.test_cost import priced_run, send_runs

CHANNEL = "C0GENERAL"


@pytest.fixture
def settings_overrides():
    return {"STORM_THRESHOLD": 100, "OPERATORS": ["U0ANA"]}


def ephemerals(h, user: str, channel: str = CHANNEL) -> list:
    return h.slack.ephemerals(channel, user=user)


def modal_text(view) -> str:
    return json.dumps(view.blocks or [])


async def test_show_run_on_a_message_answers_each_run_it_names_ephemerally_in_its_conversation(harness):
    h = harness
    failed = await h.start_run("wf_invoices", "fail")
    done = await h.start_run("wf_invoices", "succeed", gate=False)
    await wait_for_alert(h, failed["id"])
    await h.settled()
    text = f"is {failed['id']} the same as <{h.platform.run_url(done['id'])}|this one>? and {failed['id']} again"
    msg, _ = await h.slack.post_user_message(CHANNEL, text, user_id="U0BEN")

    result = await h.slack.message_shortcut(msg, "runbot_show_run", user_id="U0CAROL")
    assert result.ok, result
    answers = await h.wait_for(
        lambda: len(ephemerals(h, "U0CAROL")) >= 2 and ephemerals(h, "U0CAROL"),
        timeout=20,
        what="a card for each run",
    )
    shown = [json.dumps(e.blocks) for e in answers]
    assert failed["id"] in shown[0] and done["id"] in shown[1]
    assert len(answers) == 2  # each run once
    assert ephemerals(h, "U0BEN") == []  # only the person who asked sees the answer


async def test_show_run_on_a_message_without_runs_says_what_it_looks_for(harness):
    h = harness
    msg, _ = await h.slack.post_user_message(CHANNEL, "lunch at <!here> 12?", user_id="U0BEN")
    await h.slack.message_shortcut(msg, "runbot_show_run", user_id="U0CAROL")
    answer = await h.wait_for(lambda: ephemerals(h, "U0CAROL"), timeout=15, what="an answer")
    assert "No run IDs or run links" in answer[0].text


async def test_find_a_run_opens_at_once_then_filters_update_the_results_in_the_modal(any_harness):
    h = any_harness
    failed = await h.start_run("wf_invoices", "fail")
    done = await h.start_run("wf_refunds", "succeed", gate=False)
    await wait_for_alert(h, failed["id"], channel="C0ALERTS")
    await h.settled()

    result = await h.slack.global_shortcut("runbot_find_run", user_id="U0ANA")
    assert result.ok, result
    opens = h.slack.calls_to("views.open")
    assert opens and opens[0].ok  # opened with the trigger, before anything else
    view_id = opens[0].response["view"]["id"]
    view = await h.wait_for(
        lambda: failed["id"] in modal_text(h.slack.views[view_id]) and h.slack.views[view_id],
        timeout=20,
        what="the results in the modal",
    )
    assert done["id"] in modal_text(view)

    await h.slack.click(view, "find_filter_status", value="failed", user_id="U0ANA")
    view = await h.wait_for(
        lambda: done["id"] not in modal_text(h.slack.views[view_id]) and h.slack.views[view_id],
        timeout=20,
        what="the modal to show failed runs only",
    )
    assert failed["id"] in modal_text(view)
    actions = [
        el.get("action_id") for b in view.blocks for el in (b.get("elements") or []) + [b.get("accessory") or {}]
    ]
    assert "run_replay" in actions and "find_run_show" in actions  # Ana is an operator: she may replay

    # Search (view_submission) with an error code no run has: "Searching…" at once, then no results, filters kept.
    result = await h.slack.submit_view(view_id, {"error_code": {"find_filter_error_code": "no_such_code"}})
    assert result.ok and result.body["response_action"] == "update"
    view = await h.wait_for(
        lambda: "No run matches" in modal_text(h.slack.views[view_id]) and h.slack.views[view_id],
        timeout=20,
        what="the search to find nothing",
    )
    assert "no_such_code" in modal_text(view) and '"value": "failed"' in modal_text(view)
    await h.slack.submit_view(view_id, {"error_code": {"find_filter_error_code": ""}})
    view = await h.wait_for(
        lambda: failed["id"] in modal_text(h.slack.views[view_id]) and h.slack.views[view_id],
        timeout=20,
        what="the failed run again",
    )

    await h.slack.click(view, "find_run_show", user_id="U0ANA")
    dm = h.slack.dm_channel_id("U0ANA")
    await h.wait_for(
        lambda: any(failed["id"] in json.dumps(m.blocks or []) for m in h.slack.messages(dm)),
        timeout=20,
        what="the run's card in a direct message",
    )


async def test_find_a_run_offers_only_show_to_someone_who_may_not_operate(harness):
    h = harness
    failed = await h.start_run("wf_invoices", "fail")
    await wait_for_alert(h, failed["id"], channel="C0ALERTS")
    await h.slack.global_shortcut("runbot_find_run", user_id="U0CAROL")
    view_id = h.slack.calls_to("views.open")[0].response["view"]["id"]
    view = await h.wait_for(
        lambda: failed["id"] in modal_text(h.slack.views[view_id]) and h.slack.views[view_id],
        timeout=20,
        what="the results in the modal",
    )
    text = modal_text(view)
    assert "find_run_show" in text and "run_replay" not in text


async def test_find_a_run_filters_on_cost_once_usage_exists(harness):
    h = harness
    await h.slack.global_shortcut("runbot_find_run", user_id="U0ANA")
    view_id = h.slack.calls_to("views.open")[0].response["view"]["id"]
    view = await h.wait_for(
        lambda: "No run matches" in modal_text(h.slack.views[view_id]) and h.slack.views[view_id],
        timeout=20,
        what="the empty results",
    )
    assert "find_filter_min_cost" not in modal_text(view)  # no usage reported yet: no cost filter

    await send_runs(
        h,
        priced_run("run_fcCheap01", cost=0.10),
        priced_run("run_fcDear001", status="completed", cost=2.50),
        priced_run("run_fcUnknown", status="completed", tokens=None),
    )
    await h.slack.submit_view(view_id, {})
    view = await h.wait_for(
        lambda: "run_fcDear001" in modal_text(h.slack.views[view_id]) and h.slack.views[view_id],
        timeout=20,
        what="the runs, with the cost filter",
    )
    text = modal_text(view)
    assert "find_filter_min_cost" in text and "Cost at least (USD)" in text
    assert "$2.50" in text and "cost unknown" in text  # each result says what it cost

    await h.slack.submit_view(view_id, {"min_cost": {"find_filter_min_cost": "$1"}})
    view = await h.wait_for(
        lambda: (
            "run_fcCheap01" not in modal_text(h.slack.views[view_id])
            and "run_fcDear001" in modal_text(h.slack.views[view_id])
            and h.slack.views[view_id]
        ),
        timeout=20,
        what="only the runs that cost at least $1",
    )
    text = modal_text(view)
    assert "run_fcUnknown" not in text  # unknown cost is not "at least $1"

    await h.slack.submit_view(view_id, {"min_cost": {"find_filter_min_cost": "a lot"}})
    view = await h.wait_for(
        lambda: "takes dollars" in modal_text(h.slack.views[view_id]) and h.slack.views[view_id],
        timeout=20,
        what="the modal to say what the filter takes",
    )
    assert "Cost at least takes dollars, such as 0.50" in modal_text(view)
    assert "run_fcDear001" not in modal_text(view)
    assert "a lot" in modal_text(view)  # the filter keeps what was typed, to correct it
