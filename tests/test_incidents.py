"""Provider incident cards end to end (issue 16): real failures on the reference platform, one card in
ALERT_CHANNEL once a provider fails across INCIDENT_WORKFLOWS workflows, updated in place, recovering and
recovered from the affected steps or a quiet period, and Replay affected runs (operators, paced, audited)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from store.models import AuditEntry
from tests.test_alerts import blocks_text, buttons, thread, wait_for_alert

FLOWS = ("wf_invoices", "wf_summaries", "wf_refunds")  # their LLM steps call openai


@pytest.fixture
def settings_overrides():
    return {
        "STORM_THRESHOLD": 20,
        "INCIDENT_WORKFLOWS": 3,
        "INCIDENT_WINDOW_SECONDS": 120.0,
        "INCIDENT_RECOVERY_SUCCESSES": 2,
        "INCIDENT_QUIET_SECONDS": 600.0,
        "INCIDENT_REPLAY_INTERVAL_SECONDS": 0.2,
    }


def incident_cards(h) -> list:
    return [m for m in h.slack.messages("C0ALERTS", top_level=True) if "openai" in m.text and "across" in m.text]


def current(h, message):
    return h.slack.message("C0ALERTS", message.ts)


async def provider_failures(h, flows=FLOWS) -> list[dict]:
    runs = []
    for wf in flows:
        run = await h.start_run(wf, "fail", error_code="provider_rate_limited", gate=False)
        await wait_for_alert(h, run["id"])
        runs.append(run)
    return runs


async def test_a_provider_failing_across_workflows_gets_one_card_that_recovers_and_replays_its_runs(any_harness):
    h = any_harness
    first = await provider_failures(h, FLOWS[:2])
    assert incident_cards(h) == []  # two workflows: below the threshold
    runs = first + await provider_failures(h, FLOWS[2:])
    card = (await h.wait_for(lambda: incident_cards(h), timeout=20, what="the incident card"))[0]
    assert card.blocks[0]["text"]["text"] == "🔥 openai is failing"
    assert "`provider_rate_limited` across 3 workflows, 3 runs since" in blocks_text(card)
    third = await wait_for_alert(h, runs[2]["id"])
    assert "Part of the openai incident" in blocks_text(third)  # the alert links its incident
    first_alert = await wait_for_alert(h, runs[0]["id"])
    await h.wait_for(
        lambda: "Part of the openai incident" in blocks_text(h.slack.message("C0ALERTS", first_alert.ts)),
        timeout=20,
        what="the alerts posted before the card to link it too",
    )

    again = await h.start_run("wf_invoices", "fail", error_code="provider_rate_limited", gate=False)
    await h.wait_for(
        lambda: "across 3 workflows, 4 runs" in blocks_text(current(h, card)), timeout=20, what="the card updated"
    )
    runs.append(again)
    assert len(incident_cards(h)) == 1  # updated in place, never a second card
    first_ts = (await wait_for_alert(h, runs[0]["id"])).ts
    permalink = f"https://slack.com/archives/C0ALERTS/p{first_ts.replace('.', '')}"
    assert f"<{permalink}|alert>" in blocks_text(current(h, card))  # the workflow's line links its alert
    assert (await h.slack.click(current(h, card), "alert_on_it", user_id="U0BEN")).ok
    await h.wait_for(
        lambda: "<@U0BEN> is on it since" in blocks_text(current(h, card)), timeout=20, what="Ben on the incident"
    )
    assert "replay affected" not in blocks_text(current(h, card)).lower()  # not while it is failing

    # A success of an unaffected workflow says nothing; the affected steps working again do.
    await h.start_run("wf_publish", "succeed", gate=False)
    await h.start_run("wf_invoices", "succeed", gate=False)
    await h.wait_for(
        lambda: current(h, card).blocks[0]["text"]["text"] == "🩹 openai is recovering",
        timeout=30,
        what="the card recovering",
    )
    await h.start_run("wf_summaries", "succeed", gate=False)
    await h.wait_for(
        lambda: current(h, card).blocks[0]["text"]["text"] == "✅ openai recovered", timeout=30, what="recovered"
    )
    assert "Recovered at" in blocks_text(current(h, card)) and "2 affected steps completed again" in blocks_text(
        current(h, card)
    )

    replay = next(b for b in buttons(current(h, card)) if b["action_id"] == "incident_replay")
    assert replay["text"]["text"] == "Replay affected runs (4)"
    assert "Replay 4 runs" in replay["confirm"]["confirm"]["text"]
    assert (await h.slack.click(current(h, card), "incident_replay", user_id="U0BEN")).ok  # not an operator
    await h.wait_for(
        lambda: any("Only operators may replay" in e.text for e in h.slack.ephemerals("C0ALERTS", "U0BEN")),
        timeout=20,
        what="the refusal",
    )
    assert (await h.slack.click(current(h, card), "incident_replay", user_id="U0ANA")).ok
    await h.wait_for(
        lambda: sum("4/4" in m.text or "/4 " in m.text for m in thread(h, card)) >= 4,
        timeout=60,
        what="progress of the four replays in the thread",
    )

    async def replays():
        status, page = await h.api("GET", "/runs?limit=200")
        return {r["replay_of"] for r in page["data"] if r.get("replay_of")} >= {r["id"] for r in runs}

    await h.wait_for(replays, timeout=30, what="the platform to have replayed every affected run")
    async with h.svc.sessions() as s:
        lines = (
            await s.scalars(select(AuditEntry).where(AuditEntry.action == "replay", AuditEntry.result == "ok"))
        ).all()
    assert sorted(a.target for a in lines) == sorted(r["id"] for r in runs)  # one audit line each
    await h.wait_for(
        lambda: not any(b["action_id"] == "incident_replay" for b in buttons(current(h, card))),
        timeout=30,
        what="nothing left to replay",
    )
    assert any("is replaying 4 affected runs" in m.text for m in thread(h, card))
    # A stale card pressed again: nothing is replayed twice.
    stale = replay["value"]
    from bot.actors import Actor
    from bot.incident_replay import replay_affected

    said = await replay_affected(h.svc, Actor.known("U0ANA", is_operator=True), stale)
    assert "already replayed" in said


@pytest.mark.parametrize(
    "settings_overrides",
    [
        {
            "STORM_THRESHOLD": 20,
            "INCIDENT_WORKFLOWS": 3,
            "INCIDENT_QUIET_SECONDS": 1.0,
            "INCIDENT_CHECK_INTERVAL_SECONDS": 0.3,
        }
    ],
)
async def test_an_incident_with_no_new_failure_for_the_quiet_period_recovers(harness):
    h = harness
    await provider_failures(h)
    card = (await h.wait_for(lambda: incident_cards(h), timeout=20, what="the incident card"))[0]
    await h.wait_for(
        lambda: current(h, card).blocks[0]["text"]["text"] == "✅ openai recovered",
        timeout=30,
        what="recovered after the quiet period",
    )
    assert "no new failure for" in blocks_text(current(h, card))
    await h.wait_for(
        lambda: any("openai recovered" in m.text for m in thread(h, card)), timeout=20, what="said in the thread"
    )
