"""Requests nobody should trust: unsigned bodies are never parsed, a signed request delivered again acts once,
ids that are not people are not people, and events redelivered by Slack are acted on once."""

from __future__ import annotations

import asyncio
import json
import logging
from urllib.parse import parse_qs

import pytest
from aiohttp import web

from tests.test_alerts import wait_for_alert
from tests.test_commands import failed_run, running_run
from tests.test_security import (
    audit_rows,
    command_body,
    interactive_body,
    platform_writes,
    post_slack,
    refusals,
    slack_headers,
)

FORM = "application/x-www-form-urlencoded"


def replay_click(h, run_id: str, *, user_id: str = "U0SANDBOX", trigger: str = "7.7.7") -> dict:
    return {
        "type": "block_actions",
        "team": {"id": "T0SANDBOX", "domain": "sandbox"},
        "user": {"id": user_id, "team_id": "T0SANDBOX"},
        "api_app_id": h.slack.app_id,
        "trigger_id": trigger,
        "channel": {"id": "C0ALERTS"},
        "container": {"type": "message", "channel_id": "C0ALERTS"},
        "actions": [
            {"action_id": "run_replay", "block_id": "b", "type": "button", "value": run_id, "action_ts": "1.5"}
        ],
    }


def replays(writes: dict[str, int]) -> int:
    return sum(n for path, n in writes.items() if path.endswith("/replay"))


@pytest.mark.parametrize(
    "body, content_type",
    [
        ("[" * 50_000 + "]" * 50_000, "application/json"),
        ("payload=" + "%5B" * 50_000, FORM),
        ("\x00\xff not json, not a form \x1b[2K", "application/octet-stream"),
        ("", FORM),
    ],
)
async def test_unsigned_bodies_are_refused_before_anything_parses_them(harness, caplog, body, content_type):
    h = harness
    caplog.set_level(logging.INFO)
    async with h.http.post(
        f"{h.bot_url}/slack/events",
        data=body.encode("utf-8", "surrogateescape"),
        headers={"Content-Type": content_type, "X-Slack-Request-Timestamp": "1", "X-Slack-Signature": "v0=00"},
    ) as resp:
        assert resp.status == 401
        assert "invalid_signature" in await resp.text()
    lines = refusals(caplog, "bot.refusals")
    assert len(lines) == 1, lines
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def test_a_body_over_the_limit_is_refused_with_413_before_it_is_read(harness, caplog):
    h = harness
    caplog.set_level(logging.INFO)
    huge = "payload=" + "x" * (h.settings.WEBHOOK_MAX_BYTES + 10)
    async with h.http.post(f"{h.bot_url}/slack/events", data=huge.encode(), headers=slack_headers(huge, FORM)) as resp:
        assert resp.status == 413
    assert len(refusals(caplog, "bot.refusals")) == 1
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_one_signed_click_delivered_again_or_five_times_at_once_replays_once(any_harness):
    h = any_harness
    run = await h.start_run("wf_invoices", "fail")
    await wait_for_alert(h, run["id"])
    before = replays(await platform_writes(h))
    body = interactive_body(replay_click(h, run["id"]))
    assert await post_slack(h, body, slack_headers(body, FORM)) == 200
    assert await post_slack(h, body, slack_headers(body, FORM)) == 200  # a client retry: the same body
    await h.wait_for(lambda: audit_rows(h, action="replay", result="ok"), timeout=20, what="the replay audited")

    run2 = await h.start_run("wf_invoices", "fail")
    await wait_for_alert(h, run2["id"])
    burst = interactive_body(replay_click(h, run2["id"], trigger="8.8.8"))
    statuses = await asyncio.gather(*(post_slack(h, burst, slack_headers(burst, FORM)) for _ in range(5)))
    assert statuses == [200] * 5
    await h.wait_for(
        lambda: audit_rows(h, action="replay", target=run2["id"], result="ok"),
        timeout=20,
        what="the second run's replay audited",
    )
    await h.settled()
    assert replays(await platform_writes(h)) - before == 2
    assert len(await audit_rows(h, action="replay")) == 2


async def test_an_event_redelivered_by_slack_is_acted_on_once(harness):
    h = harness

    def event(event_id: str, user: str) -> str:
        return json.dumps(
            {
                "type": "event_callback",
                "team_id": "T0SANDBOX",
                "api_app_id": h.slack.app_id,
                "event_id": event_id,
                "event_time": 1,
                "event": {"type": "app_home_opened", "user": user, "channel": "D0X", "tab": "home"},
            }
        )

    def publishes(user: str) -> list:
        return [c for c in h.slack.calls if c.method == "views.publish" and c.args.get("user_id") == user]

    async def quiet() -> None:  # work spawned after the acknowledgement has ended, and its posts delivered
        await h.wait_for(lambda: not h.svc.background, timeout=20, what="spawned work to end")
        await h.settled()

    body = event("Ev0REDELIVERED", "U0ANA")
    assert await post_slack(h, body, slack_headers(body, "application/json")) == 200
    await h.wait_for(lambda: publishes("U0ANA"), timeout=20, what="App Home published")
    await quiet()
    again = {**slack_headers(body, "application/json"), "X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "timeout"}
    assert await post_slack(h, body, again) == 200
    await quiet()
    assert len(publishes("U0ANA")) == 1
    # Another event of the same kind is acted on: the dedupe is by event_id, not by kind.
    other = event("Ev0ANOTHER", "U0BEN")
    assert await post_slack(h, other, slack_headers(other, "application/json")) == 200
    await h.wait_for(lambda: publishes("U0BEN"), timeout=20, what="the other event's publish")


@pytest.mark.parametrize("user", [{"id": "S0APPROVERS"}, {"id": "U0ANA<!channel>"}, "U0ANA", None])
async def test_a_click_whose_user_is_not_a_person_does_nothing(harness, caplog, user):
    h = harness
    caplog.set_level(logging.INFO)
    run = await h.start_run("wf_invoices", "fail")
    await wait_for_alert(h, run["id"])
    click = replay_click(h, run["id"])
    if user is None:
        click.pop("user")
    else:
        click["user"] = user
    body = interactive_body(click)
    before = await platform_writes(h)
    assert await post_slack(h, body, slack_headers(body, FORM)) == 200
    await h.settled()
    assert await platform_writes(h) == before
    assert await audit_rows(h, action="replay") == []
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.refusals"]
    assert len(lines) == 1 and "acknowledged and not acted on" in lines[0], lines
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("settings_overrides", [{"SLACK_TEAM_ID": "T0SANDBOX"}])
@pytest.mark.parametrize("team", ["missing", "user_team_elsewhere"])
async def test_with_a_team_set_a_request_without_ours_everywhere_is_refused(harness, team):
    h = harness
    run = await h.start_run("wf_invoices", "fail")
    await wait_for_alert(h, run["id"])
    click = replay_click(h, run["id"])
    if team == "missing":
        click.pop("team")
        click["user"].pop("team_id")
    else:
        click["user"]["team_id"] = "T0ELSEWHERE"
    body = interactive_body(click)
    before = await platform_writes(h)
    assert await post_slack(h, body, slack_headers(body, FORM)) == 401
    await h.settled()
    assert await platform_writes(h) == before


async def test_two_operators_pressing_replay_start_one_run_and_the_second_is_told(any_harness):
    h = any_harness
    run = await h.start_run("wf_invoices", "fail")
    alert = await wait_for_alert(h, run["id"])
    before = replays(await platform_writes(h))
    assert alert is not None
    presses = [
        interactive_body(replay_click(h, run["id"], user_id=u, trigger=t))
        for u, t in (("U0SANDBOX", "4.4.4"), ("U0ANA", "5.5.5"))
    ]
    statuses = await asyncio.gather(*(post_slack(h, b, slack_headers(b, FORM)) for b in presses))
    assert statuses == [200, 200]

    def told():
        texts = [e.text or "" for e in h.slack.ephemerals("C0ALERTS")] + [
            str(p.body) for p in h.slack.response_posts if p.status == 200
        ]
        return [t for t in texts if "It was not replayed again" in t or "it is not replayed twice" in t]

    answer = await h.wait_for(told, timeout=20, what="the second operator told who replayed it")
    assert "<@U0SANDBOX>" in answer[0] or "<@U0ANA>" in answer[0]
    await h.settled()
    assert replays(await platform_writes(h)) - before == 1
    assert len(await audit_rows(h, action="replay", result="ok")) == 1
    assert len(await audit_rows(h, action="replay", result="duplicate")) == 1


@pytest.mark.parametrize("settings_overrides", [{"DEDUPE_REPLAY_WINDOW_SECONDS": 0}])
async def test_with_the_replay_window_off_two_replays_start_two_runs(harness):
    h = harness
    run = await h.start_run("wf_invoices", "fail")
    alert = await wait_for_alert(h, run["id"])
    before = replays(await platform_writes(h))
    await h.slack.click(alert, "run_replay", user_id="U0SANDBOX")
    await h.wait_for(lambda: audit_rows(h, action="replay", result="ok"), timeout=20, what="the first replay")
    # The alert shows the replay now (its Replay button is gone): the second press comes from an older copy.
    body = interactive_body(replay_click(h, run["id"], user_id="U0ANA", trigger="6.6.6"))
    assert await post_slack(h, body, slack_headers(body, FORM)) == 200
    await h.wait_for(
        lambda: _count(audit_rows(h, action="replay", result="ok"), 2), timeout=20, what="the second replay"
    )
    assert replays(await platform_writes(h)) - before == 2


async def _count(rows, n):
    return len(await rows) == n


async def test_answers_never_go_to_a_response_url_outside_slack(harness, aiohttp_server):
    h = harness
    seen = []

    async def record(request):
        seen.append(await request.text())
        return web.json_response({"ok": True})

    elsewhere = web.Application()
    elsewhere.router.add_post("/{tail:.*}", record)
    evil = await aiohttp_server(elsewhere)
    run = await h.start_run("wf_invoices", "fail")
    await wait_for_alert(h, run["id"])
    click = replay_click(h, run["id"], user_id="U0ANA", trigger="9.9.9")
    click["actions"][0]["action_id"] = "run_show"
    click["response_url"] = str(evil.make_url("/hooks/answer"))
    body = interactive_body(click)
    assert await post_slack(h, body, slack_headers(body, FORM)) == 200
    shown = await h.wait_for(
        lambda: [e for e in h.slack.ephemerals("C0ALERTS", user="U0ANA") if run["id"] in json.dumps(e.blocks or [])],
        timeout=20,
        what="the answer as an ephemeral message by the Web API",
    )
    assert shown and seen == []


async def test_a_response_url_is_used_at_most_five_times_then_the_web_api_answers(harness):
    h = harness
    from bot.responder import Responder

    result = await h.slack.send_command("help", user_id="U0ANA", channel_id="C0ALERTS")
    url = result.response_url
    responder = Responder(svc=h.svc, user="U0ANA", channel="C0ALERTS", response_url=url)
    for i in range(7):
        await responder(text=f"answer {i}")
    through_url = [p for p in h.slack.response_posts if p.response_url == url]
    assert len(through_url) == 5 and all(p.status == 200 for p in through_url)
    by_api = [c for c in h.slack.calls if c.method == "chat.postEphemeral" and "answer" in str(c.args.get("text"))]
    assert [c.args["text"] for c in by_api] == ["answer 5", "answer 6"]


async def test_share_posts_only_escaped_text_and_names_who_shared_it(harness):
    h = harness
    typed = 'failed --code "<!channel> <https://evil.example|Click>" --share'
    result = await h.slack.send_command(typed, user_id="U0CAROL", channel_id="C0GENERAL")
    assert result.ok and result.body["response_type"] == "in_channel"
    posted = await h.wait_for(
        lambda: [m for m in h.slack.messages("C0GENERAL") if "Shared by" in json.dumps(m.blocks or [])],
        timeout=20,
        what="the shared answer in the channel",
    )
    everything = (posted[0].text or "") + json.dumps(posted[0].blocks)
    assert "<!channel>" not in everything and "<https://evil.example" not in everything
    assert "&lt;!channel&gt;" in everything  # shown, as text
    assert "Shared by <@U0CAROL>" in everything


@pytest.mark.parametrize("typed", ["audit --share", "approvals --share", "subscriptions --share", "help --share"])
async def test_what_must_not_be_shared_is_refused_in_words_and_posts_nothing(harness, typed):
    h = harness
    before = len(h.slack.messages("C0GENERAL"))
    result = await h.slack.send_command(typed, user_id="U0ANA", channel_id="C0GENERAL")
    assert result.ok and result.body.get("response_type", "ephemeral") == "ephemeral"
    assert "`--share` posts a read-only answer" in result.body["text"]
    await h.settled()
    assert len(h.slack.messages("C0GENERAL")) == before


async def test_a_malformed_click_is_acknowledged_and_the_person_told_in_words(harness, caplog):
    h = harness
    caplog.set_level(logging.INFO)
    run = await h.start_run("wf_invoices", "fail")
    await wait_for_alert(h, run["id"])
    click = replay_click(h, run["id"], user_id="U0ANA", trigger="1.9.9")
    click["actions"][0]["action_id"] = 12345  # a field of the wrong type
    before = await platform_writes(h)
    body = interactive_body(click)
    assert await post_slack(h, body, slack_headers(body, FORM)) == 200
    told = await h.wait_for(
        lambda: [e for e in h.slack.ephemerals("C0ALERTS", user="U0ANA") if "could not read that request" in e.text],
        timeout=20,
        what="the person told in words",
    )
    assert "actions[0].action_id" in told[0].text
    await h.settled()
    assert await platform_writes(h) == before
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def _post_command(h, body: str) -> dict:
    """POST a signed `/runs` form body; the acknowledgement's JSON ({} when it is empty)."""
    async with h.http.post(f"{h.bot_url}/slack/events", data=body.encode(), headers=slack_headers(body, FORM)) as resp:
        assert resp.status == 200
        raw = await resp.read()
    return json.loads(raw) if raw.strip() else {}


def _response_url(body: str) -> str:
    return parse_qs(body)["response_url"][0]


async def test_a_slash_command_that_acts_delivered_again_acts_once_and_one_that_reads_is_answered_again(harness):
    h = harness
    await running_run(h, "run_dupPause1")
    await failed_run(h, "run_dupFail01")
    await h.sim("POST", "/sim/webhooks", {"mode": "suppress", "count": -1})
    await h.start_run("wf_invoices", "fail", status="failed", id="run_dupUnseen")  # the store never hears of it
    before = await platform_writes(h)

    # Acting: a pause delivered twice (a client retry of the same signed body) pauses once and answers once.
    pause = command_body(h, "pause dupPause1")
    assert await _post_command(h, pause) == {}
    assert await _post_command(h, pause) == {}
    await h.wait_for(lambda: _audited(h, "pause"), timeout=20, what="the pause audited")
    await h.wait_for(lambda: not h.svc.background, timeout=20, what="spawned work to end")
    await h.settled()
    assert [a.result for a in await audit_rows(h, action="pause")] == ["ok"]
    writes = await platform_writes(h)
    assert sum(n - before.get(path, 0) for path, n in writes.items() if path.endswith("/pause")) == 1
    assert len(h.slack.responses(_response_url(pause))) == 1

    # Reading: `/runs failed` delivered twice is answered twice, in each acknowledgement.
    failed = command_body(h, "failed")
    answers = [await _post_command(h, failed), await _post_command(h, failed)]
    assert all("run_dupFail01" in json.dumps(a) for a in answers), answers

    # Reading, answered through response_url (the store lacks the run): delivered twice, posted once.
    show = command_body(h, "show dupUnseen")
    assert await asyncio.gather(_post_command(h, show), _post_command(h, show)) == [{}, {}]
    posted = await h.wait_for(lambda: h.slack.responses(_response_url(show)), timeout=20, what="the show answer")
    await h.wait_for(lambda: not h.svc.background, timeout=20, what="spawned work to end")
    await h.settled()
    assert "run_dupUnseen" in json.dumps(posted[0]) and len(h.slack.responses(_response_url(show))) == 1


async def _audited(h, action: str) -> list:
    return [a for a in await audit_rows(h, action=action) if a.result == "ok"]
