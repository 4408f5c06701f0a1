"""`/runs` end to end: signed slash commands and clicks through the Slack stand-in, the bot's real app, the
reference platform behind it. Each test reads as what a user types and what they see."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from bot.commands.grammar import parse
from bot.errors import BadInput
from store.models import AuditEntry, Run, Subscription, Watch

USER = "U0SANDBOX"  # an operator in the harness settings
OUTSIDER = "U0CAROL"  # not an operator


def shown(item) -> str:
    """Everything a person sees of a message: its text and its blocks."""
    return (item.text or "") + json.dumps(item.blocks or [], ensure_ascii=False)


async def stored(h, run_id: str, status: str | None = None) -> Run:
    async def found():
        async with h.svc.sessions() as s:
            run = await s.get(Run, run_id)
            return run if run is not None and (status is None or run.status == status) else None

    return await h.wait_for(found, timeout=15, what=f"{run_id} {status or ''} in the store")


async def failed_run(h, run_id: str, workflow: str = "wf_invoices", code: str = "provider_rate_limited") -> dict:
    run = await h.start_run(workflow, "fail", error_code=code, id=run_id)
    await stored(h, run_id, "failed")
    return run


async def running_run(h, run_id: str, workflow: str = "wf_summaries") -> dict:
    run = await h.start_run(workflow, "succeed", frozen=True, id=run_id)
    await stored(h, run_id, "running")
    return run


async def command(h, text: str, *, user: str = USER, channel: str = "C0GENERAL"):
    """Send `/runs text`; return the acknowledgement's message as the user sees it (None for an answer that
    asks the platform: acknowledged with nothing shown, answered through response_url, found by `later`)."""
    result = await h.slack.send_command(text, user_id=user, channel_id=channel)
    assert result.ok, (result.status, result.error, result.body)
    if not result.body:
        return None
    assert isinstance(result.body, dict) and result.body.get("text"), result.body
    return (
        h.slack.ephemerals(channel, user)[-1]
        if result.body.get("response_type") != "in_channel"
        else h.slack.messages(channel)[-1]
    )


async def later(h, predicate, *, channel: str = "C0GENERAL", user: str = USER, what: str = "an answer"):
    """The first response_url answer (after "Working on it…") for which predicate holds."""

    def find(s):
        for e in s.ephemerals(channel, user):
            if e.source == "response_url" and predicate(shown(e)):
                return e
        return None

    return await h.slack.wait_for(find, timeout=15)


async def audit_rows(h, action: str) -> list[AuditEntry]:
    async with h.svc.sessions() as s:
        return list(
            (await s.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id))).all()
        )


# The parser alone


def test_the_parser_reads_quotes_durations_and_flags():
    cmd = parse('failed --since 24h --workflow "Invoice triage" --limit=5 --share')
    assert cmd.name == "failed" and cmd.flags["workflow"] == "Invoice triage" and cmd.flags["limit"] == 5
    assert cmd.flags["since"].total_seconds() == 86400 and cmd.share
    assert parse("replay 7Kq2 —prompt “Summarise in French”").flags["prompt"] == "Summarise in French"
    assert parse("list RUNNING canceled").args == ["running", "cancelled"]
    assert parse("subscribe Invoice triage --approvals").args == ["Invoice triage"]
    assert parse("").name == "help"
    for bad, words in [
        ("frobnicate", "not a subcommand"),
        ("faild", "Did you mean `failed`"),
        ("failed --since 2x", "not a duration"),
        ("failed --limit 500", "from 1 to 50"),
        ('replay 7Kq2 --prompt "open', "quote is not closed"),
        ("show", "needs a run ID"),
        ("show run_1 run_2", "but not `run_2`"),
        ("failed --colour red", "no `--colour` flag"),
        ("logs --severity loud", "debug, info, warn, error"),
        ("show ../../v1/x", "does not look like"),
    ]:
        with pytest.raises(BadInput) as exc:
            parse(bad)
        assert words in exc.value.message, (bad, exc.value.message)


# Help and bad input, answered in the acknowledgement


async def test_help_and_helpful_errors_come_back_in_the_acknowledgement(harness):
    h = harness
    usage = await command(h, "")
    assert "/runs failed" in shown(usage) and "/runs replay" in shown(usage) and "Examples" in shown(usage)
    one = await command(h, "help replay")
    assert "--prompt" in shown(one) and "/runs failed" not in shown(one)
    unknown = await command(h, "failde --since 24h")
    assert "Did you mean `failed`" in unknown.text
    bad = await command(h, "failed --since yesterday")
    assert "not a duration" in bad.text and "24h" in bad.text
    quote = await command(h, 'replay run_x --prompt "unfinished')
    assert "quote is not closed" in quote.text
    empty = await command(h, "failed --code no_such_code")
    assert "No runs match" in empty.text and "--code no_such_code" in empty.text
    assert "try again in a minute" in shown(empty) and "runbot sync" not in shown(empty), "no server command in chat"


# Reading runs from the store


async def test_failed_lists_newest_first_with_step_code_and_links_and_pages(harness):
    h = harness
    await failed_run(h, "run_fail0001", code="provider_timeout")
    await failed_run(h, "run_fail0002", workflow="wf_summaries", code="content_policy")
    await failed_run(h, "run_fail0003", code="provider_rate_limited")
    await running_run(h, "run_busy0001")

    page = await command(h, "failed")
    text = shown(page)
    assert text.index("run_fail0003") < text.index("run_fail0002") < text.index("run_fail0001")
    assert "run_busy0001" not in text
    assert "provider_timeout" in text and "step 3 of 5" in text
    assert h.settings.run_url("run_fail0003") in text

    by_name = shown(await command(h, 'failed --workflow "invoice triage" --code provider_timeout'))
    assert "run_fail0001" in by_name and "run_fail0003" not in by_name and "run_fail0002" not in by_name
    unknown_wf = await command(h, "failed --workflow nope")
    assert "No workflow `nope`" in unknown_wf.text and "wf_invoices" in unknown_wf.text

    first = await command(h, "failed --limit 2")
    assert "run_fail0003" in shown(first) and "run_fail0001" not in shown(first)
    await h.slack.click(first, "runs_next_page")
    await h.slack.wait_for(lambda s: "run_fail0001" in shown(first))
    assert "run_fail0003" not in shown(first) and "page 2" in shown(first)

    shared = await h.slack.send_command("failed --since 1h --share", channel_id="C0GENERAL")
    assert shared.body["response_type"] == "in_channel"
    assert any("run_fail0002" in shown(m) for m in h.slack.messages("C0GENERAL"))


async def test_list_filters_by_status_including_pending_and_waiting(harness):
    h = harness
    await running_run(h, "run_list0001")
    await failed_run(h, "run_list0002")
    waiting = await h.start_run("wf_refunds", "approval", frozen=True, status="waiting", id="run_list0003")
    await stored(h, waiting["id"], "waiting")
    text = shown(await command(h, "list running waiting"))
    assert "run_list0001" in text and "run_list0003" in text and "run_list0002" not in text
    assert "not a run status" in (await command(h, "list runing")).text


async def test_show_gives_the_timeline_with_the_failed_step_expanded(harness):
    h = harness
    await failed_run(h, "run_show0001", code="provider_rate_limited")
    detail = shown(await command(h, "show show0001"))
    assert "Summarise with LLM" in detail and "provider_rate_limited" in detail and "Retryable: yes" in detail
    assert "Jump to failed step" in detail and "#step-" in detail
    assert "INV-1042" in detail  # the trigger payload
    assert "█" in detail and "run_replay" in detail  # a progress bar and the buttons a failed run allows


async def test_an_ambiguous_prefix_lists_the_candidates(harness):
    h = harness
    await failed_run(h, "run_abc1")
    await failed_run(h, "run_abc2")
    answer = await command(h, "show abc")
    assert "run_abc1" in answer.text and "run_abc2" in answer.text and "several runs" in answer.text
    assert "run_abc2" in shown(await command(h, "show abc2"))


async def test_show_of_a_run_the_store_lacks_asks_the_platform(harness):
    h = harness
    await h.sim("POST", "/sim/webhooks", {"mode": "suppress", "count": -1})
    await h.start_run("wf_invoices", "fail", status="failed", id="run_unseen01")
    ack = await h.slack.send_command("show unseen01", user_id=USER, channel_id="C0GENERAL")
    # Slack cannot replace or delete a slash command's acknowledgement: it shows nothing, so no notice stays.
    assert ack.ok and not (isinstance(ack.body, dict) and (ack.body.get("text") or ack.body.get("blocks")))
    answer = await later(h, lambda t: "run_unseen01" in t)
    assert "Summarise with LLM" in shown(answer)
    assert [e.text for e in h.slack.ephemerals("C0GENERAL", USER)] == [answer.text], "the answer is the one message"
    await command(h, "show unseen01 --share")
    shared = await h.slack.wait_for(
        lambda s: next((m for m in s.messages("C0GENERAL") if "run_unseen01" in shown(m)), None), timeout=15
    )
    assert "Summarise with LLM" in shown(shared)
    await h.slack.wait_for(
        lambda s: not [e for e in s.ephemerals("C0GENERAL", USER) if "Working on it" in e.text], timeout=15
    )
    await command(h, "show run_nothere")
    missing = await later(h, lambda t: "run_nothere" in t)
    assert "No run `run_nothere`" in missing.text


async def test_a_platform_outage_is_reported_in_words(harness):
    h = harness
    await h.sim("POST", "/sim/stall", {"seconds": 30, "status": 503})
    ack = await h.slack.send_command("show run_gone0001", user_id=USER, channel_id="C0GENERAL")
    assert ack.ok and "Working on it" not in str(ack.body)
    answer = await later(h, lambda t: "run_gone0001" in t)
    assert "could not be reached" in answer.text, answer.text
    await h.sim("POST", "/sim/stall", {"seconds": 0})


async def test_logs_ask_the_platform(harness):
    h = harness
    await failed_run(h, "run_logs0001")
    await command(h, "logs --severity error --run logs0001")
    answer = await later(h, lambda t: "Platform logs" in t or "No log entries" in t)
    assert "Platform logs" in shown(answer), shown(answer)
    assert "`run.step.failed`" in shown(answer) and "`run.failed`" not in shown(answer), "one line per failure"
    assert "run_logs0001" in shown(answer)
    assert "not a log event type" in (await command(h, "logs --event run.exploded")).text


# Control


async def test_pause_resume_and_confirmed_cancel_go_to_the_platform(harness):
    h = harness
    await running_run(h, "run_ctl00001")
    await command(h, "pause ctl00001")
    paused = await later(h, lambda t: "paused" in t and "run_ctl00001" in t)
    assert "⏸️" in shown(paused) and "now paused" not in shown(paused), "the answer says paused once"
    assert (await h.api("GET", "/runs/run_ctl00001"))[1]["status"] == "paused"
    await command(h, "resume ctl00001")
    await later(h, lambda t: "now running" in t)

    prompt = await command(h, "cancel ctl00001")
    assert "run_cancel" in shown(prompt)
    assert (await h.api("GET", "/runs/run_ctl00001"))[1]["status"] == "running"  # nothing happens before the click
    await h.slack.click(prompt, "run_cancel")
    await h.slack.wait_for(lambda s: "cancelled run_ctl00001" in shown(prompt))
    assert (await h.api("GET", "/runs/run_ctl00001"))[1]["status"] == "cancelled"
    assert [a.result for a in await audit_rows(h, "cancel")] == ["ok"]


async def test_a_terminal_run_is_refused_at_once_without_the_platform(harness):
    h = harness
    await failed_run(h, "run_done0001")
    await h.sim("POST", "/sim/stats/reset")
    answer = await command(h, "cancel done0001")
    assert "run_done0001 is failed: it can be replayed, not cancelled" in answer.text
    answer = await command(h, "pause done0001")
    assert "not paused" in answer.text
    stats = await h.sim("GET", "/sim/stats")
    assert not any(k.startswith("POST") for k in stats["requests"]), stats
    assert {a.result for a in await audit_rows(h, "pause")} == {"refused"}


async def test_only_operators_control_runs_and_refusals_are_audited(harness):
    h = harness
    await running_run(h, "run_op000001")
    await command(h, "pause op000001", user=OUTSIDER)
    refused = await later(h, lambda t: "Only operators" in t, user=OUTSIDER)
    assert "<@U0SANDBOX>" in refused.text
    assert (await h.api("GET", "/runs/run_op000001"))[1]["status"] == "running"
    answer = await command(h, "subscribe wf_invoices", user=OUTSIDER)
    assert "Only operators" in answer.text
    assert [(a.user_id, a.result) for a in await audit_rows(h, "pause")] == [(OUTSIDER, "refused")]
    assert [(a.user_id, a.result) for a in await audit_rows(h, "subscribe")] == [(OUTSIDER, "refused")]


async def test_replay_as_is_and_with_flags_after_confirmation(harness):
    h = harness
    await failed_run(h, "run_rep00001")
    choice = await command(h, "replay rep00001")
    assert "run_replay" in shown(choice) and "run_replay_changes" in shown(choice)
    await h.slack.click(choice, "run_replay")
    await h.slack.wait_for(lambda s: "replayed" in shown(choice))
    new_id = next(r.id for r in await _replays(h, "run_rep00001"))
    assert new_id in shown(choice)

    confirm = await command(h, 'replay rep00001 --prompt "Summarise in French" --model gpt-4.1')
    assert "Summarise in French" in shown(confirm) and "run_replay_confirmed" in shown(confirm)
    await h.slack.click(confirm, "run_replay_confirmed")
    await h.slack.wait_for(lambda s: "replayed" in shown(confirm))
    runs = (await h.api("GET", "/runs?limit=50"))[1]["data"]
    changed = [r for r in runs if r.get("replay_of") == "run_rep00001" and r.get("model") == "gpt-4.1"]
    assert changed and changed[0]["prompt"] == "Summarise in French"
    trail = shown(await command(h, "audit rep00001"))
    assert "replayed `run_rep00001` with prompt “Summarise in French” and model gpt-4.1" in trail
    assert "prompt=" not in trail and "model=" not in trail

    active = await running_run(h, "run_rep00002")
    await command(h, f"replay {active['id']}")
    refused = await later(h, lambda t: "not replayed" in t)
    assert "run_rep00002 is running" in refused.text


async def _replays(h, run_id: str) -> list[Run]:
    async def found():
        async with h.svc.sessions() as s:
            return list((await s.scalars(select(Run).where(Run.replay_of == run_id))).all())

    return await h.wait_for(found, timeout=15, what=f"a replay of {run_id}")


async def test_replay_with_changes_opens_a_prefilled_modal_and_answers_in_it(harness):
    h = harness
    await failed_run(h, "run_mod00001")
    choice = await command(h, "replay mod00001")
    await h.slack.click(choice, "run_replay_changes")
    modal = await h.slack.wait_for(
        lambda s: next((v for v in s.open_views(USER) if v.callback_id == "replay_modal"), None)
    )
    assert "Classify the invoice" in json.dumps(modal.blocks)  # prefilled with the run's prompt
    result = await h.slack.submit_view(
        modal, {"prompt": {"value": "Classify in one word"}, "model": {"value": "gpt-4.1-nano"}}
    )
    assert result.ok and result.body["response_action"] == "update"
    await h.slack.wait_for(lambda s: s.views[modal.id].title == "Replayed")
    new = (await _replays(h, "run_mod00001"))[0]
    assert new.id in json.dumps(h.slack.views[modal.id].blocks)
    platform_run = (await h.api("GET", f"/runs/{new.id}"))[1]
    assert platform_run["prompt"] == "Classify in one word" and platform_run["model"] == "gpt-4.1-nano"


# Approvals, subscriptions, watches, audit


async def test_approvals_lists_the_pending_tasks(harness):
    h = harness
    run = await h.start_run("wf_refunds", "approval")
    await stored(h, run["id"], "waiting")
    await h.wait_for(lambda: _has_pending(h), timeout=15, what="a pending approval in the store")
    answer = await command(h, "approvals")
    assert "Refund" in shown(answer) and run["id"] in shown(answer), shown(answer)


async def _has_pending(h) -> bool:
    from store.models import Approval

    async with h.svc.sessions() as s:
        return (await s.scalar(select(Approval).where(Approval.status == "pending"))) is not None


async def test_subscribe_unsubscribe_and_subscriptions(harness):
    h = harness
    await failed_run(h, "run_sub00001")
    answer = await command(h, 'subscribe "Invoice triage"')
    assert "failure alerts" in answer.text and "wf_invoices" in answer.text
    await command(h, "subscribe wf_invoices --approvals")
    async with h.svc.sessions() as s:
        sub = await s.get(Subscription, ("C0GENERAL", "wf_invoices"))
        assert sub.failures and sub.approvals
    listing = await command(h, "subscriptions")
    assert "Invoice triage" in shown(listing) and "approval cards" in shown(listing)
    await command(h, "unsubscribe wf_invoices --failures")
    async with h.svc.sessions() as s:
        sub = await s.get(Subscription, ("C0GENERAL", "wf_invoices"))
        assert not sub.failures and sub.approvals
    await command(h, "unsubscribe wf_invoices")
    async with h.svc.sessions() as s:
        assert await s.get(Subscription, ("C0GENERAL", "wf_invoices")) is None
    assert "receives no failure alerts" in (await command(h, "subscriptions")).text
    # a workflow the store has not seen yet is looked up on the platform
    await command(h, "subscribe wf_payouts")
    await later(h, lambda t: "wf_payouts" in t and "failure alerts" in t)
    assert [a.result for a in await audit_rows(h, "subscribe")] == ["ok", "ok", "ok"]


async def test_watch_sends_a_direct_message_per_status_change_and_at_the_end(harness):
    h = harness
    await running_run(h, "run_wat00001")
    answer = await command(h, "watch wat00001")
    assert "You follow run_wat00001" in answer.text
    await h.sim("POST", "/sim/runs/run_wat00001/advance", {"status": "paused"})
    await h.slack.wait_for(lambda s: any("now *paused*" in shown(m) for m in s.messages(USER)))
    await h.sim("POST", "/sim/runs/run_wat00001/advance", {"status": "completed"})
    await h.slack.wait_for(lambda s: any("has ended" in shown(m) for m in s.messages(USER)))
    async with h.svc.sessions() as s:
        assert await s.get(Watch, ("run_wat00001", USER)) is None
    assert "already ended" in (await command(h, "watch wat00001")).text
    assert len([m for m in h.slack.messages(USER) if "run_wat00001" in shown(m)]) == 2  # one per change, no more


async def test_audit_shows_who_did_what_with_the_result(harness):
    h = harness
    await failed_run(h, "run_aud00001")
    await command(h, "cancel aud00001")
    await command(h, "watch aud00001", user=OUTSIDER)
    trail = shown(await command(h, "audit aud00001"))
    assert "could not cancel" in trail and "<@U0SANDBOX>" in trail
    assert "watch" in trail and "<@U0CAROL>" in trail
    await command(h, "subscribe wf_invoices --approvals")
    everything = shown(await command(h, "audit"))
    assert "subscribed `wf_invoices` in <#C0GENERAL>: channel now receives" in everything
    assert "failures=" not in everything and "approvals=" not in everything, "no internals in the trail"
    assert "Nothing in the audit trail" in (await command(h, "audit run_never")).text


async def test_run_id_prefixes_are_case_sensitive_ranges_on_postgresql(pg_harness):
    h = pg_harness
    await failed_run(h, "run_Pg0001")
    await failed_run(h, "run_pg0002")
    assert "run_Pg0001" in shown(await command(h, "show Pg"))
    assert "run_pg0002" in shown(await command(h, "show pg"))
    both = shown(await command(h, "failed"))
    assert "run_Pg0001" in both and "run_pg0002" in both
    assert "several runs" in (await command(h, "show run_")).text
