"""The Slack stand-in's clocks and once-only rules: trigger ids (3 s, once), response_url (5 uses in 30 minutes,
no replace_original on a slash command's url) and Events API redelivery (HTTP retry headers, Socket Mode's
retry_attempt). Each test scales a clock so it runs in seconds; no rule is switched off."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from aiohttp import web
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from reference.slack import SlackStandIn
from tests.support.harness import wait_for

BOT_TOKEN = "xoxb-sandbox-token"
MODAL = {"type": "modal", "title": {"type": "plain_text", "text": "Hi"}, "blocks": []}


class FakeBot:
    """An HTTP endpoint standing where the app would: records what Slack delivers, answers as told."""

    def __init__(self) -> None:
        self.received: list[tuple[dict, dict]] = []  # (headers, body)
        self.delay = 0.0
        self.status = 200
        self.answered = 0

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.text()
        body = json.loads(raw) if request.content_type == "application/json" else dict(await request.post())
        self.received.append((dict(request.headers), body))
        if self.delay and len(self.received) == 1:
            await asyncio.sleep(self.delay)
        self.answered += 1
        return web.Response(status=self.status, text="")


@pytest.fixture
async def bot():
    fake = FakeBot()
    app = web.Application()
    app.router.add_post("/slack/events", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    fake.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield fake
    finally:
        await runner.cleanup()


async def standin(**clocks) -> SlackStandIn:
    s = SlackStandIn(bot_token=BOT_TOKEN, signing_secret="secret", app_token="xapp-x", **clocks)
    await s.start()
    return s


async def _error(coro) -> str:
    with pytest.raises(SlackApiError) as e:
        await coro
    return e.value.response["error"]


async def test_trigger_ids_expire_and_work_once():
    slack = await standin(trigger_seconds=0.3)
    try:
        client = AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)
        trigger = slack.issue_trigger("U0ANA")
        opened = await client.views_open(trigger_id=trigger, view=MODAL)
        assert opened["view"]["id"] in slack.views
        assert await _error(client.views_open(trigger_id=trigger, view=MODAL)) == "exchanged_trigger_id"
        assert await _error(client.views_push(trigger_id=trigger, view=MODAL)) == "exchanged_trigger_id"
        late = slack.issue_trigger("U0ANA")
        await asyncio.sleep(0.5)
        assert await _error(client.views_open(trigger_id=late, view=MODAL)) == "expired_trigger_id"
        assert await _error(client.views_open(trigger_id="exp-anything", view=MODAL)) == "invalid_trigger_id"
        assert len(slack.open_views("U0ANA")) == 1
    finally:
        await slack.stop()


async def test_slack_defaults_are_slacks_values():
    slack = SlackStandIn(bot_token=BOT_TOKEN, signing_secret="secret")
    assert slack.trigger_seconds == 3.0
    assert (slack.response_url_seconds, slack.response_url_uses) == (1800.0, 5)
    assert slack.event_retry_delays == (0.0, 60.0, 300.0)


async def _post(url: str, body: dict) -> tuple[int, str]:
    async with aiohttp.ClientSession() as s:
        async with s.post(url, json=body) as resp:
            return resp.status, await resp.text()


async def test_response_url_takes_five_posts_within_its_lifetime(bot):
    slack = await standin(response_url_seconds=0.5)
    slack.bot_url = bot.url
    try:
        command = await slack.send_command("status", user_id="U0ANA")
        url = command.response_url
        for i in range(5):
            assert await _post(url, {"text": f"answer {i}"}) == (200, "ok")
        assert await _post(url, {"text": "a sixth"}) == (404, "used_url")
        assert [e.text for e in slack.ephemerals("C0ALERTS", "U0ANA")] == [f"answer {i}" for i in range(5)]

        late = (await slack.send_command("status", user_id="U0ANA")).response_url
        await asyncio.sleep(0.7)
        assert await _post(late, {"text": "too late"}) == (404, "expired_url")
        assert "too late" not in [e.text for e in slack.ephemerals()]
        assert [(p.status, p.error) for p in slack.response_posts[5:]] == [(404, "used_url"), (404, "expired_url")]
    finally:
        await slack.stop()


async def test_replace_original_does_nothing_on_a_slash_commands_url(bot):
    slack = await standin()
    slack.bot_url = bot.url
    try:
        url = (await slack.send_command("status", user_id="U0ANA")).response_url
        assert (await _post(url, {"text": "first"}))[0] == 200
        assert (await _post(url, {"text": "second", "replace_original": True}))[0] == 200
        assert [e.text for e in slack.ephemerals("C0ALERTS", "U0ANA")] == ["first", "second"]
    finally:
        await slack.stop()


async def test_an_event_not_acknowledged_in_time_is_redelivered_with_slacks_headers(bot):
    slack = await standin(ack_timeout=0.3, event_retry_delays=(0.0, 0.2, 0.2))
    slack.bot_url = bot.url
    bot.delay = 1.0  # the first delivery is answered too late
    try:
        first = await slack.send_event({"type": "app_home_opened", "user": "U0ANA", "tab": "home"})
        assert first.error == "operation_timeout"
        await wait_for(lambda: len(bot.received) >= 2 and len(slack.interactions) >= 2, timeout=10)
        await asyncio.sleep(0.6)  # room for a wrong third delivery to show
        assert len(bot.received) == 2
        (h0, b0), (h1, b1) = bot.received
        assert b1["event_id"] == b0["event_id"] and b1["event"] == b0["event"]
        assert "X-Slack-Retry-Num" not in h0
        assert (h1["X-Slack-Retry-Num"], h1["X-Slack-Retry-Reason"]) == ("1", "http_timeout")
        assert [(i.retry_num, i.ok) for i in slack.interactions] == [(0, False), (1, True)]
    finally:
        await slack.stop()


async def test_an_event_refused_is_redelivered_three_times_then_dropped(bot):
    slack = await standin(event_retry_delays=(0.0, 0.1, 0.1))
    slack.bot_url = bot.url
    bot.status = 500
    try:
        await slack.send_event({"type": "app_home_opened", "user": "U0ANA", "tab": "home"})
        await wait_for(lambda: len(slack.interactions) >= 4, timeout=10)
        await asyncio.sleep(0.5)
        assert [h.get("X-Slack-Retry-Num") for h, _ in bot.received] == [None, "1", "2", "3"]
        assert {h.get("X-Slack-Retry-Reason") for h, _ in bot.received[1:]} == {"http_error"}
        assert len({b["event_id"] for _, b in bot.received}) == 1
    finally:
        await slack.stop()


async def test_socket_mode_redelivers_an_unacknowledged_event_with_retry_attempt():
    slack = await standin(ack_timeout=0.3, event_retry_delays=(0.0, 0.2, 0.2))
    client = AsyncWebClient(token="xapp-x", base_url=slack.api_url)
    envelopes: list[dict] = []
    try:
        url = (await client.apps_connections_open(app_token="xapp-x"))["url"]
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:

            async def app_side():
                async for msg in ws:
                    data = json.loads(msg.data)
                    if data.get("type") != "events_api":
                        continue
                    envelopes.append(data)
                    if len(envelopes) > 1:  # the first is never acknowledged
                        await ws.send_json({"envelope_id": data["envelope_id"]})

            reader = asyncio.create_task(app_side())
            await slack.wait_for_socket()
            await slack.send_event({"type": "app_home_opened", "user": "U0ANA", "tab": "home"}, via="socket")
            await wait_for(lambda: len(slack.interactions) >= 2, timeout=10)
            reader.cancel()
        assert [(e["retry_attempt"], e["retry_reason"]) for e in envelopes] == [(0, ""), (1, "timeout")]
        assert envelopes[0]["payload"]["event_id"] == envelopes[1]["payload"]["event_id"]
        assert [i.ok for i in slack.interactions] == [False, True]
    finally:
        await slack.stop()
