"""The listeners' own answers by the Web API wait for the outbox's pacer (bot/pacing.py): a burst of answers in
one channel, with the stand-in enforcing Slack's per-channel rate, draws no 429 and none is lost."""

from __future__ import annotations

import asyncio

from bot.responder import Responder


async def test_a_burst_of_answers_in_one_channel_draws_no_429(harness):
    h = harness
    answers = [f"answer {i:02d} to a command" for i in range(16)]
    await asyncio.gather(
        *(
            Responder(svc=h.svc, user="U0SANDBOX", channel="C0ALERTS").send(text=text, response_type="in_channel")
            for text in answers
        )
    )
    posted = [m.text for m in h.slack.messages("C0ALERTS") if m.text in answers]
    assert sorted(posted) == answers
    assert h.slack.rate_limited() == []
    assert all(c.status == 200 for c in h.slack.calls_to("chat.postMessage"))
