"""The outbox end to end: alerts survive a Slack outage, rejected blocks, unknown channels, a restart
between the webhook and the delivery, and a crash between Slack accepting a post and the outbox knowing."""

from __future__ import annotations

import pytest
from aiohttp import web
from sqlalchemy import select

from bot import outbox
from bot.app import create_app
from bot.outbox import METADATA_EVENT
from bot.render.metadata import with_outbox_id
from store.models import OutboxItem, SlackMessage, Subscription
from tests.test_alerts import alerts_for, blocks_text, click_replay, settled, thread, wait_for_alert


@pytest.fixture
def settings_overrides():
    return {"STORM_THRESHOLD": 100}


async def restart_bot(h) -> None:
    """Stop the bot's app and start a new one on the same database file and port, as after a crash or deploy."""
    await h.runner.cleanup()
    app = create_app(h.settings)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", h.settings.PORT).start()
    h.app, h.runner = app, runner


async def outbox_rows(h, **where) -> list[OutboxItem]:
    async with h.svc.sessions() as s:
        query = select(OutboxItem).order_by(OutboxItem.id)
        for name, value in where.items():
            query = query.where(getattr(OutboxItem, name) == value)
        return list((await s.scalars(query)).all())


async def alert_row(h, run_id: str, channel: str = "C0ALERTS") -> OutboxItem | None:
    async with h.svc.sessions() as s:
        message = (
            await s.scalars(
                select(SlackMessage).where(
                    SlackMessage.kind == "alert", SlackMessage.subject == run_id, SlackMessage.channel == channel
                )
            )
        ).first()
        if message is None:
            return None
        return (
            await s.scalars(select(OutboxItem).where(OutboxItem.message_id == message.id, OutboxItem.method == "post"))
        ).first()


def posts_of(h, outbox_id: int, *, ok: bool | None = None) -> list:
    return [
        c
        for c in h.slack.calls_to("chat.postMessage")
        if ((c.args.get("metadata") or {}).get("event_payload") or {}).get("outbox_id") == outbox_id
        and (ok is None or c.ok == ok)
    ]


async def test_after_a_slack_outage_of_429s_then_500s_every_alert_arrives_exactly_once(harness):
    h = harness
    # The outage lasts until the test ends each phase: first 429s, then 500s, each refusing every alert once.
    h.slack.fail_for(429, 3600, retry_after=1, method="chat.postMessage")
    runs = [await h.start_run(wf, "fail") for wf in ("wf_invoices", "wf_summaries", "wf_payouts", "wf_invoices")]

    def refused_with(status):
        async def every_alert_refused():
            for run in runs:
                row = await alert_row(h, run["id"])
                if row is None or not any(c.status == status for c in posts_of(h, row.id)):
                    return False
            return True

        return every_alert_refused

    await h.wait_for(refused_with(429), timeout=60, what="every alert refused with a 429")
    h.slack.clear_faults()
    h.slack.fail_for(500, 3600, method="chat.postMessage")
    await h.wait_for(refused_with(500), timeout=60, what="every alert refused with a 500")
    h.slack.clear_faults()
    for run in runs:
        await wait_for_alert(h, run["id"], timeout=60)
    await settled(h)
    for run in runs:
        assert len(alerts_for(h, run["id"])) == 1
        row = await alert_row(h, run["id"])
        assert row.status == "sent" and row.attempts >= 2  # it was retried, and each try counted
        refused = [c for c in posts_of(h, row.id) if not c.ok]
        assert refused, "the outage refused this post at least once"
        for call, after in zip(posts_of(h, row.id), posts_of(h, row.id)[1:]):
            if call.status == 429:  # Retry-After: 1 was honoured
                assert after.at - call.at >= 0.9
    errors = {c.error for c in h.slack.calls if not c.ok}
    assert {"ratelimited", "internal_error"} <= errors


async def test_blocks_slack_rejects_are_sent_again_as_plain_text(harness):
    h = harness
    too_many = [{"type": "section", "text": {"type": "mrkdwn", "text": f"line {i}"}} for i in range(60)]
    async with h.svc.sessions.begin() as s:
        message = await outbox.post(
            s,
            channel="C0ALERTS",
            kind="alert",
            subject="run_PlainText01",
            payload={"text": "❌ Invoice triage failed: run_PlainText01", "blocks": too_many},
        )
    posted = await h.wait_for(lambda: alerts_for(h, "run_PlainText01"), timeout=20, what="the plain-text alert")
    assert posted[0].blocks is None and posted[0].text.startswith("❌ Invoice triage failed")
    assert [c.error for c in h.slack.calls_to("chat.postMessage")][:2] == ["invalid_blocks", None]

    async def stored_ts():
        async with h.svc.sessions() as s:
            return (await s.get(SlackMessage, message.id)).ts

    assert await h.wait_for(stored_ts, timeout=20, what="the outbox to record the ts") == posted[0].ts


async def test_an_unknown_channel_is_held_shown_in_readyz_and_metrics_and_not_retried(harness):
    h = harness
    async with h.svc.sessions.begin() as s:
        s.add(Subscription(channel="C0GONE", workflow_id="wf_invoices", failures=True))
    run = await h.start_run("wf_invoices", "fail")
    await wait_for_alert(h, run["id"])  # the other channel is not held up

    async def refused():
        row = await alert_row(h, run["id"], "C0GONE")
        return row is not None and row.status == "held" and row

    row = await h.wait_for(refused, timeout=20, what="the post to C0GONE to be held")
    assert row.last_error == "channel_not_found"
    # The run is replayed: the edit and the thread reply of the refused message are held too, not looped.
    await click_replay(h, alerts_for(h, run["id"])[0], "U0ANA")
    await h.wait_for(
        lambda: "Replayed by" in blocks_text(alerts_for(h, run["id"])[0]),
        timeout=20,
        what="the reachable alert to show the replay",
    )
    await settled(h)
    gone = [r for r in await outbox_rows(h, channel="C0GONE")]
    assert {r.status for r in gone} == {"held"} and len(gone) >= 2
    assert len([c for c in h.slack.calls_to("chat.postMessage") if c.args.get("channel") == "C0GONE"]) == 1

    async with h.http.get(f"{h.bot_url}/readyz") as resp:
        body = await resp.json()
    assert resp.status == 200  # Slack refusals are reported, not a 503
    reach = body["checks"]["slack_reach"]
    assert reach["ok"] is False and reach["refused"]["C0GONE"]["error"] == "channel_not_found"
    assert "invite @runbot to <#C0GONE>" in reach["refused"]["C0GONE"]["hint"]
    assert reach["held"] == len(gone) and reach["held_by_channel"] == {"C0GONE": len(gone)}

    async def metrics():
        async with h.http.get(f"{h.bot_url}/metrics") as resp:
            text = await resp.text()
        return f"runbot_outbox_held {float(len(gone))}" in text and text

    text = await h.wait_for(metrics, timeout=10, what="the held gauge in /metrics")
    assert 'runbot_slack_unreachable{error="channel_not_found"} 1.0' in text


async def test_a_restart_between_the_webhook_and_the_delivery_loses_no_alert(harness):
    h = harness
    h.slack.fail_for(500, 600, method="chat.postMessage")
    run = await h.start_run("wf_invoices", "fail")

    async def tried():
        row = await alert_row(h, run["id"])
        return row is not None and row.attempts >= 1 and row

    row = await h.wait_for(tried, timeout=20, what="the alert to be stored and tried once")
    await restart_bot(h)
    h.slack.clear_faults()
    alert = await wait_for_alert(h, run["id"], timeout=30)
    await settled(h)
    assert len(alerts_for(h, run["id"])) == 1
    assert len(posts_of(h, row.id, ok=True)) == 1
    assert "Jump to failed step" in blocks_text(alert)


async def test_a_post_slack_accepted_just_before_a_crash_is_found_and_not_posted_again(harness):
    h = harness
    h.slack.fail_for(500, 600, method="chat.postMessage")
    run = await h.start_run("wf_invoices", "fail")

    async def in_flight():
        row = await alert_row(h, run["id"])
        return row is not None and row.in_flight and row

    row = await h.wait_for(in_flight, timeout=20, what="the alert's post to be in flight")
    await h.runner.cleanup()  # the process dies ...
    # ... right after Slack accepted the post, before the outbox could mark it sent.
    accepted = h.slack.add_message(
        "C0ALERTS",
        row.payload["text"],
        blocks=row.payload.get("blocks"),
        # The alert's own metadata (runbot_run_failed), with the outbox id inside its public payload.
        metadata=with_outbox_id(row.payload.get("metadata"), row.id, METADATA_EVENT),
    )
    assert accepted.metadata["event_type"] == "runbot_run_failed"
    h.slack.clear_faults()
    await restart_bot(h)

    async def adopted():
        rows = await outbox_rows(h, id=row.id)
        return rows[0].status == "sent" and rows[0]

    sent = await h.wait_for(adopted, timeout=30, what="the in-flight post to be found in Slack")
    assert sent.sent_ts == accepted.ts
    assert posts_of(h, row.id, ok=True) == []
    assert h.slack.calls_to("conversations.history")
    # The message Slack already had is the alert the bot keeps up to date.
    replay = await click_replay(h, accepted, "U0ANA")
    await h.wait_for(
        lambda: replay["id"] in blocks_text(h.slack.message("C0ALERTS", accepted.ts)),
        timeout=20,
        what="the adopted alert to be updated",
    )
    await h.wait_for(lambda: thread(h, accepted), timeout=20, what="a thread reply under the adopted alert")
    await settled(h)
    assert len(alerts_for(h, run["id"])) == 1


@pytest.mark.parametrize("settings_overrides", [{"STORM_THRESHOLD": 100, "MESSAGE_EDIT_INTERVAL_SECONDS": 5.0}])
async def test_a_burst_of_edits_within_the_edit_interval_becomes_one_edit_with_the_newest_text(harness):
    h = harness
    async with h.svc.sessions.begin() as s:
        message = await outbox.post(
            s, channel="C0ALERTS", kind="alert", subject="run_EditBurst01", payload={"text": "version 0"}
        )
    h.svc.deliverer.kick()
    posted = (
        await h.wait_for(
            lambda: [m for m in h.slack.messages("C0ALERTS") if m.text == "version 0"], timeout=20, what="the message"
        )
    )[0]

    def edits():
        return [c for c in h.slack.calls_to("chat.update") if c.args.get("ts") == posted.ts and c.ok]

    async def edit(text: str) -> None:
        async with h.svc.sessions.begin() as s:
            await outbox.update_message(s, await s.get(SlackMessage, message.id), {"text": text})
        h.svc.deliverer.kick()

    await edit("version 1")
    await h.wait_for(lambda: len(edits()) == 1, timeout=20, what="the first edit")
    for i in range(2, 12):  # ten more changes within the edit interval that follows the first edit
        await edit(f"version {i}")
    await h.wait_for(
        lambda: h.slack.message("C0ALERTS", posted.ts).text == "version 11",
        timeout=30,
        what="the newest version in Slack",
    )
    await settled(h)
    assert [c.args.get("text") for c in edits()] == ["version 1", "version 11"]


async def test_a_bot_token_rotated_away_is_held_shown_in_readyz_and_not_retried(harness):
    h = harness
    h.slack.bot_token = "xoxb-rotated-in-slack"  # the bot still has the old one
    run = await h.start_run("wf_invoices", "fail")

    async def refused():
        row = await alert_row(h, run["id"])
        return row is not None and row.status == "held" and row

    row = await h.wait_for(refused, timeout=30, what="the alert's post to be refused and held")
    assert row.last_error == "invalid_auth"
    await settled(h)
    # Held: tried at most once (the check of the channels at start may have found the token refused first).
    assert [c.error for c in posts_of(h, row.id)] in ([], ["invalid_auth"])
    assert alerts_for(h, run["id"]) == []
    async with h.http.get(f"{h.bot_url}/readyz") as resp:
        reach = (await resp.json())["checks"]["slack_reach"]
    assert reach["ok"] is False and reach["refused"]["token"]["error"] == "invalid_auth"
    assert "restart runbot with the new SLACK_BOT_TOKEN" in reach["refused"]["token"]["hint"]
