"""Mutes end to end (issue 16): the alert's overflow menu, the Mute form (operators), muted failures stored,
listed and told on the next alert, mute expiry, `/runs subscriptions` with Unmute."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from store.models import AuditEntry, Mute, MutedFailure
from tests.test_alerts import alerts_for, blocks_text, settled, thread
from tests.test_commands import command, shown
from tests.test_lifecycle import card, fail, run_data


@pytest.fixture
def settings_overrides():
    return {"STORM_THRESHOLD": 10, "MUTE_DURATIONS_SECONDS": "3,3600"}


async def choose_mute(h, alert, option: str, user: str = "U0ANA", seconds: str = "3"):
    assert (await h.slack.click(alert, "alert_more", user_id=user, value=option)).ok
    form = await h.wait_for(
        lambda: next((v for v in h.slack.open_views(user) if v.callback_id == "alert_mute_modal"), None),
        timeout=20,
        what="the Mute form",
    )
    assert form.callback_id == "alert_mute_modal"
    labels = [o["text"]["text"] for b in form.blocks if b["type"] == "input" for o in b["element"]["options"]]
    assert labels == ["3 s", "1 hour", "until unmuted"]
    result = await h.slack.submit_view(form, {"for": {"value": seconds}}, user_id=user)
    assert result.ok, result


async def muted_count(h, run_id: str) -> int:
    async with h.svc.sessions() as s:
        return len((await s.scalars(select(MutedFailure).where(MutedFailure.run_id == run_id))).all())


async def test_a_mute_keeps_failures_quiet_until_it_ends_and_the_next_alert_counts_them(any_harness):
    h = any_harness
    alert = await fail(h, "run_Mute000001")
    menu = next(el for b in alert.blocks if b["type"] == "actions" for el in b["elements"] if el["type"] == "overflow")
    assert [o["value"] for o in menu["options"]] == ["wf|run_Mute000001", "code|run_Mute000001"]

    # Not an operator: told so in the modal, no form.
    assert (await h.slack.click(alert, "alert_more", user_id="U0BEN", value="wf|run_Mute000001")).ok
    refusal = await h.wait_for(
        lambda: [v for v in h.slack.open_views("U0BEN") if "Only operators may mute" in json.dumps(v.blocks)],
        timeout=20,
        what="the refusal in the modal",
    )
    assert refusal[0].title == "Not muted" and refusal[0].callback_id == "modal_error"
    assert len(h.slack.open_views("U0BEN")) == 1
    assert not [e for e in h.slack.ephemerals("C0ALERTS", "U0BEN") if "Only operators" in e.text]

    await choose_mute(h, alert, "wf|run_Mute000001")
    await h.wait_for(
        lambda: any("<@U0ANA> muted alerts of Invoice triage" in m.text for m in thread(h, alert)),
        timeout=20,
        what="the mute said in the thread",
    )
    async with h.svc.sessions() as s:
        mute = (await s.scalars(select(Mute))).one()
    quiet = run_data("run_Mute000002", "failed")
    assert (await h.post_webhook("run.failed", {"run": quiet})).status == 200
    await h.wait_for(lambda: muted_count(h, "run_Mute000002"), timeout=20, what="the muted failure stored")
    await settled(h)
    assert alerts_for(h, "run_Mute000002") == []
    listed = shown(await command(h, "failed"))
    assert "run_Mute000002" in listed and "🔕 muted" in listed  # still listed, marked

    await h.wait_for(lambda: datetime.now(timezone.utc) > mute.until, timeout=30, what="the mute to end")
    loud = await fail(h, "run_Mute000003")
    assert "1 muted failure of this workflow since the last alert" in blocks_text(loud)
    another = await fail(h, "run_Mute000004")
    assert "muted failure" not in blocks_text(another)  # told once
    async with h.svc.sessions() as s:
        actions = [(a.user_id, a.action, a.result) for a in await s.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert ("U0BEN", "alert_mute", "refused") in actions and ("U0ANA", "alert_mute", "ok") in actions
    assert card(h, alert).ts == alert.ts


async def test_a_mute_of_one_error_code_until_unmuted_is_listed_with_unmute(harness):
    h = harness
    alert = await fail(h, "run_MuteCode01")
    await choose_mute(h, alert, "code|run_MuteCode01", seconds="0")
    await h.wait_for(
        lambda: any("until unmuted" in m.text for m in thread(h, alert)), timeout=20, what="the mute in the thread"
    )
    other = run_data("run_MuteCode02", "failed")
    other["steps"][0]["error"]["code"] = "provider_timeout"  # another code: still alerted
    assert (await h.post_webhook("run.failed", {"run": other})).status == 200
    await h.wait_for(lambda: alerts_for(h, "run_MuteCode02"), timeout=20, what="the other code alerted")
    assert (await h.post_webhook("run.failed", {"run": run_data("run_MuteCode03", "failed")})).status == 200
    await h.wait_for(lambda: muted_count(h, "run_MuteCode03"), timeout=20, what="the same code muted")

    listing = await command(h, "subscriptions", channel="C0ALERTS")
    assert "Muted here" in shown(listing) and "provider_rate_limited" in shown(listing)
    assert "until unmuted" in shown(listing)
    assert (await h.slack.click(listing, "mute_unmute", user_id="U0BEN")).ok  # not an operator
    await h.wait_for(
        lambda: any("Only operators may unmute" in e.text for e in h.slack.ephemerals("C0ALERTS", "U0BEN")),
        timeout=20,
        what="the refusal",
    )
    assert (await h.slack.click(listing, "mute_unmute", user_id="U0SANDBOX")).ok
    await h.wait_for(
        lambda: any("back on" in e.text for e in h.slack.ephemerals("C0ALERTS", "U0SANDBOX")),
        timeout=20,
        what="the unmute confirmed",
    )
    loud = await fail(h, "run_MuteCode04")
    assert "1 muted failure of this workflow" in blocks_text(loud)
    assert "Muted here" not in shown(await command(h, "subscriptions", channel="C0ALERTS"))


async def test_muted_failures_are_counted_in_the_digest(harness):
    from datetime import timedelta

    from bot.housekeeping import daily_digest

    h = harness
    now = datetime.now(timezone.utc)
    alert = await fail(h, "run_MuteDig01", at=now)
    await choose_mute(h, alert, "wf|run_MuteDig01", seconds="3600")
    await h.wait_for(lambda: any("muted" in m.text for m in thread(h, alert)), timeout=20, what="the mute")
    for n in (2, 3):
        assert (
            await h.post_webhook("run.failed", {"run": run_data(f"run_MuteDig0{n}", "failed", at=now)})
        ).status == 200
        await h.wait_for(lambda n=n: muted_count(h, f"run_MuteDig0{n}"), timeout=20, what="a muted failure")
    assert await daily_digest(h.svc, now=now + timedelta(days=1)) >= 1
    digest = await h.wait_for(
        lambda: [m for m in h.slack.messages("C0ALERTS") if "Daily digest" in m.text], timeout=20, what="the digest"
    )
    assert "3 failed runs" in digest[0].text  # the two muted failures count with the alerted one
