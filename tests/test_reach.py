"""The bot under Slack's membership and scope rules, end to end: it joins the public channels it posts to,
reports a channel it cannot reach with what to do, holds what Slack refuses for a cause a person must fix, and
delivers it, exactly once, when the cause is fixed (an invitation, a probe, a restart with a new token)."""

from __future__ import annotations

import aiohttp
import pytest
from sqlalchemy import select

from bot import outbox
from bot.checks import run_checks
from bot.config import load_settings
from bot.demo import start_demo
from bot.keys import SERVICES
from reference.slack.membership import manifest_scopes
from store.models import OutboxItem, Subscription, Workflow
from tests.support.harness import wait_for
from tests.test_alerts import alerts_for, wait_for_alert
from tests.test_outbox import alert_row, posts_of, restart_bot


@pytest.fixture
def settings_overrides():
    return {"STORM_THRESHOLD": 100, "SLACK_REACH_PROBE_SECONDS": 0.5}


def answers(h, channel: str, user: str = "U0SANDBOX") -> str:
    """Everything the person was told in the channel: ephemerals (acks and response_url posts)."""
    return "\n".join(e.text for e in h.slack.ephemerals(channel, user))


async def readyz_reach(h) -> dict:
    async with h.http.get(f"{h.bot_url}/readyz") as resp:
        assert resp.status == 200  # a channel to fix is reported, the bot is still ready
        return (await resp.json())["checks"]["slack_reach"]


async def metrics_text(h) -> str:
    async with h.http.get(f"{h.bot_url}/metrics") as resp:
        return await resp.text()


async def _has(text, part: str) -> bool:
    return part in await text


async def held_row(h, run_id: str, channel: str) -> OutboxItem | None:
    row = await alert_row(h, run_id, channel)
    return row if row is not None and row.status == "held" else None


async def subscribe_here(h, channel: str) -> None:
    await h.slack.send_command("subscribe wf_invoices", channel_id=channel)
    await h.wait_for(lambda: "now receives" in answers(h, channel), timeout=20, what="the subscribe answer")


async def test_the_bot_joins_a_public_channel_it_was_never_invited_to_and_posts_there(harness):
    h = harness
    h.slack.add_channel("C0PAYOUTS", "payouts")  # public; the bot is not in it
    assert not h.slack.is_member("C0PAYOUTS")
    await subscribe_here(h, "C0PAYOUTS")
    assert h.slack.is_member("C0PAYOUTS")
    assert [c.ok for c in h.slack.calls_to("conversations.join") if c.args.get("channel") == "C0PAYOUTS"] == [True]
    assert "cannot post" not in answers(h, "C0PAYOUTS")

    run = await h.start_run("wf_invoices", "fail")
    await wait_for_alert(h, run["id"], "C0PAYOUTS")
    # The channels of the settings were joined (or found joined) at start, too.
    assert {c.args.get("channel") for c in h.slack.calls_to("conversations.info")} >= {"C0ALERTS", "C0APPROVALS"}
    assert (await readyz_reach(h))["ok"] is True


@pytest.mark.parametrize("settings_overrides", [{"STORM_THRESHOLD": 100, "SLACK_REACH_PROBE_SECONDS": 3600}])
async def test_a_private_channel_not_invited_is_reported_held_and_delivered_once_after_the_invitation(harness):
    h = harness
    h.slack.add_channel("G0PAYOUTS", "payouts-private", private=True)
    await subscribe_here(h, "G0PAYOUTS")
    said = answers(h, "G0PAYOUTS")
    assert "runbot cannot post in" in said and "channel_not_found" in said and "invite @runbot" in said

    run = await h.start_run("wf_invoices", "fail")
    await wait_for_alert(h, run["id"])  # the reachable channel is not held up
    row = await h.wait_for(lambda: held_row(h, run["id"], "G0PAYOUTS"), timeout=20, what="the post held")
    assert row.last_error == "channel_not_found"
    reach = await readyz_reach(h)
    assert reach["ok"] is False and reach["refused"]["G0PAYOUTS"]["error"] == "channel_not_found"
    assert "invite @runbot to <#G0PAYOUTS>" in reach["refused"]["G0PAYOUTS"]["hint"]
    assert reach["held_by_channel"]["G0PAYOUTS"] >= 1
    assert 'runbot_slack_unreachable{error="channel_not_found"} 1.0' in await metrics_text(h)

    await h.slack.invite("G0PAYOUTS")  # the bot hears member_joined_channel
    await h.wait_for(lambda: alerts_for(h, run["id"], "G0PAYOUTS"), timeout=20, what="the held alert delivered")
    await h.settled()
    assert len(alerts_for(h, run["id"], "G0PAYOUTS")) == 1
    # Known unreachable since the subscription: held without a try, then posted once.
    assert [c.ok for c in posts_of(h, row.id)] == [True]
    assert (await readyz_reach(h))["ok"] is True
    assert 'runbot_slack_unreachable{error="channel_not_found"} 0.0' in await metrics_text(h)


async def test_a_held_channel_is_found_again_by_the_probe(any_harness):
    h = any_harness
    h.slack.add_channel("G0QUIET", "quiet", private=True)
    async with h.svc.sessions.begin() as s:
        s.add(Subscription(channel="G0QUIET", workflow_id="wf_invoices", failures=True))
    run = await h.start_run("wf_invoices", "fail")
    await h.wait_for(lambda: held_row(h, run["id"], "G0QUIET"), timeout=20, what="the post held")
    h.slack.channel("G0QUIET").members.append(h.slack.bot_user_id)  # invited while the bot heard nothing
    await h.wait_for(lambda: alerts_for(h, run["id"], "G0QUIET"), timeout=20, what="the probe to deliver it")
    await h.settled()
    assert len(alerts_for(h, run["id"], "G0QUIET")) == 1


async def test_token_revoked_mid_run_is_reported_and_recovered_from_when_it_ends(harness):
    h = harness
    await wait_for_alert(h, (await h.start_run("wf_invoices", "fail"))["id"])
    h.slack.inject("token_revoked", seconds=3)
    run = await h.start_run("wf_invoices", "fail")
    row = await h.wait_for(lambda: held_row(h, run["id"], "C0ALERTS"), timeout=20, what="the post held")
    assert row.last_error == "token_revoked"
    reach = await readyz_reach(h)
    assert reach["refused"]["token"]["error"] == "token_revoked"
    assert 'runbot_slack_unreachable{error="token_revoked"} 1.0' in await metrics_text(h)
    await wait_for_alert(h, run["id"], timeout=30)  # the fault ends, the probe finds the token working
    await h.settled()
    assert len(alerts_for(h, run["id"])) == 1
    assert (await readyz_reach(h))["ok"] is True


@pytest.mark.parametrize("settings_overrides", [{"STORM_THRESHOLD": 100, "SLACK_REACH_PROBE_SECONDS": 1.0}])
async def test_missing_scope_injected_mid_run_is_reported_once_and_recovered_from_when_it_ends(harness, caplog):
    h = harness
    await wait_for_alert(h, (await h.start_run("wf_invoices", "fail"))["id"])
    h.slack.inject("missing_scope", method="chat.postMessage", seconds=3, needed="chat:write")
    run = await h.start_run("wf_invoices", "fail")
    row = await h.wait_for(lambda: held_row(h, run["id"], "C0ALERTS"), timeout=20, what="the post held")
    assert row.last_error == "missing_scope"

    async def reported():
        token = (await readyz_reach(h))["refused"].get("token") or {}
        return token.get("error") == "missing_scope" and token.get("needed") == "chat:write"

    await h.wait_for(reported, timeout=20, what="/readyz to name the missing scope")
    await h.wait_for(
        lambda: _has(metrics_text(h), 'runbot_slack_unreachable{error="missing_scope"} 1.0'),
        timeout=20,
        what="/metrics to count the missing scope",
    )
    await wait_for_alert(h, run["id"], timeout=30)  # the fault ends; a probe lets the held post go again
    await h.settled()
    assert len(alerts_for(h, run["id"])) == 1
    reported = [r for r in caplog.records if r.levelname == "ERROR" and "Slack refuses the bot token" in r.message]
    assert len(reported) == 1  # reported once, however often the probe found it still refused


async def test_a_reinstall_with_a_new_token_and_scope_takes_a_restart_after_which_held_posts_go_out(harness):
    h = harness
    await wait_for_alert(h, (await h.start_run("wf_invoices", "fail"))["id"])
    # Slack takes chat:write away (missing_scope, with needed and provided) ...
    h.slack.install(scopes=[s for s in manifest_scopes() if s != "chat:write"])
    run = await h.start_run("wf_invoices", "fail")
    row = await h.wait_for(lambda: held_row(h, run["id"], "C0ALERTS"), timeout=20, what="the post held")
    assert row.last_error == "missing_scope"
    reach = await readyz_reach(h)
    assert reach["refused"]["token"]["needed"] == "chat:write"
    assert "add chat:write to the app's scopes" in reach["refused"]["token"]["hint"]
    checked = {name: (status, detail) for status, name, detail in await run_checks(h.settings)}
    assert checked["slack reach"][0] == "FAIL" and "missing_scope" in checked["slack reach"][1]

    # ... the app is reinstalled with the scope and a new token; the old token is revoked.
    h.slack.install(token="xoxb-reinstalled", scopes=manifest_scopes())
    await h.wait_for(
        lambda: any(c.error == "token_revoked" for c in h.slack.calls), timeout=20, what="the old token refused"
    )
    assert alerts_for(h, run["id"]) == []
    h.settings = h.settings.model_copy(update={"SLACK_BOT_TOKEN": "xoxb-reinstalled"})
    await restart_bot(h)
    await wait_for_alert(h, run["id"], timeout=30)
    await h.settled()
    assert len(alerts_for(h, run["id"])) == 1
    async with h.svc.sessions() as s:
        assert (await s.scalars(select(OutboxItem).where(OutboxItem.status == "held"))).first() is None
    assert (await readyz_reach(h))["ok"] is True
    checked = {name: (status, detail) for status, name, detail in await run_checks(h.settings)}
    assert checked["slack reach"][0] == "OK"


async def test_in_the_sandbox_a_bot_not_in_a_channel_says_so_until_invited(tmp_path):
    pieces = await start_demo(
        load_settings(_env_file=None),
        fixed_ports=False,
        speed=10.0,
        seed=5,
        demo_interval_seconds=3600.0,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}",
    )
    base = f"{pieces.slack.base_url}/sandbox/api"
    try:
        async with aiohttp.ClientSession() as http:

            async def command(text: str) -> dict:
                async with http.post(f"{base}/command", json={"text": text, "channel": "G0PAYOUTS"}) as resp:
                    return await resp.json()

            async def said() -> str:
                async with http.get(f"{base}/state") as resp:
                    state = await resp.json()
                payouts = next(c for c in state["channels"] if c["id"] == "G0PAYOUTS")
                text = "\n".join(m.get("text") or "" for m in payouts["messages"] + payouts.get("ephemerals", []))
                return "now receives" in text and text

            async def synced():
                async with pieces.app[SERVICES].sessions() as session:
                    return await session.get(Workflow, "wf_invoices")

            await wait_for(synced, timeout=30, what="the first sync")  # subscribe then finds the workflow stored
            assert (await command("/runs subscribe wf_invoices"))["ok"] is True
            text = await wait_for(said, timeout=30, what="the subscribe answer in #payouts")
            assert "runbot cannot post in" in text and "invite @runbot" in text
            assert (await command("/invite @someone"))["ok"] is False
            assert (await command("/invite @runbot"))["ok"] is True
            assert pieces.slack.is_member("G0PAYOUTS")
            await wait_for(
                lambda: "G0PAYOUTS" not in pieces.app[SERVICES].reach.problems,
                timeout=30,
                what="the bot to hear of its invitation",
            )
    finally:
        await pieces.stop()


async def test_a_post_in_flight_at_a_crash_in_a_public_channel_never_joined_is_found_not_posted_twice(harness):
    h = harness
    h.slack.add_channel("C0OPEN", "open")  # public, the bot was never invited: history is refused until it joins
    async with h.svc.sessions.begin() as s:
        s.add(Subscription(channel="C0OPEN", workflow_id="wf_invoices", failures=True))
    h.slack.fail_for(500, 600, method="chat.postMessage")
    run = await h.start_run("wf_invoices", "fail")

    async def in_flight():
        row = await alert_row(h, run["id"], "C0OPEN")
        return row is not None and row.in_flight and row

    row = await h.wait_for(in_flight, timeout=20, what="the alert's post to be in flight")
    await h.runner.cleanup()  # the process dies right after Slack accepted the post
    h.slack.add_message(
        "C0OPEN",
        row.payload["text"],
        blocks=row.payload.get("blocks"),
        metadata={"event_type": "runbot_outbox", "event_payload": {"outbox_id": row.id}},
    )
    h.slack.clear_faults()
    assert not h.slack.is_member("C0OPEN")
    await restart_bot(h)

    async def adopted():
        async with h.svc.sessions() as s:
            found = await s.get(OutboxItem, row.id)
            return found.status == "sent" and found

    await h.wait_for(adopted, timeout=30, what="the in-flight post to be found in Slack")
    await h.settled()
    assert h.slack.is_member("C0OPEN")  # joined, so the look-up could read the channel
    assert posts_of(h, row.id, ok=True) == []
    assert len(alerts_for(h, run["id"], "C0OPEN")) == 1


@pytest.mark.parametrize("settings_overrides", [{"ALERT_CHANNEL": "G0GONE", "SLACK_REACH_PROBE_SECONDS": 0.5}])
async def test_an_alert_channel_it_cannot_reach_is_reported_at_start(harness, caplog):
    h = harness

    async def reported():
        return (await readyz_reach(h))["refused"].get("G0GONE")

    problem = await h.wait_for(reported, timeout=20, what="/readyz to report the alert channel")
    assert problem["error"] == "channel_not_found" and "invite @runbot to <#G0GONE>" in problem["hint"]
    assert any("invite @runbot to <#G0GONE>" in r.getMessage() for r in caplog.records if r.levelname == "ERROR")
    checked = {name: (status, detail) for status, name, detail in await run_checks(h.settings)}
    assert checked["slack reach"][0] == "FAIL" and "G0GONE: channel_not_found" in checked["slack reach"][1]
    # The channel is created and the bot invited: the probe finds it.
    h.slack.add_channel("G0GONE", "gone-no-more", private=True, bot_member=True)
    await h.wait_for(lambda: _ok(readyz_reach(h)), timeout=20, what="the probe to find the channel")


async def _ok(status) -> bool:
    return (await status)["ok"] is True


def dms_to(h, user: str) -> list[str]:
    return [m.text for m in h.slack.messages(h.slack.dm_channel_id(user))]


async def test_a_missing_dm_scope_holds_only_direct_messages_which_go_out_when_the_scope_is_granted(harness):
    h = harness
    h.slack.install(scopes=[s for s in manifest_scopes() if s != "im:write"])  # reinstalled without im:write
    async with h.svc.sessions.begin() as s:
        await outbox.direct_message(s, user="U0ANA", payload={"text": "your approval is waiting"})
    h.svc.deliverer.kick()

    async def dm_held():
        async with h.svc.sessions() as s:
            rows = (await s.scalars(select(OutboxItem).where(OutboxItem.method == "dm"))).all()
            return rows and rows[0].status == "held" and rows[0]

    row = await h.wait_for(dm_held, timeout=20, what="the direct message held")
    assert row.last_error == "missing_scope"
    refused = (await readyz_reach(h))["refused"]
    assert refused["dm"]["needed"] == "im:write" and "token" not in refused
    run = await h.start_run("wf_invoices", "fail")
    await wait_for_alert(h, run["id"])  # channel posts are not held for a scope only DMs need

    h.slack.install(scopes=manifest_scopes())  # the scope is granted (same token): the probe sees it
    await h.wait_for(lambda: "your approval is waiting" in dms_to(h, "U0ANA"), timeout=20, what="the DM")
    await h.settled()
    assert dms_to(h, "U0ANA").count("your approval is waiting") == 1
    assert (await readyz_reach(h))["ok"] is True


async def test_direct_messages_held_by_another_process_go_out_once_the_token_works(harness):
    h = harness
    await h.wait_for(lambda: h.svc.reach._task is not None, timeout=20, what="the start's release and joins")
    async with h.svc.sessions.begin() as s:  # held by a replica (or an earlier process) while the token was revoked
        s.add(
            OutboxItem(
                method="dm",
                channel=None,
                payload={"text": "held while the token was revoked", "user": "U0ANA"},
                status="held",
                last_error="token_revoked",
            )
        )
    await h.wait_for(
        lambda: "held while the token was revoked" in dms_to(h, "U0ANA"), timeout=20, what="the probe to send it"
    )
    await h.settled()
    assert dms_to(h, "U0ANA").count("held while the token was revoked") == 1
