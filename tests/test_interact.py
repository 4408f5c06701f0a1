"""How a person is answered under Slack's rules, end to end (the real bot, the reference platform and the strict
Slack stand-in): modals open at once with a "Loading…" view even while the platform takes 5 s, answers after a
modal go by the Web API rather than a stale response_url, no response_url is used a sixth time, and an event
Slack delivers again is acted on once."""

from __future__ import annotations

import asyncio
import json

import pytest

from bot.responder import Responder
from tests.support.harness import APP_TOKEN
from tests.test_approvals import CHANNEL, card_of, gated_run, platform_task
from tests.test_commands import USER, command, failed_run

pytestmark = pytest.mark.asyncio


def modal_of(h, user: str, callback_id: str):
    return next((v for v in h.slack.open_views(user) if v.callback_id == callback_id), None)


async def test_reject_modal_opens_while_the_platform_takes_five_seconds(harness):
    h = harness
    task, card = await card_of(h, (await gated_run(h))["id"])
    await h.sim("POST", "/sim/stall", {"seconds": 5})  # every /v1 call hangs for 5 s, then is answered
    click = await h.slack.click(card, "approval_reject", user_id="U0BEN")
    assert click.ok, click.error
    loading = await h.wait_for(lambda: next(iter(h.slack.open_views("U0BEN")), None), what="a modal")
    assert [c.error for c in h.slack.calls_to("views.open")] == [None]
    form = await h.wait_for(lambda: modal_of(h, "U0BEN", "reject_modal"), timeout=30, what="the reject form")
    assert form.id == loading.id  # the "Loading…" modal became the form: one modal, filled by views.update
    await h.slack.submit_view(form, {"reason": {"reason_input": "Not this week"}})

    async def rejected():
        return (await platform_task(h, task.id))["status"] == "rejected"

    await h.wait_for(rejected, timeout=30, what="the rejection on the platform")


async def test_replay_modal_opens_while_the_platform_takes_five_seconds(harness):
    h = harness
    await failed_run(h, "run_slow0001")
    choice = await command(h, "replay slow0001")
    async with h.svc.sessions.begin() as s:  # the store forgets the prompt: the form must ask the platform
        from store.models import Run

        run = await s.get(Run, "run_slow0001")
        run.data = {k: v for k, v in (run.data or {}).items() if k != "prompt"}
    before = (await h.sim("GET", "/sim/stats"))["requests"].get("GET /v1/runs/{id}", 0)
    await h.sim("POST", "/sim/stall", {"seconds": 5})
    await h.slack.click(choice, "run_replay_changes")
    loading = await h.wait_for(lambda: next(iter(h.slack.open_views(USER)), None), what="a modal")
    assert loading.callback_id == "loading_modal" and "Loading" in json.dumps(loading.blocks)
    form = await h.wait_for(lambda: modal_of(h, USER, "replay_modal"), timeout=30, what="the replay form")
    assert form.id == loading.id and "Classify the invoice" in json.dumps(form.blocks)
    assert (await h.sim("GET", "/sim/stats"))["requests"].get("GET /v1/runs/{id}", 0) > before
    assert all(c.ok for c in h.slack.calls_to("views.open")) and len(h.slack.calls_to("views.open")) == 1


async def test_an_error_lands_in_the_modal(harness):
    h = harness
    await failed_run(h, "run_gone0001")
    choice = await command(h, "replay gone0001")
    await h.sim("POST", "/sim/stall", {"seconds": 30, "status": 503})
    async with h.svc.sessions.begin() as s:
        from store.models import Run

        run = await s.get(Run, "run_gone0001")
        run.data = {k: v for k, v in (run.data or {}).items() if k != "prompt"}
    try:
        await h.slack.click(choice, "run_replay_changes")
        shown = await h.wait_for(
            lambda: next((v for v in h.slack.open_views(USER) if v.title == "Not replayed"), None),
            timeout=30,
            what="the error in the modal",
        )
        assert "platform" in json.dumps(shown.blocks).lower()
    finally:
        await h.sim("POST", "/sim/stall", {"seconds": 0})


@pytest.fixture
def settings_overrides(request):
    return getattr(request, "param", {})


@pytest.mark.parametrize("settings_overrides", [{"slack_kwargs": {"response_url_seconds": 1.0}}], indirect=True)
async def test_a_reject_submitted_after_the_response_url_expired_is_still_answered(harness):
    h = harness
    task, card = await card_of(h, (await gated_run(h))["id"])
    click = await h.slack.click(card, "approval_reject", user_id="U0BEN")
    form = await h.wait_for(lambda: modal_of(h, "U0BEN", "reject_modal"), timeout=20, what="the reject form")
    await asyncio.sleep(1.5)  # the stand-in's clock is scaled: the click's response_url is now past its lifetime
    await h.slack.submit_view(form, {"reason": {"reason_input": "Not this week"}})
    answer = await h.wait_for(
        lambda: next((e for e in h.slack.ephemerals(CHANNEL, user="U0BEN") if "eject" in e.text), None),
        timeout=30,
        what="the answer to the rejection",
    )
    assert answer.source == "api"  # chat.postEphemeral, not the click's response_url
    assert not [p for p in h.slack.response_posts if p.response_url == click.response_url]
    assert all(p.status == 200 for p in h.slack.response_posts)
    assert (await platform_task(h, task.id))["status"] == "rejected"


async def test_no_answer_uses_a_response_url_a_sixth_time(harness):
    h = harness
    result = await h.slack.send_command("help", user_id=USER, channel_id="C0GENERAL")
    url = result.response_url
    body = {"user_id": USER, "channel_id": "C0GENERAL", "response_url": url}
    first, second = Responder.for_request(h.svc, body), Responder.for_request(h.svc, body)
    for i in range(4):
        await first(text=f"answer {i}")
    for i in range(4, 7):  # another answerer of the same request (the error handler, say) shares the count
        await second(text=f"answer {i}")
    posts = [p for p in h.slack.response_posts if p.response_url == url]
    assert [(p.body["text"], p.status) for p in posts] == [(f"answer {i}", 200) for i in range(5)]
    by_api = [e.text for e in h.slack.ephemerals("C0GENERAL", USER) if e.source == "api"]
    assert by_api == ["answer 5", "answer 6"]


@pytest.mark.parametrize("settings_overrides", [{"SLACK_RESPONSE_URL_SECONDS": 0.5}], indirect=True)
async def test_an_answer_later_than_slack_allows_goes_by_the_web_api(harness):
    h = harness
    result = await h.slack.send_command("help", user_id=USER, channel_id="C0GENERAL")
    late = Responder.for_request(
        h.svc, {"user_id": USER, "channel_id": "C0GENERAL", "response_url": result.response_url}
    )
    await asyncio.sleep(0.8)
    await late(text="a late answer")
    assert not [p for p in h.slack.response_posts if p.response_url == result.response_url]
    assert [e.text for e in h.slack.ephemerals("C0GENERAL", USER) if e.source == "api"] == ["a late answer"]


RETRIES = {"event_retry_delays": (0.3, 0.3, 0.3)}


@pytest.mark.parametrize(
    "settings_overrides",
    [{"slack_kwargs": RETRIES}, {"slack_kwargs": RETRIES, "SLACK_APP_TOKEN": APP_TOKEN}],
    indirect=True,
    ids=["http", "socket"],
)
async def test_an_event_slack_delivers_again_is_handled_once(harness):
    h = harness
    via = "socket" if h.settings.SLACK_APP_TOKEN else "http"
    if via == "socket":
        await h.slack.wait_for_socket(timeout=15)
    h.slack.ack_timeout = 0.001  # Slack gives up on the first delivery before the bot can answer it
    first = await h.slack.send_event({"type": "app_home_opened", "user": "U0ANA", "tab": "home"}, via=via)
    h.slack.ack_timeout = 3.0
    assert not first.ok
    await h.wait_for(
        lambda: any(i.retry_num == 1 and i.ok for i in h.slack.interactions), timeout=20, what="the redelivery"
    )
    await h.wait_for(lambda: h.slack.home("U0ANA"), timeout=20, what="the App Home")
    await asyncio.sleep(1.0)  # room for a second, wrong, publication
    assert len(h.slack.calls_to("views.publish")) == 1
    assert [i.retry_num for i in h.slack.interactions if i.kind == "event"] == [0, 1]


@pytest.mark.parametrize("settings_overrides", [{"slack_kwargs": {"trigger_seconds": 0.0}}], indirect=True)
async def test_a_modal_slack_would_not_open_is_explained_to_the_clicker(harness):
    h = harness
    task, card = await card_of(h, (await gated_run(h))["id"])
    await h.slack.click(card, "approval_reject", user_id="U0BEN")  # the trigger is dead on arrival
    answer = await h.wait_for(
        lambda: next((e for e in h.slack.ephemerals(CHANNEL, user="U0BEN") if "did not open" in e.text), None),
        timeout=20,
        what="the explanation",
    )
    assert "expired_trigger_id" in answer.text and "again" in answer.text
    assert h.slack.open_views("U0BEN") == [] and (await platform_task(h, task.id))["status"] == "pending"


async def test_a_click_delivered_twice_opens_one_modal(harness):
    h = harness
    task, card = await card_of(h, (await gated_run(h))["id"])
    click = await h.slack.click(card, "approval_reject", user_id="U0BEN")
    again = await h.slack._deliver("block_actions", click.payload, "http")  # the same signed body, again
    assert click.ok and again.ok
    await h.wait_for(lambda: modal_of(h, "U0BEN", "reject_modal"), timeout=20, what="the reject form")
    await asyncio.sleep(1.0)  # room for a wrong second modal or answer
    assert [c.error for c in h.slack.calls_to("views.open")] == [None, "exchanged_trigger_id"]
    assert len(h.slack.open_views("U0BEN")) == 1
    assert not [e for e in h.slack.ephemerals(CHANNEL, user="U0BEN") if "did not open" in e.text]


@pytest.mark.parametrize("settings_overrides", [{"slack_kwargs": {"response_url_seconds": 0.5}}], indirect=True)
async def test_a_response_url_slack_refused_is_not_tried_again(harness):
    h = harness
    result = await h.slack.send_command("help", user_id=USER, channel_id="C0GENERAL")
    await asyncio.sleep(0.8)  # Slack's clock (scaled) has run out; the bot's setting still allows 30 minutes
    answer = Responder.for_request(
        h.svc, {"user_id": USER, "channel_id": "C0GENERAL", "response_url": result.response_url}
    )
    await answer(text="first")
    await answer(text="second")
    posts = [p for p in h.slack.response_posts if p.response_url == result.response_url]
    assert [(p.status, p.error) for p in posts] == [(404, "expired_url")]
    assert [e.text for e in h.slack.ephemerals("C0GENERAL", USER) if e.source == "api"] == ["first", "second"]
