"""Failure alerts end to end: real failures on the reference platform, read back from the Slack stand-in."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from bot.tracking import track_cycle
from store.models import Run, SlackMessage, Subscription
from store.queries import failed_runs

OWNERS = {"wf_invoices": ["U0BEN", "S0ONCALL"]}
ANA = {"name": "Ana Ruiz", "email": "ana@acme.test", "slack_user_id": "U0ANA"}


@pytest.fixture
def settings_overrides():
    return {"WORKFLOW_OWNERS": OWNERS, "STORM_THRESHOLD": 3, "STORM_WINDOW_SECONDS": 30.0}


def alerts_for(h, run_id: str, channel: str = "C0ALERTS") -> list:
    """Top-level messages of the channel about this run (an alert names the run in its fallback text)."""
    return [m for m in h.slack.messages(channel, top_level=True) if f"failed: {run_id}" in m.text]


def thread(h, message, channel: str = "C0ALERTS") -> list:
    return [m for m in h.slack.messages(channel, thread_ts=message.ts) if m.ts != message.ts]


def blocks_text(message) -> str:
    return json.dumps(message.blocks or [])


def buttons(message) -> list[dict]:
    """The buttons of the message's actions row (its overflow menu aside)."""
    return [el for b in message.blocks if b["type"] == "actions" for el in b["elements"] if el["type"] == "button"]


async def wait_for_alert(h, run_id: str, channel: str = "C0ALERTS", timeout: float = 20):
    found = await h.wait_for(
        lambda: alerts_for(h, run_id, channel), timeout=timeout, what=f"the alert of {run_id} in {channel}"
    )
    return found[0]


async def click_replay(h, alert, user_id: str) -> dict:
    """Click the alert's Replay button in the stand-in, as the user would; the replay, as the platform knows it."""
    original = next(el["value"] for el in buttons(alert) if el["action_id"] == "run_replay")
    result = await h.slack.click(alert, "run_replay", user_id=user_id)
    assert result.ok, result

    async def replay_run():
        status, page = await h.api("GET", "/runs?limit=200")
        assert status == 200, page
        return next((r for r in page["data"] if r.get("replay_of") == original), None)

    return await h.wait_for(replay_run, timeout=20, what=f"the platform to start a replay of {original}")


async def settled(h) -> None:
    """Every webhook the platform emitted delivered and processed, and every outbox row delivered."""
    await h.settled()


async def test_a_failed_run_posts_one_alert_with_every_field_and_a_jump_link_to_the_failed_step(harness):
    h = harness
    run = await h.start_run("wf_invoices", "fail", error_code="provider_rate_limited", actor=ANA)
    alert = await wait_for_alert(h, run["id"])
    final = (await h.api("GET", f"/runs/{run['id']}"))[1]
    step = next(s for s in final["steps"] if s["id"] == final["failed_step_id"])
    text = blocks_text(alert)

    assert alert.blocks[0]["type"] == "header" and "Invoice triage failed" in alert.blocks[0]["text"]["text"]
    run_url = h.platform.run_url(run["id"])
    assert f"<{run_url}|{run['id']}>" in text
    assert "manual by <@U0ANA>" in text
    assert text.count("<!date^") >= 2  # started and failed, in each reader's time zone
    assert alert.blocks[1]["type"] == "context"  # one line for when and who
    assert "after" in text and f"{final['progress']['completed_steps']}/5" in text and "steps done" in text
    assert f"Failed at step {step['index'] + 1} of 5: Summarise with LLM" in text
    assert "`provider_rate_limited`" in text
    assert f"`{step['error']['message']}`" in text
    assert "openai answered HTTP 429" in text
    assert "Retryable: yes, the provider was rate-limited" in text
    # Owners: the workflow's owners from WORKFLOW_OWNERS and the person named in the trigger.
    assert "<@U0BEN>" in text and "<!subteam^S0ONCALL>" in text and "<@U0ANA>" in text
    assert "<@U0BEN>" in alert.text and run["id"] in alert.text  # the notification says it too

    jump = next(b["accessory"] for b in alert.blocks if b.get("accessory", {}).get("action_id") == "run_jump")
    assert jump["text"]["text"] == "Jump to failed step"
    assert jump["url"] == h.platform.run_url(run["id"], final["failed_step_id"])
    page_url, anchor = jump["url"].split("#")
    async with h.http.get(page_url) as resp:
        assert resp.status == 200
        page = await resp.text()
    assert f'id="{anchor}" open' in page  # the anchor is the failed step, opened on the platform's page

    replay, changes, on_it, resolve, show = buttons(alert)
    assert (on_it["action_id"], on_it["value"]) == ("alert_on_it", f"run:{run['id']}")
    assert (resolve["action_id"], resolve["value"]) == ("alert_resolve", f"run:{run['id']}")
    assert (replay["action_id"], replay["value"], replay.get("style")) == ("run_replay", run["id"], "primary")
    assert replay["confirm"]["confirm"]["text"] == "Replay"
    assert (changes["action_id"], changes.get("style")) == ("run_replay_changes", None)
    assert (show["action_id"], show["value"]) == ("run_show", run["id"])
    async with h.svc.sessions() as s:
        assert (await s.get(Run, run["id"])).alerted


async def test_a_non_retryable_failure_says_so_and_offers_replay_with_changes_first(harness):
    h = harness
    run = await h.start_run("wf_summaries", "fail", error_code="invalid_request", trigger_type="schedule")
    alert = await wait_for_alert(h, run["id"])
    text = blocks_text(alert)
    assert "Retryable: no, the request was invalid" in text
    assert "Not retryable" in text
    assert " · schedule · started" in alert.blocks[1]["elements"][0]["text"]
    first, second, *_, last = buttons(alert)
    assert (first["action_id"], first.get("style")) == ("run_replay_changes", "primary")
    assert (second["action_id"], second.get("style")) == ("run_replay", None)
    assert "confirm" in second and last["action_id"] == "run_show"
    assert "<@U0BEN>" not in text  # wf_summaries has no owner configured


async def test_a_failure_delivered_three_times_gets_one_alert(harness):
    h = harness
    await h.sim("POST", "/sim/webhooks", {"mode": "duplicate", "count": -1, "types": ["run.failed"]})
    run = await h.start_run("wf_invoices", "fail")
    await wait_for_alert(h, run["id"])

    async def failed_hooks():
        log = await h.sim("GET", "/sim/webhooks/log")
        hooks = [e for e in log if e["type"] == "run.failed" and e["run_id"] == run["id"]]
        return hooks if len(hooks) == 2 else None

    failed_hooks = await h.wait_for(failed_hooks, timeout=20, what="the platform to send run.failed twice")
    assert any(e["duplicate"] for e in failed_hooks) and all(e["status_code"] == 200 for e in failed_hooks)
    final = (await h.api("GET", f"/runs/{run['id']}"))[1]
    # The same webhook id once more, and a late webhook of the same state under a new id.
    assert (await h.post_webhook("run.failed", {"run": final}, msg_id=failed_hooks[0]["id"])).status == 200
    assert (await h.post_webhook("run.failed", {"run": final})).status == 200
    await track_cycle(h.svc)  # tracking finds the same failed state too
    await settled(h)
    assert len(alerts_for(h, run["id"])) == 1
    async with h.svc.sessions() as s:
        count = await s.scalar(select(func.count()).select_from(SlackMessage).where(SlackMessage.subject == run["id"]))
    assert count == 1


async def test_a_failure_no_webhook_reported_is_alerted_by_tracking(harness):
    h = harness
    await h.sim("POST", "/sim/webhooks", {"mode": "suppress", "count": -1, "types": ["run.failed"]})
    run = await h.start_run("wf_invoices", "fail", error_code="provider_timeout")
    alert = await wait_for_alert(h, run["id"], timeout=30)
    assert "Retryable: yes, the provider timed out" in blocks_text(alert)


async def test_a_replay_from_slack_updates_the_alert_in_place_with_a_thread_reply(any_harness):
    h = any_harness
    run = await h.start_run("wf_invoices", "fail", actor=ANA)
    alert = await wait_for_alert(h, run["id"])
    replay = await click_replay(h, alert, "U0ANA")

    await h.wait_for(
        lambda: (
            f"Replayed by <@U0ANA> as <{h.platform.run_url(replay['id'])}|{replay['id']}>"
            in blocks_text(h.slack.message("C0ALERTS", alert.ts))
        ),
        timeout=20,
        what="the alert to show the replay",
    )
    await h.wait_for(
        lambda: any(replay["id"] in m.text and "replayed by <@U0ANA>" in m.text for m in thread(h, alert)),
        timeout=20,
        what="a thread reply about the replay",
    )
    # The replay succeeds: the alert says so, and Replay is no longer offered.
    await h.wait_for(
        lambda: "the replay succeeded" in blocks_text(h.slack.message("C0ALERTS", alert.ts)),
        timeout=20,
        what="the replay's outcome on the alert",
    )
    await h.wait_for(
        lambda: any("succeeded" in m.text for m in thread(h, alert)), timeout=20, what="the outcome in the thread"
    )
    await settled(h)
    updated = h.slack.message("C0ALERTS", alert.ts)
    assert updated.edited >= 1
    assert [b["action_id"] for b in buttons(updated)] == ["run_show"]
    assert len(alerts_for(h, run["id"])) == 1  # updated in place, never reposted
    assert alerts_for(h, replay["id"]) == []  # a replay that succeeds gets no alert of its own


async def test_a_replay_from_the_console_that_fails_updates_the_alert_and_gets_its_own_alert(harness):
    h = harness
    run = await h.start_run("wf_invoices", "fail", replay_outcome="fail")
    alert = await wait_for_alert(h, run["id"])
    status, replay = await h.api("POST", f"/runs/{run['id']}/replay", {"actor": "Dana Ops"})
    assert status == 201

    await h.wait_for(
        lambda: (
            f"Replayed from the console by Dana Ops as <{h.platform.run_url(replay['id'])}"
            in blocks_text(h.slack.message("C0ALERTS", alert.ts))
        ),
        timeout=20,
        what="the alert to show the console replay",
    )
    own = await wait_for_alert(h, replay["id"])
    assert f"Replay of <{h.platform.run_url(run['id'])}|{run['id']}>" in blocks_text(own)
    await h.wait_for(
        lambda: "the replay failed" in blocks_text(h.slack.message("C0ALERTS", alert.ts)),
        timeout=20,
        what="the replay's failure on the original alert",
    )
    await settled(h)
    replies = [m.text for m in thread(h, alert)]
    assert any("replayed from the console by Dana Ops" in t for t in replies)
    assert any("failed with `provider_rate_limited`" in t for t in replies)
    # The replay failed: replaying the original is allowed again.
    assert [b["action_id"] for b in buttons(h.slack.message("C0ALERTS", alert.ts))][0] == "run_replay"


async def test_subscribed_channels_get_their_own_message_and_updates(harness):
    h = harness
    async with h.svc.sessions.begin() as s:
        s.add(Subscription(channel="C0GENERAL", workflow_id="wf_invoices", failures=True, created_by="U0ANA"))
        s.add(Subscription(channel="C0APPROVALS", workflow_id="wf_invoices", failures=False, approvals=True))
    run = await h.start_run("wf_invoices", "fail")
    in_alerts = await wait_for_alert(h, run["id"], "C0ALERTS")
    in_general = await wait_for_alert(h, run["id"], "C0GENERAL")
    assert (in_alerts.channel, in_general.channel) == ("C0ALERTS", "C0GENERAL")
    replay = await click_replay(h, in_general, "U0SANDBOX")
    for channel, message in (("C0ALERTS", in_alerts), ("C0GENERAL", in_general)):
        await h.wait_for(
            lambda c=channel, m=message: replay["id"] in blocks_text(h.slack.message(c, m.ts)),
            timeout=20,
            what=f"the alert in {channel} to show the replay",
        )
    await settled(h)
    assert len(alerts_for(h, run["id"], "C0ALERTS")) == 1 and len(alerts_for(h, run["id"], "C0GENERAL")) == 1
    assert alerts_for(h, run["id"], "C0APPROVALS") == []


async def test_a_long_error_message_is_trimmed_keeping_both_ends_with_the_whole_text_in_the_thread(harness):
    h = harness
    message = "START " + "x" * 5000 + " END-OF-MESSAGE"
    data = {
        "id": "run_LongError01",
        "workflow": {"id": "wf_invoices", "name": "Invoice triage"},
        "status": "failed",
        "created_at": "2026-11-25T10:00:00Z",
        "started_at": "2026-11-25T10:00:01Z",
        "completed_at": "2026-11-25T10:00:42Z",
        "updated_at": "2026-11-25T10:00:42.120Z",
        "duration_ms": 41000,
        "trigger": {"type": "api", "payload": {}},
        "progress": {"total_steps": 5, "completed_steps": 2},
        "failed_step_id": "step_3",
        "replay_of": None,
        "steps": [
            {
                "id": "step_3",
                "index": 2,
                "name": "Summarise with LLM",
                "type": "llm",
                "status": "failed",
                "error": {
                    "code": "provider_error",
                    "message": message,
                    "provider": "openai",
                    "provider_status": 500,
                    "retryable": True,
                },
            }
        ],
    }
    assert (await h.post_webhook("run.failed", {"run": data})).status == 200
    alert = await wait_for_alert(h, "run_LongError01")
    section = next(b for b in alert.blocks if "Failed at step 3 of 5" in b.get("text", {}).get("text", ""))
    assert len(section["text"]["text"]) <= 3000
    assert "START" in section["text"]["text"] and "END-OF-MESSAGE" in section["text"]["text"]
    assert "characters cut" in section["text"]["text"]
    replies = await h.wait_for(lambda: thread(h, alert), timeout=20, what="the whole message in the thread")
    assert message in replies[0].text


async def test_a_storm_of_50_failures_becomes_one_grouped_alert_with_every_run_in_its_thread(any_harness):
    h = any_harness
    created = await h.sim(
        "POST",
        "/sim/runs/bulk",
        {
            "count": 50,
            "workflow": "wf_payouts",
            "status": "failed",
            "error_code": "provider_unavailable",
            "webhooks": True,
        },
    )
    ids = created["ids"]

    def storm_cards():
        return [m for m in h.slack.messages("C0ALERTS", top_level=True) if "with provider_unavailable over" in m.text]

    card = (await h.wait_for(storm_cards, timeout=60, what="a storm card"))[0]
    await settled(h)
    card = h.slack.message("C0ALERTS", card.ts)
    assert "failed 50 times" in card.text
    top = h.slack.messages("C0ALERTS", top_level=True)
    individual = [m for m in top if any(f"failed: {rid}" in m.text for rid in ids)]
    assert len(individual) == 3  # STORM_THRESHOLD alerted one by one, then grouped
    assert len(storm_cards()) == 1
    assert "50 failures with provider_unavailable" in card.blocks[0]["text"]["text"]
    # The newest failures by the platform's failure time are on the card, whatever order they were processed in.
    failed_at = {}
    for rid in ids:
        failed_at[rid] = (await h.api("GET", f"/runs/{rid}"))[1]["completed_at"]
    newest = sorted((failed_at[rid], rid) for rid in ids)[-5:]
    shown = blocks_text(card)
    assert all(rid in shown for _, rid in newest), (newest, shown)
    assert newest[-1][1] == next(b for b in buttons(card) if b["action_id"] == "run_show")["value"]
    listed = " ".join(m.text for m in thread(h, card))
    assert all(rid in listed for rid in ids)  # every run of the burst is findable in the thread
    assert len(thread(h, card)) < 25  # listed in batches, not one reply per failure
    async with h.svc.sessions() as s:
        assert {r.id for r in await failed_runs(s, workflow="wf_payouts", limit=100)} == set(ids)

    recovered = await h.start_run("wf_payouts", "succeed", gate=False)
    await h.wait_for(
        lambda: "Recovered" in blocks_text(h.slack.message("C0ALERTS", card.ts)),
        timeout=30,
        what="the storm card to say the workflow recovered",
    )
    assert recovered["id"] in blocks_text(h.slack.message("C0ALERTS", card.ts))


@pytest.mark.parametrize("settings_overrides", [{"STORM_THRESHOLD": 2, "STORM_WINDOW_SECONDS": 5.0}])
async def test_a_failure_after_the_storm_window_has_passed_is_alerted_on_its_own(harness):
    h = harness
    created = await h.sim(
        "POST",
        "/sim/runs/bulk",
        {
            "count": 4,
            "workflow": "wf_payouts",
            "status": "failed",
            "error_code": "provider_unavailable",
            "webhooks": True,
        },
    )

    def storm_cards():
        return [m for m in h.slack.messages("C0ALERTS", top_level=True) if "with provider_unavailable over" in m.text]

    await h.wait_for(storm_cards, timeout=60, what="a storm card")
    await settled(h)
    card = storm_cards()[0]
    assert "failed 4 times" in h.slack.message("C0ALERTS", card.ts).text
    async with h.svc.sessions() as s:
        storm = (await s.scalars(select(SlackMessage).where(SlackMessage.kind == "storm"))).one()
    last_at = datetime.fromisoformat(storm.state["last_at"])
    window = timedelta(seconds=h.settings.STORM_WINDOW_SECONDS)
    await h.wait_for(
        lambda: datetime.now(timezone.utc) > last_at + window + timedelta(seconds=0.5),
        timeout=30,
        what="the storm window to pass with no failure of that kind",
    )
    late = await h.start_run("wf_payouts", "fail", error_code="provider_unavailable", gate=False)
    alert = await wait_for_alert(h, late["id"], timeout=30)
    assert alert.ts != card.ts
    await settled(h)
    assert len(storm_cards()) == 1
    card = h.slack.message("C0ALERTS", card.ts)
    assert late["id"] not in blocks_text(card) and late["id"] not in " ".join(m.text for m in thread(h, card))
    assert "failed 4 times" in card.text
    individual = [
        m
        for m in h.slack.messages("C0ALERTS", top_level=True)
        if any(f"failed: {rid}" in m.text for rid in created["ids"])
    ]
    assert len(individual) == 2  # STORM_THRESHOLD alerted one by one before the storm; none since
