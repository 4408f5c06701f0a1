"""A slash command reaches the bot both over HTTP (signed request) and over Socket Mode (the app connects
to the Slack stand-in's websocket), and gets the same answer."""

from __future__ import annotations

import pytest

from tests.support.harness import APP_TOKEN, start_harness


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
    assert result.ok and "Working on it" in result.body["text"]
    answer = await h.slack.wait_for(
        lambda s: next((e for e in s.ephemerals("C0ALERTS") if "No run `run_nosuchrun`" in e.text), None), timeout=15)
    assert answer.source == "response_url"
