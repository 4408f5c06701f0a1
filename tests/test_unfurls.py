"""Run links unfurl, end to end: a person pastes console links in the Slack stand-in, which sends the bot a signed
`link_shared` event as Slack does and validates the bot's `chat.unfurl` (keyed by each URL as shared)."""

from __future__ import annotations

import json

import pytest

from bot.manifest import is_loopback
from bot.render.cost import money
from bot.unfurl import run_links
from tests.test_alerts import wait_for_alert
from tests.test_commands import stored

CHANNEL = "C0ALERTS"
OTHER = "C0GENERAL"


@pytest.fixture
def settings_overrides():
    return {"STORM_THRESHOLD": 100, "UNFURL_MAX_PER_MESSAGE": 2}


def unfurls_of(h, channel: str, ts: str) -> dict:
    """url -> the app's card, as the stand-in shows the message now."""
    msg = h.slack.message(channel, ts)
    return {a["app_unfurl_url"]: a for a in msg.attachments or [] if a.get("is_app_unfurl")}


async def unfurls_done(h) -> None:
    """Every `link_shared` the bot acknowledged has been answered (or deliberately not)."""
    await h.wait_for(
        lambda: not [t for t in h.svc.background if t.get_name() == "unfurl run links"],
        timeout=20,
        what="the bot to finish unfurling",
    )


async def paste(h, text: str, channel: str = CHANNEL):
    msg, result = await h.slack.post_user_message(channel, text, user_id="U0ANA")
    await unfurls_done(h)
    return msg


async def test_a_pasted_link_to_a_failed_run_unfurls_into_its_card_keyed_by_the_url_as_shared(harness):
    h = harness
    run = await h.start_run("wf_invoices", "fail")
    await wait_for_alert(h, run["id"])
    detail = (await h.api("GET", f"/runs/{run['id']}"))[1]
    step = detail["failed_step_id"]
    url = h.platform.run_url(run["id"], step)  # with #step-…, as "Jump to failed step" gives it
    assert "#step-" in url

    msg = await paste(h, f"anyone looking at <{url}> ?")

    card = await h.wait_for(lambda: unfurls_of(h, CHANNEL, msg.ts).get(url), timeout=20, what="the run's unfurl")
    shown = json.dumps(card["blocks"])
    error_code = next(s for s in detail["steps"] if s["id"] == step)["error"]["code"]
    assert run["id"] in shown and "failed" in shown and detail["workflow"]["name"] in shown
    assert error_code in shown and "jump to failed step" in shown
    assert f"{h.platform.run_url(run['id'])}#step-{step}" in shown
    assert f"cost {money(detail['usage']['cost_usd'])}" in shown  # the platform reported what it cost
    actions = [el["action_id"] for b in card["blocks"] if b["type"] == "actions" for el in b["elements"]]
    assert actions[0] == "run_show" and "run_replay" in actions and "run_pause" not in actions
    (call,) = h.slack.calls_to("chat.unfurl")
    assert call.ok and call.args["channel"] == CHANNEL and call.args["ts"] == msg.ts

    # Its Show run button answers the clicker with the whole run, as on an alert.
    await h.slack.click(h.slack.message(CHANNEL, msg.ts), "run_show", user_id="U0BEN")
    await h.wait_for(
        lambda: any(run["id"] in json.dumps(e.blocks or []) for e in h.slack.ephemerals(CHANNEL, user="U0BEN")),
        timeout=20,
        what="the run's card for the person who clicked Show run",
    )


async def test_a_run_of_unknown_cost_unfurls_without_a_cost_rather_than_zero(harness):
    h = harness
    run = await h.start_run("wf_tools", "succeed", gate=False)  # its steps report no usage
    await stored(h, run["id"], "completed")
    url = h.platform.run_url(run["id"])
    msg = await paste(h, f"done? {url}")
    card = await h.wait_for(lambda: unfurls_of(h, CHANNEL, msg.ts).get(url), timeout=20, what="the run's unfurl")
    shown = json.dumps(card["blocks"])
    assert run["id"] in shown and "completed" in shown
    assert "cost" not in shown and "$0.00" not in shown


async def test_the_same_link_again_in_one_conversation_is_not_unfurled_twice_but_is_elsewhere(any_harness):
    h = any_harness
    run = await h.start_run("wf_invoices", "succeed", gate=False)
    url = h.platform.run_url(run["id"])
    first = await paste(h, url)
    await h.wait_for(lambda: unfurls_of(h, CHANNEL, first.ts), timeout=20, what="the first unfurl")

    again = await paste(h, f"same one: {url}")
    assert unfurls_of(h, CHANNEL, again.ts) == {}
    assert len(h.slack.calls_to("chat.unfurl")) == 1

    elsewhere = await paste(h, url, channel=OTHER)
    await h.wait_for(lambda: unfurls_of(h, OTHER, elsewhere.ts), timeout=20, what="the unfurl in another channel")


@pytest.mark.parametrize("settings_overrides", [{"STORM_THRESHOLD": 100, "UNFURL_DEDUPE_SECONDS": 0.5}])
async def test_after_the_window_the_same_link_unfurls_again(harness):
    h = harness
    run = await h.start_run("wf_invoices", "succeed", gate=False)
    url = h.platform.run_url(run["id"])
    first = await paste(h, url)
    await h.wait_for(lambda: unfurls_of(h, CHANNEL, first.ts), timeout=20, what="the first unfurl")

    async def unfurled_again():
        msg = await paste(h, url)
        return bool(unfurls_of(h, CHANNEL, msg.ts))

    await h.wait_for(unfurled_again, timeout=20, what="the link to unfurl again after the window")


async def test_a_message_with_many_run_links_unfurls_the_first_n_and_ignores_other_links(harness):
    h = harness
    runs = [await h.start_run("wf_invoices", "succeed", gate=False) for _ in range(3)]
    urls = [h.platform.run_url(r["id"]) for r in runs]
    other_page = h.platform.run_url(runs[0]["id"]).replace("/workflow-runs/", "/workflows/")
    unknown = h.platform.run_url("run_doesnotexist")
    msg = await paste(h, " ".join([other_page, unknown, *urls]))

    cards = await h.wait_for(lambda: unfurls_of(h, CHANNEL, msg.ts), timeout=20, what="the unfurls")
    # UNFURL_MAX_PER_MESSAGE=2 run links taken in order: the unknown run (not unfurled) and the first real one.
    assert list(cards) == [urls[0]]
    assert len(h.slack.calls_to("chat.unfurl")) == 1


def test_only_console_run_pages_of_this_workspace_are_run_links(harness):
    s = harness.settings
    base = f"{s.ui_url}/{s.PLATFORM_WORKSPACE}/monitoring/workflow-runs"
    urls = [
        f"{base}/run_1",
        f"{base}/run_2#step-step_3",
        f"{base}/run_1",  # the same URL twice: once
        f"{s.ui_url}/another/monitoring/workflow-runs/run_3",
        f"{base}/run_4/../../secrets",
        f"https://evil.example{base.split('//', 1)[1][len(s.ui_url.split('//', 1)[1]) :]}/run_5",
        f"{base}/<!channel>",
    ]
    assert run_links(s, urls) == [(urls[0], "run_1"), (urls[1], "run_2")]
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and not is_loopback("console.acme.example")


async def test_an_unfurl_slack_rate_limits_is_sent_again_after_retry_after(harness):
    h = harness
    run = await h.start_run("wf_invoices", "fail")
    await wait_for_alert(h, run["id"])
    url = h.platform.run_url(run["id"])
    h.slack.fail_next(429, count=2, retry_after=1, method="chat.unfurl")  # two 429s: tried three times in all

    msg = await paste(h, f"see <{url}>")

    assert unfurls_of(h, CHANNEL, msg.ts).get(url), "unfurled after Slack's Retry-After"
    first, second, third = h.slack.calls_to("chat.unfurl")
    assert (first.status, second.status) == (429, 429) and third.ok
    assert third.at - second.at >= 0.9  # Retry-After was honoured


@pytest.mark.parametrize(
    "settings_overrides", [{"STORM_THRESHOLD": 100, "UNFURL_MAX_PER_MESSAGE": 2, "SLACK_RETRY_AFTER_MAX_SECONDS": 2}]
)
async def test_an_unfurl_is_not_retried_past_the_longest_retry_after_waited_for(harness, caplog):
    h = harness
    run = await h.start_run("wf_invoices", "fail")
    await wait_for_alert(h, run["id"])
    url = h.platform.run_url(run["id"])
    h.slack.fail_next(429, count=1, retry_after=120, method="chat.unfurl")

    msg = await paste(h, f"see <{url}>")  # done well before Slack's two minutes

    assert [c.status for c in h.slack.calls_to("chat.unfurl")] == [429]
    assert not unfurls_of(h, CHANNEL, msg.ts)
    assert any("SLACK_RETRY_AFTER_MAX_SECONDS" in r.getMessage() for r in caplog.records)
