"""How a person is answered under Slack's rules, end to end (the real bot, the reference platform and the strict
Slack stand-in): modals open at once with a "Loading…" view even while the platform takes 5 s, answers after a
modal go by the Web API rather than a stale response_url, no response_url is used a sixth time, and an event
Slack delivers again is acted on once."""

from __future__ import annotations

import json

import pytest

from tests.test_approvals import card_of, gated_run, platform_task
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
