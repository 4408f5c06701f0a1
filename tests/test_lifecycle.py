"""Who handles a failure, end to end (issue 16): I'm on it, Resolve with a note, and Recovered by a replay
following replay_of chains; on alerts and storm cards; every change audited; clicks through the Slack
stand-in, failures through signed webhooks."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from store.models import AlertLifecycle, AuditEntry
from tests.test_alerts import blocks_text, buttons, settled, wait_for_alert


@pytest.fixture
def settings_overrides():
    return {"STORM_THRESHOLD": 4, "STORM_WINDOW_SECONDS": 30.0}


def run_data(run_id: str, status: str, *, replay_of: str | None = None, at: datetime | None = None) -> dict:
    """A platform run as its webhook carries it: failed at step 3 with a provider error, or completed."""
    at = at or datetime.now(timezone.utc)
    failed = status == "failed"
    step = {
        "id": "step_3",
        "index": 2,
        "name": "Summarise with LLM",
        "type": "llm",
        "status": status,
        "error": (
            {
                "code": "provider_rate_limited",
                "message": "429 Too Many Requests",
                "provider": "openai",
                "provider_status": 429,
                "retryable": True,
            }
            if failed
            else None
        ),
    }
    return {
        "id": run_id,
        "workflow": {"id": "wf_invoices", "name": "Invoice triage"},
        "status": status,
        "created_at": (at - timedelta(seconds=40)).isoformat(),
        "started_at": (at - timedelta(seconds=39)).isoformat(),
        "completed_at": at.isoformat(),
        "updated_at": at.isoformat(),
        "duration_ms": 39000,
        "trigger": {"type": "api", "payload": {}},
        "progress": {"total_steps": 5, "completed_steps": 2 if failed else 5},
        "failed_step_id": "step_3" if failed else None,
        "replay_of": replay_of,
        "steps": [step],
    }


async def fail(h, run_id: str, **kw):
    assert (await h.post_webhook("run.failed", {"run": run_data(run_id, "failed", **kw)})).status == 200
    return await wait_for_alert(h, run_id)


def card(h, message):
    return h.slack.message(message.channel, message.ts)


async def audit_of(h, target: str) -> list[tuple[str, str, str]]:
    async with h.svc.sessions() as s:
        rows = await s.scalars(select(AuditEntry).where(AuditEntry.target == target).order_by(AuditEntry.id))
        return [(r.user_id, r.action, r.result) for r in rows]


async def test_people_say_they_are_on_it_a_second_joins_and_a_click_again_leaves(any_harness):
    h = any_harness
    alert = await fail(h, "run_OnIt00001")
    assert "is on it" not in blocks_text(alert)

    assert (await h.slack.click(alert, "alert_on_it", user_id="U0BEN")).ok  # not an operator: anyone may
    await h.wait_for(
        lambda: "<@U0BEN> is on it since <!date^" in blocks_text(card(h, alert)), timeout=20, what="Ben on it"
    )
    assert (await h.slack.click(alert, "alert_on_it", user_id="U0ANA")).ok
    await h.wait_for(
        lambda: "<@U0ANA> (since" in blocks_text(card(h, alert)) and "are on it" in blocks_text(card(h, alert)),
        timeout=20,
        what="Ana joining Ben",
    )
    assert (await h.slack.click(alert, "alert_on_it", user_id="U0BEN")).ok  # again: Ben leaves
    await h.wait_for(
        lambda: "<@U0ANA> is on it since" in blocks_text(card(h, alert)) and "U0BEN" not in blocks_text(card(h, alert)),
        timeout=20,
        what="Ben leaving",
    )
    await settled(h)
    current = card(h, alert)
    assert "Invoice triage failed" in current.blocks[0]["text"]["text"]  # on it is not settled
    assert [b["action_id"] for b in buttons(current)] == [
        "run_replay",
        "run_replay_changes",
        "alert_on_it",
        "alert_resolve",
        "run_show",
    ]
    assert await audit_of(h, "run_OnIt00001") == [
        ("U0BEN", "alert_on_it", "ok"),
        ("U0ANA", "alert_on_it", "ok"),
        ("U0BEN", "alert_off_it", "ok"),
    ]
    assert (await h.slack.click(alert, "alert_on_it", user_id="U0ANA")).ok  # the last one leaves: open again
    await h.wait_for(lambda: "is on it" not in blocks_text(card(h, alert)), timeout=20, what="nobody on it")
    async with h.svc.sessions() as s:
        assert await s.get(AlertLifecycle, "run_OnIt00001") is None


async def test_resolve_is_for_operators_and_takes_an_optional_note(any_harness):
    h = any_harness
    alert = await fail(h, "run_Resolve001")

    assert (await h.slack.click(alert, "alert_resolve", user_id="U0BEN")).ok  # an approver, not an operator
    refusal = await h.wait_for(
        lambda: [v for v in h.slack.open_views("U0BEN") if "Only operators may resolve" in json.dumps(v.blocks)],
        timeout=20,
        what="the refusal in the modal",
    )
    assert refusal[0].title == "Not resolved" and "U0SANDBOX" in json.dumps(refusal[0].blocks)
    assert [v.callback_id for v in h.slack.open_views("U0BEN")] == ["modal_error"]  # no form to submit
    assert not [e for e in h.slack.ephemerals("C0ALERTS", "U0BEN") if "Only operators" in e.text]
    assert await audit_of(h, "run_Resolve001") == [("U0BEN", "alert_resolve", "refused")]

    assert (await h.slack.click(alert, "alert_resolve", user_id="U0ANA")).ok
    form = await h.wait_for(
        lambda: next((v for v in h.slack.open_views("U0ANA") if v.callback_id == "alert_resolve_modal"), None),
        timeout=20,
        what="the Resolve form",
    )
    assert form.callback_id == "alert_resolve_modal"
    note = "Customer <cancelled> the *invoice*; nothing to replay"
    result = await h.slack.submit_view(form, {"note": {"value": note}}, user_id="U0ANA")
    assert result.ok, result
    await h.wait_for(
        lambda: "Invoice triage resolved" in card(h, alert).blocks[0]["text"]["text"],
        timeout=20,
        what="the card to say resolved",
    )
    await settled(h)
    text = blocks_text(card(h, alert))
    assert "Resolved by <@U0ANA>" in text
    assert "Customer &lt;cancelled&gt;" in text and "<cancelled>" not in text  # a person's words are data
    assert [b["action_id"] for b in buttons(card(h, alert))] == ["run_show"]
    assert not any(
        el["type"] == "overflow" for b in card(h, alert).blocks if b["type"] == "actions" for el in b["elements"]
    )
    assert await audit_of(h, "run_Resolve001") == [
        ("U0BEN", "alert_resolve", "refused"),
        ("U0ANA", "alert_resolve", "ok"),
    ]


@pytest.mark.parametrize(
    "settings_overrides",
    [{"STORM_THRESHOLD": 4, "OPERATORS": ["S0ONCALL"], "USERGROUP_CACHE_SECONDS": 0}],
)
async def test_resolve_and_mute_forms_open_while_the_permission_check_is_slow(harness):
    """Operators are a user group and Slack rate-limits reading it (Retry-After 4 s, past the click's 3 s
    trigger): the forms open at once as "Loading…" and become the forms once the check is done."""
    h = harness
    alert = await fail(h, "run_SlowForm01")
    await settled(h)
    for action_id, value, form_id in (
        ("alert_resolve", None, "alert_resolve_modal"),
        ("alert_more", "wf|run_SlowForm01", "alert_mute_modal"),
    ):
        before = len(h.slack.calls_to("usergroups.users.list"))
        h.slack.fail_next(429, count=1, retry_after=4, method="usergroups.users.list")
        assert (await h.slack.click(alert, action_id, user_id="U0ANA", value=value)).ok
        loading = (await h.wait_for(lambda: h.slack.open_views("U0ANA"), timeout=20, what="a modal"))[0]
        assert loading.callback_id == "loading_modal" and "Loading" in json.dumps(loading.blocks)
        form = await h.wait_for(
            lambda: next((v for v in h.slack.open_views("U0ANA") if v.callback_id == form_id), None),
            timeout=30,
            what=f"the form of {action_id}",
        )
        assert form.id == loading.id  # one modal, filled by views.update
        assert len(h.slack.calls_to("usergroups.users.list")) >= before + 2  # refused once, then read
        assert not [e for e in h.slack.ephemerals("C0ALERTS", "U0ANA") if "did not open" in e.text]
        await h.slack.close_view(form, user_id="U0ANA")
    assert all(c.ok for c in h.slack.calls_to("views.open"))


async def test_a_replay_of_a_replay_that_completes_recovers_the_whole_chain(any_harness):
    h = any_harness
    first = await fail(h, "run_ChainA0001")
    second = await fail(h, "run_ChainB0001", replay_of="run_ChainA0001")
    assert (await h.slack.click(first, "alert_on_it", user_id="U0BEN")).ok
    await h.wait_for(lambda: "<@U0BEN> is on it" in blocks_text(card(h, first)), timeout=20, what="Ben on it")

    done = run_data("run_ChainC0001", "completed", replay_of="run_ChainB0001")
    assert (await h.post_webhook("run.completed", {"run": done})).status == 200
    for message in (first, second):
        await h.wait_for(
            lambda m=message: "Invoice triage recovered" in card(h, m).blocks[0]["text"]["text"],
            timeout=20,
            what=f"{message.ts} to say recovered",
        )
    await settled(h)
    # Nothing left to do but look; B, itself a replay of A, can still be compared with its original.
    for message, left in ((first, ["run_show"]), (second, ["run_show", "run_diff"])):
        current = card(h, message)
        assert current.blocks[0]["text"]["text"].startswith("✅")
        # A's own replay (B) failed: a line names the run that recovered it. B's replay is C: its line says so once.
        c_link = f"<{h.platform.run_url('run_ChainC0001')}|run_ChainC0001>"
        said = f"Recovered by {c_link}" if message is first else f"as {c_link}: the replay succeeded"
        assert said in blocks_text(current)
        assert blocks_text(current).count(c_link) == 1
        assert [b["action_id"] for b in buttons(current)] == left
        assert "is on it" not in blocks_text(current)  # recovered wins: the states never contradict
    assert ("runbot", "alert_recovered", "ok") in await audit_of(h, "run_ChainA0001")
    assert ("runbot", "alert_recovered", "ok") in await audit_of(h, "run_ChainB0001")
    # The same completion delivered again changes nothing.
    assert (await h.post_webhook("run.completed", {"run": done})).status == 200
    await settled(h)
    assert [a for a in await audit_of(h, "run_ChainA0001") if a[1] == "alert_recovered"] == [
        ("runbot", "alert_recovered", "ok")
    ]


async def test_a_storm_card_offers_on_it_and_resolve(harness):
    h = harness
    for n in range(6):
        await h.post_webhook("run.failed", {"run": run_data(f"run_Storm{n:05d}", "failed")})

    def storm_cards():
        return [m for m in h.slack.messages("C0ALERTS", top_level=True) if "with provider_rate_limited over" in m.text]

    storm = (await h.wait_for(storm_cards, timeout=30, what="a storm card"))[0]
    await settled(h)
    storm = card(h, storm)
    assert [b["action_id"] for b in buttons(storm)] == ["alert_on_it", "alert_resolve", "run_show"]
    assert (await h.slack.click(storm, "alert_on_it", user_id="U0BEN")).ok
    await h.wait_for(lambda: "<@U0BEN> is on it" in blocks_text(card(h, storm)), timeout=20, what="Ben on the storm")
    assert (await h.slack.click(storm, "alert_resolve", user_id="U0ANA")).ok
    form = await h.wait_for(
        lambda: next((v for v in h.slack.open_views("U0ANA") if v.callback_id == "alert_resolve_modal"), None),
        timeout=20,
        what="the Resolve form",
    )
    assert (await h.slack.submit_view(form, {"note": {"value": "provider quota raised"}}, user_id="U0ANA")).ok
    await h.wait_for(
        lambda: card(h, storm).blocks[0]["text"]["text"].startswith("☑️"), timeout=20, what="the storm resolved"
    )
    text = blocks_text(card(h, storm))
    assert "Resolved by <@U0ANA>" in text and "provider quota raised" in text
    assert [b["action_id"] for b in buttons(card(h, storm))] == ["run_show"]
    value = json.dumps(storm.blocks)
    assert "storm:" in value


async def test_runs_failed_marks_who_handles_each_run_and_open_lists_the_rest(any_harness):
    h = any_harness
    from tests.test_commands import command, shown

    recovered = await fail(h, "run_ListRec001")
    resolved = await fail(h, "run_ListRes001")
    on_it = await fail(h, "run_ListOn0001")
    await fail(h, "run_ListOpen01")
    done = run_data("run_ListRecOk1", "completed", replay_of="run_ListRec001")
    assert (await h.post_webhook("run.completed", {"run": done})).status == 200
    assert (await h.slack.click(on_it, "alert_on_it", user_id="U0BEN")).ok
    assert (await h.slack.click(resolved, "alert_resolve", user_id="U0ANA")).ok
    form = await h.wait_for(
        lambda: next((v for v in h.slack.open_views("U0ANA") if v.callback_id == "alert_resolve_modal"), None),
        timeout=20,
        what="the Resolve form",
    )
    assert (await h.slack.submit_view(form, {}, user_id="U0ANA")).ok  # the note is optional
    for message, words in ((recovered, "recovered"), (resolved, "resolved")):
        await h.wait_for(lambda m=message, w=words: w in card(h, m).blocks[0]["text"]["text"], timeout=20, what=words)
    await h.wait_for(lambda: "<@U0BEN> is on it" in blocks_text(card(h, on_it)), timeout=20, what="Ben on it")

    lines = {
        line.split("|", 1)[1].split(">", 1)[0]: line
        for line in shown(await command(h, "failed --limit 20")).replace("\\n", "\n").split("\n")
        if "run_List" in line and "|" in line
    }
    assert "recovered by `run_ListRecOk1`" in lines["run_ListRec001"]
    assert "resolved by <@U0ANA>" in lines["run_ListRes001"]
    assert "<@U0BEN> on it" in lines["run_ListOn0001"]
    assert "recovered" not in lines["run_ListOpen01"] and "on it" not in lines["run_ListOpen01"]

    open_only = shown(await command(h, "failed --open"))
    assert "run_ListOpen01" in open_only
    assert not any(rid in open_only for rid in ("run_ListRec001", "run_ListRes001", "run_ListOn0001"))
    assert "--open" in open_only  # the command as understood


@pytest.mark.parametrize(
    "settings_overrides", [{"STORM_THRESHOLD": 4, "ALERT_CONTEXT_RATE_MIN_RUNS": 3, "ALERT_CONTEXT_RATE_RUNS": 50}]
)
async def test_the_context_line_tells_a_new_break_from_a_recurring_one(any_harness):
    h = any_harness
    now = datetime.now(timezone.utc)
    first = await fail(h, "run_CtxFail01", at=now - timedelta(hours=3))
    text = blocks_text(first)
    assert "*New*: first `provider_rate_limited` at step Summarise with LLM in 7 days" in text
    assert "Recurring" not in text and "last succeeded" not in text

    ok = run_data("run_CtxOk0001", "completed", at=now - timedelta(hours=2))
    assert (await h.post_webhook("run.completed", {"run": ok})).status == 200
    await h.wait_for(lambda: _stored(h, "run_CtxOk0001"), timeout=20, what="the success stored")
    second = await fail(h, "run_CtxFail02", at=now)
    text = blocks_text(second)
    assert "*Recurring*: 2nd time in 24 h" in text
    assert f"the workflow last succeeded 2 h ago (<{h.platform.run_url('run_CtxOk0001')}|run_CtxOk0001>)" in text
    assert "The step failed in 67% of the last 3 runs" in text  # 2 of 3 finished runs failed at this step
    assert "New" not in text


async def _stored(h, run_id: str):
    from store.models import Run

    async with h.svc.sessions() as s:
        return await s.get(Run, run_id)


@pytest.mark.parametrize("settings_overrides", [{"ALERT_CONTEXT_LINE": False}])
async def test_the_bench_switch_leaves_the_context_line_out(harness):
    alert = await fail(harness, "run_CtxOff001")
    assert "*New*" not in blocks_text(alert) and "Recurring" not in blocks_text(alert)
    assert "Summarise with LLM" in blocks_text(alert)  # the rest of the alert is all there


async def test_the_right_advice_for_an_expired_approval_and_for_refused_credentials(harness):
    h = harness
    expired = run_data("run_Advice0001", "failed")
    expired["steps"][0]["error"] = {"code": "approval_expired", "message": "nobody decided", "retryable": False}
    assert (await h.post_webhook("run.failed", {"run": expired})).status == 200
    alert = await wait_for_alert(h, "run_Advice0001")
    text = blocks_text(alert)
    assert "Nobody decided the approval in time" in text and "<@U0BEN>" in text  # the approvers mentioned
    assert "change the prompt" not in text
    first = buttons(alert)[0]
    assert (first["action_id"], first.get("style")) == ("run_replay", "primary")

    refused = run_data("run_Advice0002", "failed")
    refused["steps"][0]["error"] = {"code": "auth_failed", "message": "401", "provider": "openai", "retryable": False}
    assert (await h.post_webhook("run.failed", {"run": refused})).status == 200
    alert = await wait_for_alert(h, "run_Advice0002")
    assert "fix them first" in blocks_text(alert)
    assert "run_replay" not in [b["action_id"] for b in buttons(alert)]  # no replay as-is
