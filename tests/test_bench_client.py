"""The bench's slash-command client decides per request whether an acknowledgement is the answer or a notice
that the answer follows through response_url (the `show PREFIX` stall of issue 20: once a command had been
answered by a notice, every later answer in the ack was followed by a wait for a post that never came)."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web

from benchmarks.load import SlashClient, drive
from reference.slack import SlackStandIn

SECRET = "bench-client-secret"


async def _bot(slack: SlackStandIn, answers: list[str]):
    """A /slack/events that answers the i-th command as `answers[i]` says: "notice" (ack "Working on it…", then
    the answer through response_url), "silent" (the notice, never followed) or "ack" (the answer in the ack)."""
    seen = 0

    async def events(request: web.Request) -> web.Response:
        nonlocal seen
        form = await request.post()
        how = answers[min(seen, len(answers) - 1)]
        seen += 1
        if how == "ack":
            return web.json_response({"blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "answer"}}]})

        async def follow() -> None:
            async with aiohttp.ClientSession() as http:
                await http.post(form["response_url"], json={"text": "answer", "replace_original": True})

        if how == "notice":
            tasks.add(asyncio.create_task(follow()))
        return web.json_response({"text": "Working on it…", "response_type": "ephemeral"})

    app = web.Application()
    tasks: set = set()
    app.router.add_post("/slack/events", events)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return runner, f"http://127.0.0.1:{port}"


async def test_an_answer_in_the_ack_is_not_waited_past_even_after_a_command_was_once_deferred():
    slack = SlackStandIn(bot_token="xoxb-bench", signing_secret=SECRET)
    await slack.start()
    runner, url = await _bot(slack, ["notice", "ack"])
    try:
        async with aiohttp.ClientSession() as http:
            # A follow-up that never comes would hold each request this long: far past the test's own bound.
            client = SlashClient(http, url, slack, answer_timeout=120)
            first = await client.probe("show P")
            assert first.via == "ack, then response_url" and first.text == "answer", first
            result = await asyncio.wait_for(
                drive(client.send, [client.prepare("show P") for _ in range(12)], concurrency=4), 60
            )
            assert result.count == 12 and result.errors == 0, result
            assert client.last_answers["show P"].via == "ack"
            await client.close()
    finally:
        await runner.cleanup()
        await slack.stop()


async def test_a_notice_never_followed_by_its_answer_is_an_error_not_a_fast_answer():
    slack = SlackStandIn(bot_token="xoxb-bench", signing_secret=SECRET)
    await slack.start()
    runner, url = await _bot(slack, ["notice", "silent"])
    try:
        async with aiohttp.ClientSession() as http:
            client = SlashClient(http, url, slack, answer_timeout=1.0)
            await client.probe("failed")
            result = await drive(client.send, [client.prepare("failed") for _ in range(2)], concurrency=1)
            assert result.count == 0 and result.errors == 2, result
            assert "no response_url post" in result.error_samples[0]
            await client.close()
    finally:
        await runner.cleanup()
        await slack.stop()
