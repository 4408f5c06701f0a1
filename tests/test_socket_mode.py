"""Slash commands, button clicks and modal submissions reach the bot over Socket Mode (the app connects to the
Slack stand-in's websocket) as they do over HTTP (signed requests)."""

from __future__ import annotations

import pytest

from tests.support.harness import APP_TOKEN, start_harness
from tests.test_approvals import card_of, gated_run, platform_task, text_of


@pytest.fixture
async def socket_harness(sqlite_url):
    h = await start_harness(database_url=sqlite_url, SLACK_APP_TOKEN=APP_TOKEN)
    try:
        yield h
    finally:
        await h.stop()


async def test_runs_help_over_socket_mode_and_over_http(socket_harness):
    h = socket_harness
    await h.slack.wait_for_socket(timeout=15)
    over_socket = await h.slack.send_command("help", via="socket")
    assert over_socket.ok and over_socket.via == "socket", over_socket.error
    assert "/runs failed" in over_socket.body["text"]
    over_http = await h.slack.send_command("help", via="http")
    assert over_http.ok and over_http.status == 200
    assert over_http.body["text"] == over_socket.body["text"]
    assert len([e for e in h.slack.ephemerals("C0ALERTS") if "/runs failed" in e.text]) == 2


async def test_deferred_answers_arrive_through_response_url_over_socket_mode(socket_harness):
    h = socket_harness
    await h.slack.wait_for_socket(timeout=15)
    result = await h.slack.send_command("show run_nosuchrun", via="socket")
    assert result.ok and not (isinstance(result.body, dict) and result.body.get("text"))  # an empty ack
    answer = await h.slack.wait_for(
        lambda s: next((e for e in s.ephemerals("C0ALERTS") if "No run `run_nosuchrun`" in e.text), None), timeout=15
    )
    assert answer.source == "response_url"


async def test_buttons_and_modal_submissions_over_socket_mode(socket_harness):
    h = socket_harness
    await h.slack.wait_for_socket(timeout=15)
    approved_task, approved_card = await card_of(h, (await gated_run(h))["id"])
    click = await h.slack.click(approved_card, "approval_approve", user_id="U0ANA", via="socket")
    assert click.ok and click.via == "socket" and click.envelope_id, click.error
    await h.wait_for(lambda: "Approved by <@U0ANA>" in text_of(approved_card), timeout=20, what="the receipt")
    assert (await platform_task(h, approved_task.id))["status"] == "approved"

    rejected_task, rejected_card = await card_of(h, (await gated_run(h, "wf_tools"))["id"])
    click = await h.slack.click(rejected_card, "approval_reject", user_id="U0BEN", via="socket")
    assert click.ok and click.via == "socket", click.error
    modal = await h.wait_for(
        lambda: next((v for v in h.slack.open_views("U0BEN") if v.callback_id == "reject_modal"), None),
        timeout=20,
        what="the reject modal, opened from a click over Socket Mode",
    )
    submitted = await h.slack.submit_view(modal, {"reason": {"reason_input": "Not this week"}}, via="socket")
    assert submitted.ok and submitted.via == "socket", submitted.error
    await h.wait_for(
        lambda: "Rejected by <@U0BEN>: Not this week" in text_of(rejected_card),
        timeout=20,
        what="the rejection with its reason",
    )
    task = await platform_task(h, rejected_task.id)
    assert task["status"] == "rejected" and task["comment"] == "Not this week"


async def test_an_event_socket_mode_redelivers_with_retry_attempt_is_acted_on_once(socket_harness):
    h = socket_harness
    await h.slack.wait_for_socket(timeout=15)

    def publishes() -> list:
        return [c for c in h.slack.calls_to("views.publish") if c.args.get("user_id") == "U0ANA"]

    home = {"type": "app_home_opened", "user": "U0ANA", "channel": "D0X", "tab": "home"}
    first = await h.slack.send_event(home, via="socket")
    assert first.ok and first.via == "socket", first.error
    await h.wait_for(publishes, timeout=20, what="the App Home published")
    await h.wait_for(lambda: not h.svc.background, timeout=20, what="spawned work to end")
    await h.settled()
    published = len(publishes())
    # Slack sends the same envelope payload again (same event_id), with retry_attempt and retry_reason.
    again = await h.slack._deliver("event", first.payload, "socket", retry_num=1, retry_reason="timeout")
    assert again.ok and again.retry_num == 1, again.error
    await h.wait_for(lambda: not h.svc.background, timeout=20, what="spawned work to end")
    await h.settled()
    assert len(publishes()) == published
