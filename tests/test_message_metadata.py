"""Message metadata other apps subscribe to: alerts, storm cards and approval cards carry one documented
metadata object each (docs/message-metadata.md), with the outbox id inside its public payload."""

from __future__ import annotations

import pytest

from bot.render.metadata import RUN_FAILED, RUN_RECOVERED, approval_metadata, storm_metadata
from bot.views import TaskView, view_of_storm
from tests.test_alerts import alerts_for, click_replay, wait_for_alert
from tests.test_approvals import card_of, gated_run, text_of
from tests.test_lifecycle import card, fail, run_data, settled
from tests.test_outbox import alert_row

ANA = {"name": "Ana Ruiz", "slack_user_id": "U0ANA"}


@pytest.fixture
def settings_overrides():
    return {"STORM_THRESHOLD": 100}


def metadata_of(h, channel: str, ts: str) -> dict:
    return h.slack.message(channel, ts).metadata or {}


async def test_an_alert_says_run_failed_then_run_recovered_when_its_replay_succeeds(harness):
    h = harness
    run = await h.start_run("wf_invoices", "fail", actor=ANA)
    alert = await wait_for_alert(h, run["id"])
    meta = metadata_of(h, "C0ALERTS", alert.ts)
    row = await alert_row(h, run["id"])
    assert meta["event_type"] == RUN_FAILED
    payload = meta["event_payload"]
    assert payload["run_id"] == run["id"] and payload["workflow_id"] == "wf_invoices"
    assert payload["workflow_name"] == run["workflow"]["name"] and payload["status"] == "failed"
    failed = (await h.api("GET", f"/runs/{run['id']}"))[1]
    step = next(s for s in failed["steps"] if s["id"] == failed["failed_step_id"])
    assert payload["error_code"] == step["error"]["code"] and payload["failed_step_id"] == step["id"]
    assert payload["outbox_id"] == row.id  # one metadata object: crash recovery finds the post by this

    replay = await click_replay(h, alert, "U0ANA")
    recovered = await h.wait_for(
        lambda: (
            metadata_of(h, "C0ALERTS", alert.ts).get("event_type") == RUN_RECOVERED
            and metadata_of(h, "C0ALERTS", alert.ts)
        ),
        timeout=30,
        what="the alert's metadata to say the run recovered",
    )
    assert recovered["event_payload"]["run_id"] == run["id"]
    assert recovered["event_payload"]["recovered_by_run_id"] == replay["id"]
    assert len(alerts_for(h, run["id"])) == 1


async def test_an_approval_card_says_requested_then_decided(harness):
    h = harness
    run = await gated_run(h)
    task, card = await card_of(h, run["id"])
    meta = metadata_of(h, "C0APPROVALS", card.ts)
    assert meta["event_type"] == "runbot_approval_requested"
    payload = meta["event_payload"]
    assert payload["approval_id"] == task.id and payload["run_id"] == run["id"]
    assert payload["workflow_id"] == "wf_refunds" and payload["status"] == "pending"
    assert payload["kind"] == task.kind and isinstance(payload["outbox_id"], int)
    assert "decided_by" not in payload

    await h.slack.click(card, "approval_approve", user_id="U0ANA")
    await h.wait_for(lambda: "Approved by <@U0ANA>" in text_of(card), timeout=15, what="the card's receipt")
    decided = await h.wait_for(
        lambda: (
            metadata_of(h, "C0APPROVALS", card.ts).get("event_type") == "runbot_approval_decided"
            and metadata_of(h, "C0APPROVALS", card.ts)
        ),
        timeout=15,
        what="the card's metadata to say the approval was decided",
    )
    assert decided["event_payload"]["status"] == "approved"
    assert decided["event_payload"]["decided_by"].startswith("slack:U0ANA")
    assert decided["event_payload"]["approval_id"] == task.id


def test_a_storm_card_says_run_failed_with_its_runs_then_run_recovered():
    state = {
        "workflow_id": "wf_payouts",
        "workflow_name": "Payouts <!channel>",
        "error_code": "provider_unavailable",
        "count": 7,
        "newest": ["run_a", "run_b"],
        "recovered": None,
    }
    failed = storm_metadata(view_of_storm(state))
    assert failed["event_type"] == RUN_FAILED
    assert failed["event_payload"] == {
        "workflow_id": "wf_payouts",
        "workflow_name": "Payouts <!channel>",  # data for other apps, not mrkdwn: kept as the platform sent it
        "error_code": "provider_unavailable",
        "status": "failed",
        "failure_count": 7,
        "run_ids": ["run_a", "run_b"],
    }
    recovered = storm_metadata(view_of_storm({**state, "recovered": {"run_id": "run_ok", "at": None}}))
    assert recovered["event_type"] == RUN_RECOVERED
    assert recovered["event_payload"]["recovered_by_run_id"] == "run_ok"
    assert recovered["event_payload"]["status"] == "recovered"


def test_metadata_values_from_the_platform_carry_no_control_or_bidi_characters():
    task = TaskView(
        id="apr_1",
        run_id="run_1",
        workflow_id="wf_1",
        workflow_name="Refunds",
        kind="spend",
        action="Refund",
        requested_by=None,
        expires_at=None,
        status="approved",
        fingerprint="f",
        run_url="https://console.example/run_1",
        review_url="https://console.example/apr_1",
        step_id="step\u2066~7",
        decided_by="slack:U0ANA (Ana\n\u202eRuiz)",
    )
    payload = approval_metadata(task)["event_payload"]
    text = "".join(str(v) for v in payload.values())
    assert not any(ch in text for ch in "\u2066\u202e\n") and payload["step_id"].startswith("step")


async def test_an_alert_recovered_along_a_chain_of_replays_says_run_recovered_by_the_last_one(harness):
    """The lifecycle marks a failure recovered when a replay of its replay completes: its alert's metadata follows."""
    h = harness
    first = await fail(h, "run_MetaChainA1")
    second = await fail(h, "run_MetaChainB1", replay_of="run_MetaChainA1")
    for message in (first, second):
        assert metadata_of(h, message.channel, message.ts)["event_type"] == RUN_FAILED
    done = run_data("run_MetaChainC1", "completed", replay_of="run_MetaChainB1")
    assert (await h.post_webhook("run.completed", {"run": done})).status == 200

    for message, run_id in ((first, "run_MetaChainA1"), (second, "run_MetaChainB1")):
        meta = await h.wait_for(
            lambda m=message: (
                metadata_of(h, m.channel, m.ts).get("event_type") == RUN_RECOVERED and metadata_of(h, m.channel, m.ts)
            ),
            timeout=20,
            what=f"{run_id}'s alert metadata to say recovered",
        )
        assert meta["event_payload"]["run_id"] == run_id
        assert meta["event_payload"]["recovered_by_run_id"] == "run_MetaChainC1"


async def test_a_resolved_alert_still_says_run_failed(harness):
    """Resolving is a person's word that nobody will replay: the run did not recover, other apps are not told so."""
    h = harness
    alert = await fail(h, "run_MetaResolv1")
    assert (await h.slack.click(alert, "alert_resolve", user_id="U0ANA")).ok
    form = await h.wait_for(
        lambda: next((v for v in h.slack.open_views("U0ANA") if v.callback_id == "alert_resolve_modal"), None),
        timeout=20,
        what="the Resolve form",
    )
    assert (await h.slack.submit_view(form, {}, user_id="U0ANA")).ok
    await h.wait_for(
        lambda: "Invoice triage resolved" in card(h, alert).blocks[0]["text"]["text"], timeout=20, what="resolved"
    )
    await settled(h)
    meta = metadata_of(h, alert.channel, alert.ts)
    assert meta["event_type"] == RUN_FAILED and meta["event_payload"]["run_id"] == "run_MetaResolv1"
