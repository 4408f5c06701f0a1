"""The Slack stand-in's membership, scope and named-fault rules, driven by slack_sdk as the bot drives Slack."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp import web
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from reference.slack import SlackStandIn
from reference.slack.membership import manifest_scopes
from tests.support.harness import wait_for

BOT_TOKEN = "xoxb-membership-token"
SECRET = "membership-signing-secret"


@pytest.fixture
async def slack():
    s = SlackStandIn(bot_token=BOT_TOKEN, signing_secret=SECRET)
    s.add_channel("C0PUBLIC", "public-not-joined")
    s.add_channel("G0SECRET", "secret", private=True)
    s.add_channel("G0INSIDE", "inside", private=True, bot_member=True)
    s.add_channel("C0OLD", "old", archived=True, bot_member=True)
    s.add_channel("C0FEW", "few", bot_member=True, members=["U0ANA"])
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


@pytest.fixture
async def client(slack):
    return AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)


async def refused(call) -> dict:
    with pytest.raises(SlackApiError) as info:
        await call
    assert info.value.response.status_code == 200  # Slack's refusals are HTTP 200 with ok false
    return info.value.response.data


async def test_a_private_channel_the_bot_is_not_in_does_not_exist_for_it(slack, client):
    for call in (
        client.chat_postMessage(channel="G0SECRET", text="hi"),
        client.conversations_history(channel="G0SECRET"),
        client.conversations_info(channel="G0SECRET"),
        client.conversations_members(channel="G0SECRET"),
        client.conversations_join(channel="G0SECRET"),
    ):
        assert (await refused(call))["error"] == "channel_not_found"
    listed = (await client.conversations_list(types="public_channel,private_channel"))["channels"]
    assert "G0SECRET" not in {c["id"] for c in listed} and "G0INSIDE" in {c["id"] for c in listed}
    # Once it is in, everything works.
    posted = await client.chat_postMessage(channel="G0INSIDE", text="hello")
    assert (await client.conversations_history(channel="G0INSIDE"))["messages"][0]["ts"] == posted["ts"]
    assert (await client.conversations_info(channel="G0INSIDE"))["channel"]["is_member"] is True


async def test_a_public_channel_the_bot_is_not_in_takes_posts_but_not_history_until_it_joins(slack, client):
    posted = await client.chat_postMessage(channel="C0PUBLIC", text="through chat:write.public")
    assert (await refused(client.conversations_history(channel="C0PUBLIC")))["error"] == "not_in_channel"
    replies = client.conversations_replies(channel="C0PUBLIC", ts=posted["ts"])
    assert (await refused(replies))["error"] == "not_in_channel"
    assert (await client.conversations_info(channel="C0PUBLIC"))["channel"]["is_member"] is False
    assert "U0RUNBOT" not in (await client.conversations_members(channel="C0PUBLIC"))["members"]

    joined = await client.conversations_join(channel="C0PUBLIC")
    assert joined["channel"]["is_member"] is True and "warning" not in joined.data
    assert (await client.conversations_history(channel="C0PUBLIC"))["messages"][0]["ts"] == posted["ts"]
    assert "U0RUNBOT" in (await client.conversations_members(channel="C0PUBLIC"))["members"]
    assert (await client.conversations_join(channel="C0PUBLIC"))["warning"] == "already_in_channel"


async def test_without_chat_write_public_a_post_to_a_channel_the_bot_is_not_in_is_refused(slack, client):
    slack.install(scopes=[s for s in manifest_scopes() if s != "chat:write.public"])
    assert (await refused(client.chat_postMessage(channel="C0PUBLIC", text="x")))["error"] == "not_in_channel"
    assert (await client.chat_postMessage(channel="C0ALERTS", text="a member posts"))["ok"]


async def test_archived_channels_refuse_writes_and_joins(slack, client):
    for call in (
        client.chat_postMessage(channel="C0OLD", text="x"),
        client.conversations_join(channel="C0OLD"),
    ):
        assert (await refused(call))["error"] == "is_archived"
    assert (await client.conversations_info(channel="C0OLD"))["channel"]["is_archived"] is True
    slack.archive("C0OLD", False)
    assert (await client.chat_postMessage(channel="C0OLD", text="back"))["ok"]


async def test_post_ephemeral_needs_the_person_in_the_channel(slack, client):
    call = client.chat_postEphemeral(channel="C0FEW", user="U0BEN", text="x")
    assert (await refused(call))["error"] == "user_not_in_channel"
    assert (await client.chat_postEphemeral(channel="C0FEW", user="U0ANA", text="x"))["ok"]
    call = client.chat_postEphemeral(channel="G0SECRET", user="U0ANA", text="x")
    assert (await refused(call))["error"] == "channel_not_found"


async def test_scopes_come_from_the_manifest_and_a_missing_one_is_named(slack, client):
    scopes = manifest_scopes()
    assert {"chat:write", "channels:join", "channels:read"} <= set(scopes) and slack.scopes == scopes
    resp = await client.auth_test()
    assert resp.headers.get("X-OAuth-Scopes", resp.headers.get("x-oauth-scopes")) == ",".join(scopes)
    slack.install(scopes=["chat:write"])
    body = await refused(client.conversations_join(channel="C0PUBLIC"))
    assert body["error"] == "missing_scope" and body["needed"] == "channels:join" and body["provided"] == "chat:write"
    body = await refused(client.conversations_history(channel="G0INSIDE"))
    assert body["needed"] == "groups:history"
    assert (await client.chat_postMessage(channel="C0ALERTS", text="still allowed"))["ok"]


async def test_a_reinstall_with_a_new_token_revokes_the_old_one(slack, client):
    slack.install(token="xoxb-new-install")
    assert (await refused(client.auth_test()))["error"] == "token_revoked"
    fresh = AsyncWebClient(token="xoxb-new-install", base_url=slack.api_url)
    assert (await fresh.auth_test())["ok"]
    assert (await refused(AsyncWebClient(token="xoxb-never", base_url=slack.api_url).auth_test()))[
        "error"
    ] == "invalid_auth"


async def test_named_faults_by_count_and_by_time_with_their_extras(slack, client):
    slack.inject("missing_scope", method="chat.postMessage", count=2, needed="chat:write.customize")
    for _ in range(2):
        body = await refused(client.chat_postMessage(channel="C0ALERTS", text="x"))
        assert body["error"] == "missing_scope" and body["needed"] == "chat:write.customize"
        assert body["provided"] == ",".join(slack.scopes)
    assert (await client.auth_test())["ok"]  # only that method
    assert (await client.chat_postMessage(channel="C0ALERTS", text="count spent"))["ok"]

    slack.inject("token_revoked", seconds=0.5)
    assert (await refused(client.auth_test()))["error"] == "token_revoked"
    assert (await refused(client.chat_postMessage(channel="C0ALERTS", text="x")))["error"] == "token_revoked"
    await asyncio.sleep(0.6)  # the fault's own duration, not a wait for an outcome
    assert (await client.auth_test())["ok"]
    assert [c.error for c in slack.calls_to("auth.test")][-3:] == [None, "token_revoked", None]


async def test_the_control_endpoints(slack, client):
    base = slack.base_url
    async with aiohttp.ClientSession() as http:

        async def post(path: str, body=None) -> tuple[int, dict]:
            async with http.post(base + path, json=body) as resp:
                return resp.status, await resp.json()

        assert (await post("/_sim/channels", {"name": "no id"}))[0] == 400
        status, body = await post("/_sim/channels", {"id": "G0NEW", "name": "new", "private": True})
        assert status == 200 and body["channel"]["is_private"] is True and body["channel"]["is_member"] is False
        assert (await refused(client.conversations_info(channel="G0NEW")))["error"] == "channel_not_found"
        status, body = await post("/_sim/channels/G0NEW/invite")
        assert status == 200 and body["channel"]["is_member"] is True
        assert (await client.conversations_info(channel="G0NEW"))["channel"]["is_member"] is True
        assert (await post("/_sim/channels/G0NEW/archive"))[1]["channel"]["is_archived"] is True
        assert (await refused(client.chat_postMessage(channel="G0NEW", text="x")))["error"] == "is_archived"
        assert (await post("/_sim/channels/G0NEW/kick"))[1]["channel"]["is_member"] is False
        assert (await post("/_sim/channels/C0NONE/invite"))[0] == 404
        assert (await post("/_sim/channels/G0NEW/dance"))[0] == 404

        assert (await post("/_sim/faults", {"error": "edit_window_closed", "method": "chat.update"}))[0] == 200
        ts = (await client.chat_postMessage(channel="C0ALERTS", text="x"))["ts"]
        assert (await refused(client.chat_update(channel="C0ALERTS", ts=ts, text="y")))["error"] == "edit_window_closed"
        assert (await post("/_sim/faults", {"error": "x", "extra": [1]}))[0] == 400

        assert (await post("/_sim/install", {"scopes": "chat:write"}))[0] == 400
        assert (await post("/_sim/install", {"token": "xoxb-http", "scopes": ["chat:write"]}))[0] == 200
        assert (await refused(client.auth_test()))["error"] == "token_revoked"
        assert slack.scopes == ["chat:write"]


async def test_an_invitation_sends_the_bot_member_joined_channel(slack):
    seen: list[dict] = []

    async def events(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append(body["event"])
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/slack/events", events)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    slack.bot_url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        await slack.invite("G0SECRET")
        await wait_for(lambda: seen, what="member_joined_channel")
        event = seen[0]
        assert event["type"] == "member_joined_channel" and event["channel"] == "G0SECRET"
        assert event["user"] == "U0RUNBOT" and event["channel_type"] == "G"
        assert slack.is_member("G0SECRET")
    finally:
        await runner.cleanup()
