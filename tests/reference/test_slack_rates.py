"""The stand-in's posting rules, as Slack documents them: about one post a second per channel after a short
burst, chat.update at Tier 3 per workspace, both answered 429 with Retry-After; chat.update text over 4,000
characters refused, chat.postMessage text over 40,000 truncated."""

from __future__ import annotations

import asyncio

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from reference.slack import RateRules, SlackStandIn

BOT_TOKEN = "xoxb-rates"


@pytest.fixture
async def slack():
    s = SlackStandIn(bot_token=BOT_TOKEN, signing_secret="secret")
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


@pytest.fixture
async def client(slack):
    return AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)  # no retry handler: a 429 is raised


async def status_of(call) -> tuple[int, str | None, str | None]:
    try:
        resp = await call
        return resp.status_code, None, None
    except SlackApiError as e:
        return e.response.status_code, e.response.get("error"), e.response.headers.get("Retry-After")


async def test_slacks_posting_rate_is_the_default_a_burst_then_429_with_retry_after_per_channel(slack, client):
    assert slack.rates == RateRules()  # strict by default: one a second per channel, a burst of 4
    answers = [await status_of(client.chat_postMessage(channel="C0ALERTS", text=f"m{i}")) for i in range(6)]
    assert [a[0] for a in answers[:4]] == [200] * 4
    assert answers[4][:2] == (429, "ratelimited")
    assert answers[4][2] == "1"  # whole seconds, as Slack answers
    assert len(slack.messages("C0ALERTS")) == 4
    # Another channel has its own allowance; a thread reply counts in its channel.
    assert (await status_of(client.chat_postMessage(channel="C0APPROVALS", text="other")))[0] == 200
    parent = slack.messages("C0ALERTS")[0].ts
    assert (await status_of(client.chat_postMessage(channel="C0ALERTS", text="r", thread_ts=parent)))[0] == 429
    assert {c.method for c in slack.rate_limited()} == {"chat.postMessage"}
    assert len(slack.rate_limited()) == 3


async def test_a_scaled_clock_refills_faster_but_still_limits(slack, client):
    slack.rates = RateRules().scaled(10)  # a test may run the clock faster, never switch the rule off
    answers = [await status_of(client.chat_postMessage(channel="C0ALERTS", text=f"m{i}")) for i in range(5)]
    assert answers[4][0] == 429 and float(answers[4][2]) <= 0.1
    await asyncio.sleep(float(answers[4][2]) + 0.02)
    assert (await status_of(client.chat_postMessage(channel="C0ALERTS", text="after")))[0] == 200
    with pytest.raises(ValueError):
        RateRules(post_per_second=0)


async def test_chat_update_is_tier_3_across_the_workspace(slack, client):
    slack.rates = RateRules(update_burst=3)
    ts = [(await client.chat_postMessage(channel=c, text="x"))["ts"] for c in ("C0ALERTS", "C0APPROVALS")]
    answers = [
        await status_of(client.chat_update(channel=c, ts=t, text=f"v{i}"))
        for i in range(2)
        for c, t in zip(("C0ALERTS", "C0APPROVALS"), ts)
    ]
    assert [a[0] for a in answers] == [200, 200, 200, 429]
    assert answers[3][1] == "ratelimited" and answers[3][2] == "2"  # 50 a minute: 1.2 s to the next, whole seconds
    assert [c.method for c in slack.rate_limited()] == ["chat.update"]


async def test_update_text_over_4000_is_refused_and_post_text_over_40000_is_truncated(slack, client):
    posted = await client.chat_postMessage(channel="C0ALERTS", text="p" * 40_005)
    assert len(slack.message("C0ALERTS", posted["ts"]).text) == 40_000
    assert (await status_of(client.chat_update(channel="C0ALERTS", ts=posted["ts"], text="u" * 4_001)))[1] == (
        "msg_too_long"
    )
    assert (await status_of(client.chat_update(channel="C0ALERTS", ts=posted["ts"], text="u" * 4_000)))[0] == 200
    assert slack.message("C0ALERTS", posted["ts"]).text == "u" * 4_000


async def test_a_refused_post_does_not_count_against_the_rate(slack, client):
    for _ in range(6):
        assert (await status_of(client.chat_postMessage(channel="C0ALERTS", blocks=[{"type": "nope"}])))[1] == (
            "invalid_blocks"
        )
    assert [(await status_of(client.chat_postMessage(channel="C0ALERTS", text=f"m{i}")))[0] for i in range(4)] == [
        200
    ] * 4
