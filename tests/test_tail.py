"""Live log tails end to end: `/runs tail` posts a message that follows the run's logs (the tail job polls the
reference platform's `GET /v1/logs`), is edited in place, and ends with the final status; `untail`, the cap,
`--dm` and the *Tail logs* button."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from store.models import SlackMessage
from tests.test_commands import command, later, running_run, shown, stored


@pytest.fixture
def settings_overrides():
    return {"TAIL_INTERVAL_SECONDS": 0.3, "TAIL_MAX_ACTIVE": 2, "TAIL_LINES": 40}


def tail_message(h, run_id: str, channel: str = "C0GENERAL"):
    return next((m for m in h.slack.messages(channel) if "Live logs of" in shown(m) and run_id in shown(m)), None)


async def test_a_tail_follows_a_run_to_its_end_and_stops(harness):
    h = harness
    run = await running_run(h, "run_tail0001")  # wf_summaries, frozen in its first step
    ack = await command(h, "tail run_tail0001")
    answer = await later(h, lambda t: "Tailing" in t)
    assert "untail run_tail0001" in shown(answer) and ack is None  # the answer alone, no notice above it
    msg = await h.slack.wait_for(lambda s: tail_message(h, run["id"]), timeout=15)
    await h.slack.wait_for(lambda s: "run.started" in shown(msg), timeout=15)
    await h.sim("POST", f"/sim/runs/{run['id']}/advance", {})  # step 1 completes, step 2 starts
    await h.slack.wait_for(lambda s: "Step 2 of 3" in shown(msg), timeout=15)
    assert msg.edited >= 1 and len([m for m in h.slack.messages("C0GENERAL") if "Live logs of" in shown(m)]) == 1
    await h.sim("POST", f"/sim/runs/{run['id']}/advance", {"status": "completed"})
    await stored(h, run["id"], "completed")
    await h.slack.wait_for(lambda s: "Tail ended: the run ended" in shown(msg), timeout=15)
    assert "final status completed" in shown(msg) and h.settings.run_url(run["id"]) in shown(msg)
    edits = msg.edited
    await h.settled()
    async with h.svc.sessions() as s:
        kinds = (await s.scalars(select(SlackMessage.kind).where(SlackMessage.subject == run["id"]))).all()
    assert list(kinds) == ["tailed"]
    ticks = h.scheduler.ran.get("tail", 0)
    await h.wait_for(lambda: h.scheduler.ran.get("tail", 0) >= ticks + 3, timeout=15, what="three more tail ticks")
    assert msg.edited == edits  # the ended tail is no longer edited


async def test_untail_the_cap_an_ended_run_and_dm(harness):
    h = harness
    await running_run(h, "run_tail0002")
    await running_run(h, "run_tail0003")
    await running_run(h, "run_tail0004")
    await command(h, "tail run_tail0002")
    await later(h, lambda t: "Tailing `run_tail0002`" in t)
    await command(h, "tail run_tail0002")
    await later(h, lambda t: "already tailed" in t)
    await command(h, "tail run_tail0003 --dm")
    await later(h, lambda t: "Tailing `run_tail0003`" in t)
    dm = h.slack.dm_channel_id("U0SANDBOX")
    await h.slack.wait_for(lambda s: tail_message(h, "run_tail0003", dm), timeout=15)
    await command(h, "tail run_tail0004")
    await later(h, lambda t: "the most this bot follows at once" in t)
    await command(h, "untail run_tail0002")
    await later(h, lambda t: "Stopped the live tail of `run_tail0002`" in t)
    msg = tail_message(h, "run_tail0002")
    await h.slack.wait_for(lambda s: "stopped by" in shown(msg), timeout=15)
    await command(h, "tail run_tail0004")
    await later(h, lambda t: "Tailing `run_tail0004`" in t)
    done = await h.start_run("wf_summaries", "succeed", frozen=True, status="completed", id="run_tail0005")
    await stored(h, done["id"], "completed")
    await command(h, "tail run_tail0005")
    await later(h, lambda t: "nothing live to tail" in t)


async def test_the_tail_logs_button_on_show_starts_a_tail_in_that_channel(harness):
    h = harness
    await running_run(h, "run_tail0006")
    shown_run = await command(h, "show run_tail0006")
    await h.slack.click(shown_run, "run_tail")
    await h.slack.wait_for(lambda s: tail_message(h, "run_tail0006"), timeout=15)


async def tail_rows(h, run_id: str) -> list[str]:
    async with h.svc.sessions() as s:
        return list((await s.scalars(select(SlackMessage.kind).where(SlackMessage.subject == run_id))).all())


async def test_a_tail_into_a_channel_the_bot_cannot_post_to_is_refused_in_words(harness):
    h = harness
    await running_run(h, "run_tail0007")
    h.slack.channel("C0GENERAL").is_archived = True
    await command(h, "tail run_tail0007")
    answer = await later(h, lambda t: "cannot post a live tail" in t)
    assert "is_archived" in shown(answer) and "/runs tail run_tail0007 --dm" in shown(answer)
    assert await tail_rows(h, "run_tail0007") == []  # nothing to follow, nothing polled
    await command(h, "tail run_tail0007 --dm")  # the way out it names works
    await later(h, lambda t: "Tailing `run_tail0007`" in t)
    await h.slack.wait_for(lambda s: tail_message(h, "run_tail0007", h.slack.dm_channel_id("U0SANDBOX")), timeout=15)


async def test_a_tail_slack_refuses_stops_and_tells_who_started_it(harness):
    h = harness
    run = await running_run(h, "run_tail0008")
    await command(h, "tail run_tail0008")
    msg = await h.slack.wait_for(lambda s: tail_message(h, run["id"]), timeout=15)
    h.slack._delete_message(h.slack.channel("C0GENERAL"), msg)  # someone deleted the tail: edits are refused
    await h.sim("POST", f"/sim/runs/{run['id']}/advance", {})  # new log lines: the tail job edits, Slack refuses
    dm = h.slack.dm_channel_id("U0SANDBOX")
    told = await h.slack.wait_for(
        lambda s: next((m for m in h.slack.messages(dm) if "can no longer be edited" in shown(m)), None), timeout=15
    )
    assert "message_not_found" in shown(told) and "/runs tail run_tail0008" in shown(told)
    await h.wait_for(lambda: _ended(h, run["id"]), timeout=15, what="the tail ended")
    ticks = h.scheduler.ran.get("tail", 0)
    await h.wait_for(lambda: h.scheduler.ran.get("tail", 0) >= ticks + 3, timeout=15, what="three more tail ticks")
    assert len([m for m in h.slack.messages(dm) if "can no longer be edited" in shown(m)]) == 1  # told once


async def _ended(h, run_id: str) -> bool:
    return await tail_rows(h, run_id) == ["tailed"]


async def test_tail_with_share_posts_in_the_channel_as_a_tail_always_does(harness):
    h = harness
    await running_run(h, "run_tail0009")
    await command(h, "tail run_tail0009 --share")
    await later(h, lambda t: "Tailing `run_tail0009`" in t)
    msg = await h.slack.wait_for(lambda s: tail_message(h, "run_tail0009"), timeout=15)
    assert "started by" in shown(msg)
    refused = await command(h, "tail run_tail0009 --share --dm")
    assert "choose one" in shown(refused)
