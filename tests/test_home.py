"""App Home as a dashboard, end to end through signed `app_home_opened` and `block_actions` payloads: approvals
soonest expiry first with buttons only where the viewer may decide, the runs they triggered (refreshed as they
move), failures of the workflows their channels follow."""

from __future__ import annotations

import json

import pytest

from store.models import Subscription
from tests.test_alerts import wait_for_alert
from tests.test_approvals import card_of, gated_run, platform_task
from tests.test_cost import priced_run, send_runs
from tests.test_lifecycle import blocks_text, card, fail, run_data, settled

ANA = {"name": "Ana Ruiz", "slack_user_id": "U0ANA"}


@pytest.fixture
def settings_overrides():
    return {"STORM_THRESHOLD": 100}


def home_text(h, user: str) -> str:
    home = h.slack.home(user)
    return json.dumps(home.blocks) if home else ""


def decision_tasks(h, user: str) -> list[str]:
    """The task ids whose Approve button the person sees, in order."""
    home = h.slack.home(user)
    return [
        b["block_id"].removeprefix("approval:")
        for b in home.blocks
        if b.get("type") == "actions" and any(e.get("action_id") == "approval_approve" for e in b["elements"])
    ]


async def test_pending_approvals_soonest_expiry_first_with_buttons_only_where_the_viewer_may_decide(harness):
    h = harness
    later, _ = await card_of(h, (await gated_run(h, ttl=3000))["id"])
    sooner, _ = await card_of(h, (await gated_run(h, "wf_tools", ttl=300))["id"])
    own, _ = await card_of(h, (await gated_run(h, "wf_payouts", actor=ANA, ttl=1500))["id"])

    await h.slack.open_home("U0ANA")
    await h.wait_for(lambda: "3 pending" in home_text(h, "U0ANA"), timeout=20, what="Ana's dashboard")
    text = home_text(h, "U0ANA")
    assert text.index(sooner.action) < text.index(own.action) < text.index(later.action)
    # Ana may not approve her own run's task: she sees it, without buttons.
    assert decision_tasks(h, "U0ANA") == [sooner.id, later.id]

    # Approve from App Home: the decision is made and the dashboard follows.
    await h.slack.click(h.slack.home("U0ANA"), "approval_approve", user_id="U0ANA")
    await h.wait_for(lambda: "2 pending" in home_text(h, "U0ANA"), timeout=20, what="the dashboard after approving")
    assert (await platform_task(h, sooner.id))["status"] == "approved"
    assert decision_tasks(h, "U0ANA") == [later.id]


async def test_runs_you_triggered_are_listed_and_refreshed_as_they_move(any_harness):
    h = any_harness
    run = await gated_run(h, "wf_refunds", actor=ANA)
    task, card = await card_of(h, run["id"])
    await h.slack.open_home("U0ANA")
    await h.wait_for(
        lambda: "Runs you triggered" in home_text(h, "U0ANA") and run["id"] in home_text(h, "U0ANA"),
        timeout=20,
        what="the triggered run on the dashboard",
    )
    before = home_text(h, "U0ANA")
    mine = before[before.index("Runs you triggered") :]
    assert run["id"] in mine and "waiting" in mine

    await h.slack.click(card, "approval_approve", user_id="U0BEN")

    def shows_completed():
        text = home_text(h, "U0ANA")
        return "Runs you triggered" in text and "completed" in text[text.index("Runs you triggered") :]

    await h.wait_for(shows_completed, timeout=30, what="the run's new status on Ana's dashboard")


async def test_failures_of_the_last_day_come_from_the_workflows_the_viewers_channels_follow(any_harness):
    h = any_harness
    async with h.svc.sessions.begin() as s:
        s.add(Subscription(channel="C0GENERAL", workflow_id="wf_refunds", failures=True, approvals=False))
    # Carol is not in the alert channel (which hears every failure); she is in #general, which follows wf_refunds.
    h.slack.channel("C0ALERTS").members.remove("U0CAROL")
    failed = await h.start_run("wf_invoices", "fail")
    await wait_for_alert(h, failed["id"])
    await h.settled()

    await h.slack.open_home("U0ANA")
    await h.slack.open_home("U0CAROL")
    await h.wait_for(lambda: failed["id"] in home_text(h, "U0ANA"), timeout=20, what="the failure on Ana's dashboard")
    await h.wait_for(lambda: "Failures in the last 24 h" in home_text(h, "U0CAROL"), timeout=20, what="Carol's home")
    carol = home_text(h, "U0CAROL")
    assert failed["id"] not in carol and "No failure of the workflows your channels follow" in carol
    ana = home_text(h, "U0ANA")
    failures = ana[ana.index("Failures in the last 24 h") : ana.index("Runs you triggered")]
    assert failed["id"] in failures and "open" in failures


async def test_a_home_changed_behind_the_bots_back_is_rendered_again_and_published_over_it(harness):
    """views.publish carries the hash of the view the bot last published; on hash_conflict the bot renders
    App Home again from the store and publishes it, so its newest state ends on screen."""
    h = harness
    await h.slack.open_home("U0ANA")
    await h.wait_for(lambda: "Runs you triggered" in home_text(h, "U0ANA"), timeout=20, what="Ana's dashboard")
    first = h.slack.calls_to("views.publish")[-1]
    assert first.ok and "hash" not in first.args  # nothing published before: nothing to compare
    # Another publisher replaces the view: the hash the bot holds is now stale.
    h.slack._replace_view(h.slack.homes["U0ANA"], {"type": "home", "blocks": []})
    await card_of(h, (await gated_run(h))["id"])  # a new task: every approver's home is published again

    await h.wait_for(lambda: "1 pending" in home_text(h, "U0ANA"), timeout=20, what="the dashboard published again")
    calls = h.slack.calls_to("views.publish")
    refused = [c for c in calls if c.error == "hash_conflict" and c.args.get("user_id") == "U0ANA"]
    assert refused and refused[0].args["hash"]
    assert calls[-1].ok


def failures_section(h, user: str) -> str:
    text = home_text(h, user)
    if "Failures in the last 24 h" not in text:
        return ""  # not published yet
    return text[text.index("Failures in the last 24 h") : text.index("Runs you triggered")]


async def test_failures_say_who_is_on_each_resolved_or_recovered_open_ones_first(any_harness):
    h = any_harness
    recovered = await fail(h, "run_HomeRec001")
    on_it = await fail(h, "run_HomeOnIt01")
    untouched = await fail(h, "run_HomeOpen01")
    resolved = await fail(h, "run_HomeRes001")
    assert (await h.slack.click(resolved, "alert_resolve", user_id="U0ANA")).ok
    form = await h.wait_for(
        lambda: next((v for v in h.slack.open_views("U0ANA") if v.callback_id == "alert_resolve_modal"), None),
        timeout=20,
        what="the Resolve form",
    )
    assert (await h.slack.submit_view(form, {}, user_id="U0ANA")).ok
    assert (await h.slack.click(on_it, "alert_on_it", user_id="U0BEN")).ok
    await h.wait_for(lambda: "<@U0BEN> is on it" in blocks_text(card(h, on_it)), timeout=20, what="Ben on it")
    done = run_data("run_HomeRec002", "completed", replay_of="run_HomeRec001")
    assert (await h.post_webhook("run.completed", {"run": done})).status == 200
    await h.wait_for(
        lambda: "recovered" in card(h, recovered).blocks[0]["text"]["text"], timeout=20, what="the recovery"
    )
    await settled(h)

    await h.slack.open_home("U0ANA")
    await h.wait_for(lambda: "run_HomeRec001" in home_text(h, "U0ANA"), timeout=20, what="Ana's failures")
    failures = failures_section(h, "U0ANA")
    # The open ones (nobody on it, or someone) come first; the settled ones (resolved, recovered) after.
    for settled_run in ("run_HomeRec001", "run_HomeRes001"):
        assert failures.index("run_HomeOpen01") < failures.index(settled_run)
        assert failures.index("run_HomeOnIt01") < failures.index(settled_run)
    assert "resolved by <@U0ANA>" in failures
    assert "<@U0BEN> on it" in failures and "open, nobody on it" in failures
    assert "recovered by `run_HomeRec002`" in failures

    # Ana says she is on the untouched one: her dashboard, published again, says so.
    assert (await h.slack.click(untouched, "alert_on_it", user_id="U0ANA")).ok
    await h.wait_for(
        lambda: "<@U0ANA> on it" in failures_section(h, "U0ANA"), timeout=20, what="Ana's home to say she is on it"
    )
    assert "open, nobody on it" not in failures_section(h, "U0ANA")


async def test_todays_spend_appears_once_usage_exists_with_unknown_costs_counted_apart(any_harness):
    h = any_harness
    await h.slack.open_home("U0ANA")
    await h.wait_for(lambda: "Runs you triggered" in home_text(h, "U0ANA"), timeout=20, what="Ana's dashboard")
    assert "Today's spend" not in home_text(h, "U0ANA")  # no usage reported yet: nothing to say

    await send_runs(
        h,
        priced_run("run_hs_1", cost=0.75),
        priced_run("run_hs_2", workflow=("wf_b", "Beta"), status="completed", cost=1.25),
        priced_run("run_hs_3", status="completed", tokens=None),
        priced_run("run_hs_old", status="completed", cost=9.00, days_ago=2),
    )
    await h.slack.open_home("U0ANA")
    await h.wait_for(lambda: "Today's spend" in home_text(h, "U0ANA"), timeout=20, what="today's spend")
    text = home_text(h, "U0ANA")
    spend = text[text.index("Today's spend") :]
    assert "$2.00 on 3 runs" in spend and "$0.75 on failed runs (38%)" in spend
    assert "1 of unknown cost" in spend
    assert spend.index("`wf_b` $1.25") < spend.index("`wf_a` $0.75")  # the workflows that spent most, first
    assert "$9.00" not in spend  # two days ago is not today


async def test_who_follows_a_failure_sees_on_its_home_who_took_it_and_its_recovery(harness):
    h = harness
    alert = await fail(h, "run_HomeFollow1")
    await h.slack.open_home("U0ANA")
    await h.slack.open_home("U0BEN")
    await h.wait_for(lambda: "open, nobody on it" in failures_section(h, "U0ANA"), timeout=20, what="Ana's home")
    assert (await h.slack.click(alert, "alert_on_it", user_id="U0ANA")).ok
    await h.wait_for(lambda: "<@U0ANA> on it" in failures_section(h, "U0ANA"), timeout=20, what="Ana on it")
    # Ben joins her: Ana, already on it, sees him on her dashboard without opening it again.
    assert (await h.slack.click(alert, "alert_on_it", user_id="U0BEN")).ok
    await h.wait_for(
        lambda: "<@U0ANA> <@U0BEN> on it" in failures_section(h, "U0ANA"), timeout=20, what="Ben on Ana's home"
    )
    # A replay completes: those on it see the failure recovered.
    done = run_data("run_HomeFollow2", "completed", replay_of="run_HomeFollow1")
    assert (await h.post_webhook("run.completed", {"run": done})).status == 200
    for user in ("U0ANA", "U0BEN"):
        await h.wait_for(
            lambda u=user: "recovered by `run_HomeFollow2`" in failures_section(h, u),
            timeout=20,
            what=f"the recovery on {user}'s home",
        )
