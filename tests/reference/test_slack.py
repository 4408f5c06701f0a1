"""Tests of the Slack stand-in (reference.slack) driven by real slack_sdk / slack_bolt clients."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from reference.slack import SlackStandIn
from tests.support.harness import wait_for

BOT_TOKEN = "xoxb-sandbox-token"
APP_TOKEN = "xapp-sandbox-token"
SECRET = "sandbox-signing-secret"


@pytest.fixture
async def slack():
    s = SlackStandIn(bot_token=BOT_TOKEN, signing_secret=SECRET, app_token=APP_TOKEN)
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


@pytest.fixture
async def client(slack):
    return AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)


def section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def buttons(*action_ids: str, block_id: str = "acts") -> dict:
    return {
        "type": "actions",
        "block_id": block_id,
        "elements": [
            {"type": "button", "action_id": a, "text": {"type": "plain_text", "text": a.title()}, "value": f"v-{a}"}
            for a in action_ids
        ],
    }


MODAL = {
    "type": "modal",
    "callback_id": "runs_filter",
    "private_metadata": '{"origin": "C0ALERTS"}',
    "title": {"type": "plain_text", "text": "Filter runs"},
    "submit": {"type": "plain_text", "text": "Apply"},
    "blocks": [
        {
            "type": "input",
            "block_id": "wf",
            "label": {"type": "plain_text", "text": "Workflow"},
            "element": {"type": "plain_text_input", "action_id": "name"},
        },
        {
            "type": "input",
            "block_id": "st",
            "label": {"type": "plain_text", "text": "Status"},
            "element": {
                "type": "static_select",
                "action_id": "status",
                "options": [
                    {"text": {"type": "plain_text", "text": "Failed"}, "value": "failed"},
                    {"text": {"type": "plain_text", "text": "Running"}, "value": "running"},
                ],
            },
        },
    ],
}


# --------------------------------------------------------------------------- #
# Web API
# --------------------------------------------------------------------------- #


async def test_auth_test_and_post_update_thread_history(slack, client):
    auth = await client.auth_test()
    assert auth["user_id"] == "U0RUNBOT" and auth["bot_id"] == "B0RUNBOT" and auth["team_id"] == "T0SANDBOX"

    r = await client.chat_postMessage(
        channel="C0ALERTS", text="Run 42 failed", blocks=[section("*Run 42* failed"), buttons("retry", "ack")]
    )
    ts = r["ts"]
    assert r["channel"] == "C0ALERTS" and ts.count(".") == 1 and len(ts.split(".")[1]) == 6

    up = await client.chat_update(
        channel="C0ALERTS", ts=ts, text="Run 42 failed (acked)", blocks=[section("*Run 42* acked")]
    )
    assert up["ts"] == ts
    md = {"event_type": "run_tracking", "event_payload": {"run_id": "42"}}
    reply = await client.chat_postMessage(channel="C0ALERTS", thread_ts=ts, text="retrying", metadata=md)
    assert float(reply["ts"]) > float(ts)
    r2 = await client.chat_postMessage(channel="run-alerts", text="second")  # by name too

    [parent, rep, second] = slack.messages("C0ALERTS")
    assert (
        parent.edited == 1
        and parent.text == "Run 42 failed (acked)"
        and parent.blocks[0]["text"]["text"] == "*Run 42* acked"
    )
    assert parent.versions[0]["text"] == "Run 42 failed"
    assert parent.replies == [rep] and rep.thread_ts == ts and rep.metadata == md and rep.is_reply
    assert [m.ts for m in slack.messages("C0ALERTS", top_level=True)] == [ts, r2["ts"]]

    hist = await client.conversations_history(channel="C0ALERTS")
    assert [m["ts"] for m in hist["messages"]] == [r2["ts"], ts]  # newest first, no replies
    assert all("metadata" not in m for m in hist["messages"])
    assert hist["messages"][1]["reply_count"] == 1
    limited = await client.conversations_history(channel="C0ALERTS", limit=1)
    assert len(limited["messages"]) == 1 and limited["has_more"] is True

    replies = await client.conversations_replies(channel="C0ALERTS", ts=ts, include_all_metadata=True)
    assert [m["ts"] for m in replies["messages"]] == [ts, reply["ts"]]
    assert replies["messages"][1]["metadata"] == md
    plain = await client.conversations_replies(channel="C0ALERTS", ts=ts)
    assert "metadata" not in plain["messages"][1]

    # top-level message with metadata shows it only when asked
    await client.chat_postMessage(channel="C0APPROVALS", text="approve?", metadata=md)
    h1 = await client.conversations_history(channel="C0APPROVALS", include_all_metadata=True)
    assert h1["messages"][0]["metadata"] == md
    h2 = await client.conversations_history(channel="C0APPROVALS", oldest=h1["messages"][0]["ts"])
    assert h2["messages"] == []  # oldest is exclusive by default

    link = await client.chat_getPermalink(channel="C0ALERTS", message_ts=ts)
    assert link["permalink"].startswith(slack.base_url) and ts.replace(".", "") in link["permalink"]
    assert [c.method for c in slack.calls][:2] == ["auth.test", "chat.postMessage"]
    assert slack.calls_to("chat.update")[0].args["blocks"][0]["type"] == "section"


async def test_ephemeral_views_users_groups_dm(slack, client):
    r = await client.chat_postEphemeral(channel="C0ALERTS", user="U0ANA", text="only you")
    [eph] = slack.ephemerals("C0ALERTS", user="U0ANA")
    assert eph.text == "only you" and r["message_ts"] == eph.id
    assert slack.messages("C0ALERTS") == []

    # views.open needs a trigger_id Slack issued
    with pytest.raises(SlackApiError) as e:
        await client.views_open(trigger_id="bogus", view=MODAL)
    assert e.value.response["error"] == "invalid_trigger_id"
    trigger = slack.issue_trigger("U0SANDBOX")
    opened = await client.views_open(trigger_id=trigger, view=MODAL)
    vid = opened["view"]["id"]
    assert vid.startswith("V") and opened["view"]["callback_id"] == "runs_filter"
    assert slack.open_views("U0SANDBOX")[0].id == vid
    updated = await client.views_update(
        view_id=vid, view={**MODAL, "title": {"type": "plain_text", "text": "Filter 2"}}
    )
    assert updated["view"]["title"]["text"] == "Filter 2" and slack.views[vid].updates == 1
    with pytest.raises(SlackApiError) as e:
        await client.views_update(view_id="V0NOPE", view=MODAL)
    assert e.value.response["error"] == "not_found"

    home = {"type": "home", "blocks": [section("Welcome home")]}
    pub = await client.views_publish(user_id="U0SANDBOX", view=home)
    assert slack.home("U0SANDBOX").id == pub["view"]["id"]
    await client.views_publish(user_id="U0SANDBOX", view={"type": "home", "blocks": [section("v2")]})
    assert slack.home("U0SANDBOX").blocks[0]["text"]["text"] == "v2"

    info = await client.users_info(user="U0SANDBOX")
    assert info["user"]["real_name"] == "Alex Kim" and info["user"]["profile"]["display_name"] == "Alex Kim"
    assert (await client.users_info(user="U0SAMPLE1"))["user"]["real_name"] == "Sam Rivera"
    group = await client.usergroups_users_list(usergroup="S0ONCALL")
    assert group["users"] == ["U0ANA", "U0BEN"]
    with pytest.raises(SlackApiError) as e:
        await client.usergroups_users_list(usergroup="S0NOPE")
    assert e.value.response["error"] == "no_such_subteam"
    with pytest.raises(SlackApiError) as e:
        await client.users_info(user="U0NOPE")
    assert e.value.response["error"] == "user_not_found"

    dm = await client.conversations_open(users="U0BEN")
    dm_id = dm["channel"]["id"]
    assert dm_id.startswith("D") and (await client.conversations_open(users=["U0BEN"]))["channel"]["id"] == dm_id
    await client.chat_postMessage(channel=dm_id, text="hi Ben")
    assert slack.messages(dm_id)[0].text == "hi Ben"


async def test_validation_and_auth_errors(slack, client):
    async def err(coro) -> str:
        with pytest.raises(SlackApiError) as e:
            await coro
        return e.value.response["error"]

    assert await err(client.chat_postMessage(channel="C0NOPE", text="x")) == "channel_not_found"
    assert (
        await err(client.chat_postMessage(channel="C0ALERTS", text="x", blocks=[section("b")] * 51)) == "invalid_blocks"
    )
    with pytest.raises(SlackApiError) as e:
        await client.chat_postMessage(channel="C0ALERTS", text="x", blocks=[section("a" * 3001)])
    assert e.value.response["error"] == "invalid_blocks"
    assert "3001" in e.value.response["errors"][0] and "/blocks/0/text/text" in e.value.response["errors"][0]
    assert await client.chat_postMessage(channel="C0ALERTS", text="x", blocks=[section("a" * 3000)])
    header = {"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}
    assert await err(client.chat_postMessage(channel="C0ALERTS", text="x", blocks=[header])) == "invalid_blocks"
    bad_button = {"type": "actions", "elements": [{"type": "button", "text": {"type": "plain_text", "text": "G" * 76}}]}
    assert await err(client.chat_postMessage(channel="C0ALERTS", text="x", blocks=[bad_button])) == "invalid_blocks"
    no_text_button = {"type": "actions", "elements": [{"type": "button", "action_id": "go"}]}
    assert await err(client.chat_postMessage(channel="C0ALERTS", text="x", blocks=[no_text_button])) == "invalid_blocks"
    assert await err(client.chat_postMessage(channel="C0ALERTS")) == "no_text"
    assert await err(client.chat_postEphemeral(channel="C0ALERTS", user="U0ANA", text="y" * 40001)) == "msg_too_long"
    assert await err(client.chat_update(channel="C0ALERTS", ts="1.000001", text="x")) == "message_not_found"
    assert await err(client.api_call("chat.nope")) == "unknown_method"

    bad = AsyncWebClient(token="xoxb-wrong", base_url=slack.api_url)
    assert await err(bad.chat_postMessage(channel="C0ALERTS", text="x")) == "invalid_auth"
    assert await err(client.apps_connections_open(app_token=BOT_TOKEN)) == "not_allowed_token_type"
    assert (await client.apps_connections_open(app_token=APP_TOKEN))["url"].startswith("ws://127.0.0.1:")

    failed = [c for c in slack.calls if not c.ok]
    assert {c.error for c in failed} >= {"channel_not_found", "invalid_blocks", "invalid_auth", "no_text"}
    assert len(slack.messages("C0ALERTS")) == 1


async def test_form_encoded_requests(slack):
    blocks = [section("from a form")]
    md = {"event_type": "t", "event_payload": {"k": 1}}
    async with aiohttp.ClientSession() as s:
        async with s.post(
            slack.api_url + "chat.postMessage",
            data={"channel": "C0GENERAL", "text": "hi", "blocks": json.dumps(blocks), "metadata": json.dumps(md)},
            headers={"Authorization": f"Bearer {BOT_TOKEN}"},
        ) as resp:
            body = await resp.json()
        assert resp.status == 200 and body["ok"] is True
        # legacy token-in-form also works
        async with s.post(slack.api_url + "auth.test", data={"token": BOT_TOKEN}) as resp:
            assert (await resp.json())["ok"] is True
        async with s.post(slack.api_url + "auth.test") as resp:
            assert (await resp.json())["error"] == "not_authed"
    [m] = slack.messages("C0GENERAL")
    assert m.blocks == blocks and m.metadata == md
    assert slack.calls_to("chat.postMessage")[0].args["blocks"] == blocks


async def test_rate_limit_is_seen_and_retried(slack, client):
    slack.fail_next(429, retry_after=7)
    with pytest.raises(SlackApiError) as e:
        await client.chat_postMessage(channel="C0ALERTS", text="x")
    assert e.value.response.status_code == 429
    assert e.value.response["error"] == "ratelimited"
    assert e.value.response.headers["Retry-After"] in ("7", ["7"])
    call = slack.calls_to("chat.postMessage")[0]
    assert call.ok is False and call.error == "ratelimited" and call.status == 429

    retrying = AsyncWebClient(
        token=BOT_TOKEN, base_url=slack.api_url, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)]
    )
    slack.fail_next(429, retry_after=0)
    r = await retrying.chat_postMessage(channel="C0ALERTS", text="after retry")
    assert r["ok"] is True
    assert [c.ok for c in slack.calls_to("chat.postMessage")] == [False, False, True]
    assert [m.text for m in slack.messages("C0ALERTS")] == ["after retry"]


async def test_fail_for_and_sim_endpoints(slack, client):
    slack.fail_for(503, seconds=3)
    with pytest.raises(SlackApiError) as e:
        await client.auth_test()
    assert e.value.response.status_code == 503

    async def recovered():
        try:
            return (await client.auth_test())["ok"]
        except SlackApiError as exc:
            assert exc.response.status_code == 503
            return False

    await wait_for(recovered, timeout=30, interval=0.5, what="the 503 window to end")

    async with aiohttp.ClientSession() as s:
        async with s.post(slack.base_url + "/_sim/faults", json={"status": 500, "count": 2}) as resp:
            assert resp.status == 200
        for _ in range(2):
            with pytest.raises(SlackApiError):
                await client.chat_postMessage(channel="C0ALERTS", text="x")
        await client.chat_postMessage(channel="C0ALERTS", text="ok now")
        async with s.post(slack.base_url + "/_sim/faults", json={"status": 429, "seconds": 5, "retry_after": 1}):
            pass
        with pytest.raises(SlackApiError):
            await client.auth_test()
        async with s.post(slack.base_url + "/_sim/faults/clear"):
            pass
        assert (await client.auth_test())["ok"]
        async with s.get(slack.base_url + "/_sim/calls") as resp:
            calls = await resp.json()
        async with s.get(slack.base_url + "/_sim/state") as resp:
            state = await resp.json()
    statuses = [c["status"] for c in calls]
    first_ok = statuses.index(200)
    assert first_ok >= 1 and set(statuses[:first_ok]) == {503}
    assert statuses[first_ok:] == [200, 500, 500, 200, 429, 200]
    assert state["channels"]["C0ALERTS"]["messages"][0]["text"] == "ok now"
    assert state["users"]["U0ANA"]["real_name"] == "Ana Ruiz"


async def test_wait_for_and_subscribe(slack, client):
    q = slack.subscribe()

    async def later():
        await asyncio.sleep(0.05)
        await client.chat_postMessage(channel="C0ALERTS", text="eventually")

    task = asyncio.create_task(later())
    msgs = await slack.wait_for(lambda s: s.messages("C0ALERTS"), timeout=5)
    assert msgs[0].text == "eventually"
    await task
    events = []
    while not q.empty():
        events.append(q.get_nowait()["type"])
    assert "message" in events and "call" in events
    with pytest.raises(TimeoutError, match="not met within 0.1s"):
        await slack.wait_for(lambda s: s.messages("C0GENERAL"), timeout=0.1)


# --------------------------------------------------------------------------- #
# Acting as Slack towards a Bolt app
# --------------------------------------------------------------------------- #


def make_bolt_app(slack: SlackStandIn, seen: list) -> AsyncApp:
    app = AsyncApp(
        signing_secret=SECRET,
        client=AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url),
        process_before_response=True,
    )

    @app.command("/runs")
    async def runs(ack, command, respond, client):
        seen.append(("command", command))
        if command["text"] == "filter":
            await ack()
            await client.views_open(trigger_id=command["trigger_id"], view=MODAL)
            return
        await ack(text=f"Looking up {command['text']}")
        await respond(
            response_type="in_channel",
            text=f"Run {command['text']}: failed",
            blocks=[section(f"Run {command['text']}: failed"), buttons("approve", "reject")],
        )

    @app.action("approve")
    async def approve(ack, body, respond):
        await ack()
        seen.append(("action", body))
        await respond(replace_original=True, text=f"Approved by <@{body['user']['id']}>")

    @app.view("runs_filter")
    async def submitted(ack, body, view):
        seen.append(("view", body))
        if view["state"]["values"]["wf"]["name"]["value"] == "bad":
            await ack(response_action="errors", errors={"wf": "unknown workflow"})
        else:
            await ack()

    return app


async def start_bolt_http(app: AsyncApp) -> tuple[web.AppRunner, str]:
    async def handle(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

    web_app = web.Application()
    web_app.router.add_post("/slack/events", handle)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def exercise_bot(slack: SlackStandIn, seen: list, via: str) -> None:
    res = await slack.send_command("42", via=via)
    assert res.ok, res
    # Bolt acks text as text/plain over HTTP and as {"text": ...} over Socket Mode
    assert res.body == ("Looking up 42" if via == "http" else {"text": "Looking up 42"})
    assert res.response_url.startswith(slack.base_url + "/_sim/response/")
    kind, cmd = seen[0]
    assert kind == "command" and cmd["user_id"] == "U0SANDBOX" and cmd["channel_id"] == "C0ALERTS"
    assert cmd["user_name"] == "alex.kim" and cmd["response_url"] == res.response_url and cmd["trigger_id"]

    # respond() -> response_url -> in_channel message; the ack text shows as an ephemeral
    [resp] = slack.responses(res.response_url)
    assert resp["response_type"] == "in_channel"
    [msg] = slack.messages("C0ALERTS")
    assert msg.text == "Run 42: failed" and msg.source == "response_url"
    assert [e.text for e in slack.ephemerals("C0ALERTS", user="U0SANDBOX")] == ["Looking up 42"]

    click = await slack.click(msg, "approve", user_id="U0CAROL", via=via)
    assert click.ok, click
    body = seen[1][1]
    assert body["type"] == "block_actions" and body["user"]["id"] == "U0CAROL"
    assert body["container"] == {
        "type": "message",
        "message_ts": msg.ts,
        "channel_id": "C0ALERTS",
        "is_ephemeral": False,
    }
    assert body["message"]["ts"] == msg.ts and body["channel"]["id"] == "C0ALERTS"
    assert body["actions"][0] | {"action_ts": None} == {
        "action_id": "approve",
        "block_id": "acts",
        "value": "v-approve",
        "type": "button",
        "text": {"type": "plain_text", "text": "Approve"},
        "action_ts": None,
    }
    assert slack.responses(click.response_url) == [{"replace_original": True, "text": "Approved by <@U0CAROL>"}]
    assert slack.messages("C0ALERTS")[0].text == "Approved by <@U0CAROL>"

    res = await slack.send_command("filter", via=via)
    assert res.ok
    [view] = slack.open_views("U0SANDBOX")
    sub = await slack.submit_view(view.id, {"wf": {"name": "bad"}, "st": {"status": "failed"}}, via=via)
    assert sub.ok and sub.body["response_action"] == "errors"
    assert view.errors == {"wf": "unknown workflow"} and not view.closed
    sub = await slack.submit_view(view.id, {"wf": {"name": "nightly"}, "st": {"status": "failed"}}, via=via)
    assert sub.ok and view.closed
    vbody = seen[-1][1]
    assert vbody["type"] == "view_submission" and vbody["view"]["callback_id"] == "runs_filter"
    assert vbody["view"]["private_metadata"] == '{"origin": "C0ALERTS"}'
    assert vbody["view"]["state"]["values"] == {
        "wf": {"name": {"type": "plain_text_input", "value": "nightly"}},
        "st": {
            "status": {
                "type": "static_select",
                "selected_option": {"text": {"type": "plain_text", "text": "Failed"}, "value": "failed"},
            }
        },
    }


async def test_bolt_app_over_http(slack):
    seen: list = []
    app = make_bolt_app(slack, seen)
    runner, url = await start_bolt_http(app)
    try:
        slack.bot_url = url
        await exercise_bot(slack, seen, "http")
        # requests are signed like Slack's
        body = "token=x&text=1"
        headers = slack.signed_headers(body, "application/x-www-form-urlencoded")
        assert SignatureVerifier(SECRET).is_valid(
            body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
        )
        # a wrongly signed stand-in is rejected by Bolt
        other = SlackStandIn(bot_token=BOT_TOKEN, signing_secret="wrong", bot_url=url)
        await other.start()
        try:
            res = await other.send_command("42")
            assert res.status == 401 and not res.ok
        finally:
            await other.stop()
    finally:
        await runner.cleanup()


async def test_bolt_app_over_socket_mode(slack):
    seen: list = []
    app = make_bolt_app(slack, seen)
    handler = AsyncSocketModeHandler(app, APP_TOKEN)
    await handler.connect_async()
    try:
        await slack.wait_for_socket(timeout=5)
        assert slack.calls_to("apps.connections.open")[0].ok
        await exercise_bot(slack, seen, "socket")
        res = await slack.send_command("43", via="socket")
        assert res.envelope_id and res.ack["envelope_id"] == res.envelope_id
    finally:
        await handler.close_async()
    assert not slack.socket_connected or await slack.wait_for(lambda s: not s.socket_connected, timeout=5)


async def test_unacked_socket_command_times_out(slack):
    slack.ack_timeout = 0.2
    async with aiohttp.ClientSession() as s:
        url = (
            await AsyncWebClient(token=APP_TOKEN, base_url=slack.api_url).apps_connections_open(app_token=APP_TOKEN)
        )["url"]
        async with s.ws_connect(url) as ws:
            hello = await ws.receive_json()
            assert hello["type"] == "hello" and hello["connection_info"]["app_id"] == "A0RUNBOT"
            res = await slack.send_command("x", via="socket")
            envelope = await ws.receive_json()
            assert envelope["type"] == "slash_commands" and envelope["payload"]["text"] == "x"
            assert envelope["accepts_response_payload"] is True
            assert res.error == "operation_timeout" and not res.ok


async def test_home_ephemeral_click_events_and_reconnect(slack):
    """App Home + ephemeral buttons + user messages over Socket Mode; Slack-initiated reconnect."""
    app = AsyncApp(
        signing_secret=SECRET,
        client=AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url),
        process_before_response=True,
    )
    seen: list = []

    @app.event("app_home_opened")
    async def home(event, client):
        seen.append(event)
        await client.views_publish(
            user_id=event["user"], view={"type": "home", "blocks": [section("hi"), buttons("refresh")]}
        )

    @app.event("message")
    async def on_message(event):
        seen.append(event)

    @app.action("refresh")
    async def refresh(ack, body, client):
        await ack()
        seen.append(body)
        await client.chat_postEphemeral(
            channel="C0ALERTS", user=body["user"]["id"], text="eph", blocks=[buttons("dismiss")]
        )

    @app.action("dismiss")
    async def dismiss(ack, body, respond):
        await ack()
        seen.append(body)
        await respond(delete_original=True)

    handler = AsyncSocketModeHandler(app, APP_TOKEN)
    await handler.connect_async()
    try:
        await slack.wait_for_socket(timeout=5)
        assert (await slack.open_home()).ok  # via=None -> socket (no bot_url)
        home_view = await slack.wait_for(lambda s: s.home("U0SANDBOX"))
        assert seen[0]["type"] == "app_home_opened" and seen[0]["channel"] == slack.dm_channel_id("U0SANDBOX")

        assert (await slack.click(home_view, "refresh")).ok
        assert seen[-1]["container"] == {"type": "view", "view_id": home_view.id} and "response_url" not in seen[-1]
        [eph] = await slack.wait_for(lambda s: s.ephemerals("C0ALERTS", user="U0SANDBOX"))

        res = await slack.click(eph, "dismiss")
        assert res.ok and seen[-1]["container"]["is_ephemeral"] is True and "message" not in seen[-1]
        await slack.wait_for(lambda s: not s.ephemerals("C0ALERTS"))

        await slack.disconnect_sockets()
        await slack.wait_for(lambda s: s.socket_connected, timeout=10)
        assert len(slack.calls_to("apps.connections.open")) == 2

        msg, res = await slack.post_user_message("C0GENERAL", "hello bot", user_id="U0BEN")
        assert res.ok and not msg.is_bot and msg.user == "U0BEN"
        await slack.wait_for(lambda s: seen[-1].get("text") == "hello bot")
        assert seen[-1]["channel"] == "C0GENERAL" and seen[-1]["ts"] == msg.ts
    finally:
        await handler.close_async()
