"""Approvals from Slack, end to end: the real bot, the reference platform and the Slack stand-in, with signed
block_actions and view_submission payloads as Slack sends them."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import pytest
from sqlalchemy import select

from bot.actors import Actor
from bot.approvals import reactions
from store.models import Approval, AuditEntry, SlackMessage, Subscription

CHANNEL = "C0APPROVALS"
SAM = {"name": "Sam Rivera", "slack_user_id": "U0SAMPLE1"}


async def gated_run(h, workflow: str = "wf_refunds", *, actor: dict | None = None, ttl: float = 600, **kw) -> dict:
    return await h.start_run(workflow, "approval", actor=actor or SAM, approval_ttl_seconds=ttl, **kw)


async def card_of(h, run_id: str, channel: str = CHANNEL, timeout: float = 20):
    """The approval task of a run and its card in the channel, once posted."""

    async def posted():
        async with h.svc.sessions() as s:
            task = (await s.scalars(select(Approval).where(Approval.run_id == run_id))).first()
            if task is None:
                return None
            row = (
                await s.scalars(
                    select(SlackMessage).where(
                        SlackMessage.kind == "approval",
                        SlackMessage.subject == task.id,
                        SlackMessage.channel == channel,
                    )
                )
            ).first()
            if row is None or row.ts is None:
                return None
            return task, h.slack.message(channel, row.ts)

    return await h.wait_for(posted, timeout=timeout, what=f"the approval card of {run_id}")


def action_ids(message) -> list[str]:
    return [el.get("action_id") for b in message.blocks or [] if b.get("type") == "actions" for el in b["elements"]]


def element(message, action_id: str) -> dict:
    return next(
        el
        for b in message.blocks
        if b.get("type") == "actions"
        for el in b["elements"]
        if el.get("action_id") == action_id
    )


def text_of(message) -> str:
    parts = [message.text or ""]
    for b in message.blocks or []:
        for key in ("text",):
            if isinstance(b.get(key), dict):
                parts.append(b[key].get("text", ""))
        for f in b.get("fields") or []:
            parts.append(f.get("text", ""))
        for el in b.get("elements") or []:
            if isinstance(el, dict) and el.get("type") in ("mrkdwn", "plain_text"):
                parts.append(el.get("text", ""))
    return "\n".join(parts)


async def platform_task(h, approval_id: str) -> dict:
    status, task = await h.api("GET", f"/approvals/{approval_id}")
    assert status == 200
    return task


async def decide_calls(h, verb: str = "approve") -> int:
    stats = await h.sim("GET", "/sim/stats")
    return sum(
        n for key, n in stats["requests"].items() if key.startswith("POST /v1/approvals/") and key.endswith(verb)
    )


def answers(h, user: str, channel: str = CHANNEL) -> list[str]:
    return [e.text for e in h.slack.ephemerals(channel, user=user)]


async def answer_to(h, user: str, words: str, channel: str = CHANNEL) -> str:
    return await h.wait_for(
        lambda: next((t for t in answers(h, user, channel) if words in t), None),
        timeout=15,
        what=f"an answer to {user} saying {words!r}",
    )


async def audit_rows(h, target: str) -> list[AuditEntry]:
    async with h.svc.sessions() as s:
        return list(
            (await s.scalars(select(AuditEntry).where(AuditEntry.target == target).order_by(AuditEntry.id))).all()
        )


# The request


async def test_a_gated_run_posts_a_card_and_approve_lets_it_run_with_a_receipt(harness):
    h = harness
    run = await gated_run(h)
    task, card = await card_of(h, run["id"])
    shown = text_of(card)
    assert "Send refund of $420 to ACME" in shown
    assert "Spend approval needed" in shown and "Requested by*\nthe “Refund customer” step" in shown
    assert f"|{run['id']}>" in shown and "/monitoring/workflow-runs/" in shown
    assert "<!date^" in shown and "in 9 minutes" in shown  # local time for every reader, and the time left
    assert element(card, "approval_approve")["style"] == "primary"
    assert element(card, "approval_reject")["style"] == "danger"
    assert "confirm" not in element(card, "approval_approve")

    await h.slack.click(card, "approval_approve", user_id="U0ANA")

    await h.wait_for(lambda: "Approved by <@U0ANA>, <!date^" in text_of(card), timeout=15, what="the card's receipt")
    assert "approval_approve" not in action_ids(card) and "approval_reject" not in action_ids(card)
    decided = await platform_task(h, task.id)
    assert decided["status"] == "approved" and decided["decided_by"] == "slack:U0ANA (Ana Ruiz)"
    # The run's progress follows in the thread.
    await h.wait_for(
        lambda: any("completed" in (m.text or "") for m in h.slack.messages(CHANNEL, thread_ts=card.ts)),
        timeout=20,
        what="the run's completion in the card's thread",
    )
    assert [e.result for e in await audit_rows(h, task.id)] == ["ok"]
    # /runs audit says what was approved, not the task's id.
    await h.slack.send_command("audit", user_id="U0ANA", channel_id="C0GENERAL")
    trail = await h.wait_for(
        lambda: next(
            (e for e in h.slack.ephemerals("C0GENERAL", user="U0ANA") if "Audit trail" in str(e.blocks)), None
        ),
        what="the audit trail",
    )
    assert f"<@U0ANA> approved “Send refund of $420 to ACME” (`{run['id']}`): now approved" in str(trail.blocks)
    assert task.id not in str(trail.blocks)


async def test_cards_go_to_the_approval_channel_and_subscribed_channels_and_all_show_the_decision(harness):
    h = harness
    async with h.svc.sessions.begin() as s:
        s.add(Subscription(channel="C0GENERAL", workflow_id="wf_refunds", failures=False, approvals=True))
    run = await gated_run(h)
    task, card = await card_of(h, run["id"])
    _, subscribed = await card_of(h, run["id"], channel="C0GENERAL")
    await h.slack.click(subscribed, "approval_approve", user_id="U0ANA")
    for message in (card, subscribed):
        await h.wait_for(lambda: "Approved by <@U0ANA>" in text_of(message), timeout=15, what="every card's receipt")
    assert len([m for m in h.slack.messages("C0GENERAL", top_level=True) if m.is_bot]) == 1


async def test_a_pending_task_no_webhook_reported_is_posted_by_tracking(harness):
    h = harness
    await h.sim("POST", "/sim/webhooks", {"mode": "suppress", "count": -1, "types": ["approval.requested"]})
    task, card = await card_of(h, (await gated_run(h))["id"])
    assert "approval_approve" in action_ids(card) and task.action in text_of(card)
    assert len([m for m in h.slack.messages(CHANNEL, top_level=True) if task.id in str(m.blocks)]) == 1


@pytest.mark.parametrize("settings_overrides", [{"APPROVAL_CONFIRM_KINDS": ["spend"]}])
async def test_approve_asks_for_confirmation_for_confirm_kinds(harness):
    h = harness
    _, card = await card_of(h, (await gated_run(h))["id"])
    confirm = element(card, "approval_approve")["confirm"]
    assert confirm["confirm"]["text"] == "Approve" and "Send refund of $420" in confirm["text"]["text"]
    _, tools = await card_of(h, (await gated_run(h, "wf_tools"))["id"])
    assert "confirm" not in element(tools, "approval_approve")


# The decision


@pytest.mark.parametrize("settings_overrides", [{"REJECT_REASON_REQUIRED": True}])
async def test_reject_opens_a_modal_whose_reason_is_required_and_sent_as_the_comment(harness):
    h = harness
    run = await gated_run(h)
    task, card = await card_of(h, run["id"])
    await h.slack.click(card, "approval_reject", user_id="U0BEN")
    modal = await h.wait_for(
        lambda: next((v for v in h.slack.open_views("U0BEN") if v.callback_id == "reject_modal"), None),
        what="the reject modal",
    )
    assert modal.view["callback_id"] == "reject_modal"
    reason_block = next(b for b in modal.blocks if b.get("block_id") == "reason")
    assert reason_block.get("optional", False) is False

    blank = await h.slack.submit_view(modal, {"reason": {"reason_input": "   "}})
    assert blank.body["response_action"] == "errors" and "reason" in blank.body["errors"]
    assert (await platform_task(h, task.id))["status"] == "pending"

    await h.slack.submit_view(modal, {"reason": {"reason_input": "Refund already issued by hand"}})
    await h.wait_for(
        lambda: "Rejected by <@U0BEN>: Refund already issued by hand" in text_of(card),
        timeout=15,
        what="the rejection receipt",
    )
    assert action_ids(card) == []
    decided = await platform_task(h, task.id)
    assert decided["status"] == "rejected" and decided["comment"] == "Refund already issued by hand"
    assert decided["decided_by"] == "slack:U0BEN (Ben Okafor)"
    await answer_to(h, "U0BEN", "Rejected")
    await h.wait_for(
        lambda: any("cancelled" in (m.text or "") for m in h.slack.messages(CHANNEL, thread_ts=card.ts)),
        timeout=20,
        what="the run's cancellation in the thread",
    )


async def test_a_non_approver_is_refused_ephemerally_naming_the_approvers_and_audited(harness):
    h = harness
    task, card = await card_of(h, (await gated_run(h))["id"])
    await h.slack.click(card, "approval_approve", user_id="U0CAROL")
    refusal = await answer_to(h, "U0CAROL", "Only approvers")
    assert "<@U0ANA>" in refusal and "<@U0BEN>" in refusal
    await h.slack.click(card, "approval_reject", user_id="U0CAROL")
    # Reject opens its modal at once (the trigger dies in 3 s); the refusal lands in it, not in a form.
    modal = await h.wait_for(
        lambda: next((v for v in h.slack.open_views("U0CAROL") if "Only approvers" in str(v.blocks)), None),
        what="the second refusal, in the modal",
    )
    assert modal.callback_id != "reject_modal" and not modal.view.get("submit")
    rows = await audit_rows(h, task.id)
    assert [(r.user_id, r.action, r.result) for r in rows] == [
        ("U0CAROL", "approval.approve", "refused"),
        ("U0CAROL", "approval.reject", "refused"),
    ]
    assert (await platform_task(h, task.id))["status"] == "pending"
    assert await decide_calls(h) == 0
    assert "approval_approve" in action_ids(card)


@pytest.mark.parametrize("settings_overrides", [{"APPROVERS": ["S0ONCALL"]}])
async def test_approvers_may_be_a_user_group(harness):
    h = harness
    task, card = await card_of(h, (await gated_run(h))["id"])
    await h.slack.click(card, "approval_approve", user_id="U0CAROL")
    refusal = await answer_to(h, "U0CAROL", "Only approvers")
    assert "<!subteam^S0ONCALL>" in refusal
    await h.slack.click(card, "approval_approve", user_id="U0BEN")  # a member of S0ONCALL
    await h.wait_for(lambda: "Approved by <@U0BEN>" in text_of(card), timeout=15, what="the receipt")
    assert h.slack.calls_to("usergroups.users.list")
    assert [(r.user_id, r.result) for r in await audit_rows(h, task.id)] == [("U0CAROL", "refused"), ("U0BEN", "ok")]


async def test_nobody_approves_a_run_they_triggered_but_may_reject_it(harness):
    h = harness
    task, card = await card_of(h, (await gated_run(h, actor={"name": "Ana Ruiz", "slack_user_id": "U0ANA"}))["id"])
    await h.slack.click(card, "approval_approve", user_id="U0ANA")
    refusal = await answer_to(h, "U0ANA", "yourself")
    assert "another approver" in refusal
    assert (await platform_task(h, task.id))["status"] == "pending"
    assert [(r.action, r.result) for r in await audit_rows(h, task.id)] == [("approval.approve", "refused")]

    await h.slack.click(card, "approval_reject", user_id="U0ANA")
    modal = await h.wait_for(
        lambda: next((v for v in h.slack.open_views("U0ANA") if v.callback_id == "reject_modal"), None),
        what="the reject modal",
    )
    await h.slack.submit_view(modal, {"reason": {"reason_input": "Started by mistake"}})
    await h.wait_for(
        lambda: "Rejected by <@U0ANA>: Started by mistake" in text_of(card), timeout=15, what="the self-rejection"
    )


@pytest.mark.parametrize("settings_overrides", [{"APPROVALS_REQUIRED_BY": "kind:spend=2"}])
async def test_a_quorum_of_two_needs_two_people_not_one_person_twice(harness):
    h = harness
    task, card = await card_of(h, (await gated_run(h))["id"])
    assert "Needs 2 different approvers" in text_of(card)
    await h.slack.click(card, "approval_approve", user_id="U0ANA")
    await answer_to(h, "U0ANA", "counted: 1 of 2")
    await h.wait_for(lambda: "1 of 2: <@U0ANA>" in text_of(card), timeout=15, what="the count on the card")
    await h.slack.click(card, "approval_approve", user_id="U0ANA")
    await answer_to(h, "U0ANA", "counts once")
    assert await decide_calls(h) == 0
    assert (await platform_task(h, task.id))["status"] == "pending"

    await h.slack.click(card, "approval_approve", user_id="U0BEN")
    await h.wait_for(lambda: "Approved by <@U0ANA> and <@U0BEN>" in text_of(card), timeout=15, what="the receipt")
    decided = await platform_task(h, task.id)
    assert decided["status"] == "approved" and decided["decided_by"] == "slack:U0BEN (Ben Okafor)"
    assert "Ana Ruiz" in decided["comment"] and "Ben Okafor" in decided["comment"]
    assert await decide_calls(h) == 1


@pytest.mark.parametrize("settings_overrides", [{"APPROVALS_REQUIRED_BY": "workflow:wf_refunds=2"}])
async def test_approvals_counted_before_the_task_changed_no_longer_count(harness):
    h = harness
    task, card = await card_of(h, (await gated_run(h))["id"])
    await h.slack.click(card, "approval_approve", user_id="U0ANA")
    await h.wait_for(lambda: "1 of 2: <@U0ANA>" in text_of(card), timeout=15, what="the count on the card")
    await h.sim("POST", f"/sim/approvals/{task.id}/modify", {"action": "Send refund of $4,200 to ACME"})
    await h.slack.click(card, "approval_approve", user_id="U0BEN")
    await h.wait_for(
        lambda: "$4,200" in text_of(card) and "changed on the platform" in text_of(card),
        timeout=15,
        what="the rebuilt card",
    )
    assert "<@U0ANA>" not in text_of(card)
    assert await decide_calls(h) == 0
    assert (await platform_task(h, task.id))["status"] == "pending"


async def _twenty_clicks_one_decision(h):
    task, card = await card_of(h, (await gated_run(h))["id"])
    users = ["U0ANA", "U0BEN", "U0SANDBOX"]
    clickers = [users[i % 3] for i in range(20)]
    results = await asyncio.gather(*(h.slack.click(card, "approval_approve", user_id=u) for u in clickers))
    assert all(r.ok for r in results)
    await h.wait_for(lambda: "Approved by <@" in text_of(card), timeout=30, what="the receipt")
    decided = await platform_task(h, task.id)
    assert decided["status"] == "approved"
    winner = decided["decided_by"].split()[0].removeprefix("slack:")
    # Everyone hears back; everyone but the winner's one click is told who decided first.
    told = lambda: sum(len(answers(h, u)) for u in users)  # noqa: E731
    await h.wait_for(lambda: told() == 20, timeout=30, what="an answer to each of the 20 clicks")
    per_user = Counter(u for u in users for _ in answers(h, u))
    assert per_user == Counter(clickers)
    losing = [t for u in users for t in answers(h, u) if not t.startswith("Approved:")]
    assert len(losing) == 19 and all(f"<@{winner}>" in t for t in losing)
    assert await decide_calls(h) == 1
    assert [r.result for r in await audit_rows(h, task.id)].count("ok") == 1


async def test_twenty_concurrent_clicks_give_exactly_one_platform_decision_on_sqlite(harness):
    await _twenty_clicks_one_decision(harness)


async def test_twenty_concurrent_clicks_give_exactly_one_platform_decision_on_postgres(pg_harness):
    await _twenty_clicks_one_decision(pg_harness)


async def test_a_claim_left_by_a_stopped_process_is_released_so_the_task_can_be_decided(harness):
    h = harness
    task, card = await card_of(h, (await gated_run(h))["id"])
    async with h.svc.sessions.begin() as s:
        (await s.get(Approval, task.id)).deciding_by = "U0BEN 1000000000"  # claimed, then the process died
    await h.slack.click(card, "approval_approve", user_id="U0ANA")
    await answer_to(h, "U0ANA", "<@U0BEN> decided first")
    assert await decide_calls(h) == 0

    async def released():
        async with h.svc.sessions() as s:
            return (await s.get(Approval, task.id)).deciding_by is None

    await h.wait_for(released, timeout=15, what="the stale claim to be released")
    await h.slack.click(card, "approval_approve", user_id="U0ANA")
    await h.wait_for(lambda: "Approved by <@U0ANA>" in text_of(card), timeout=15, what="the receipt")
    assert await decide_calls(h) == 1


@pytest.mark.parametrize("settings_overrides", [{"APPROVAL_CLAIM_STALE_SECONDS": 3}])
async def test_a_young_claim_holds_until_it_is_older_than_the_stale_setting(harness):
    h = harness
    task, card = await card_of(h, (await gated_run(h))["id"])
    async with h.svc.sessions.begin() as s:  # claimed just now, then the process died
        (await s.get(Approval, task.id)).deciding_by = f"U0BEN {int(time.time())}"
    await h.slack.click(card, "approval_approve", user_id="U0ANA")
    await answer_to(h, "U0ANA", "<@U0BEN> decided first")  # a young claim holds
    assert await decide_calls(h) == 0

    async def released():
        async with h.svc.sessions() as s:
            return (await s.get(Approval, task.id)).deciding_by is None

    await h.wait_for(released, timeout=30, what="the claim released once older than 3 s")
    await h.slack.click(card, "approval_approve", user_id="U0ANA")
    await h.wait_for(lambda: "Approved by <@U0ANA>" in text_of(card), timeout=15, what="the receipt")
    assert await decide_calls(h) == 1


@pytest.mark.parametrize("settings_overrides", [{"TRACK_INTERVAL_SECONDS": 120}])
async def test_a_task_changed_on_the_platform_after_posting_is_refused_on_click_and_rebuilt(harness):
    h = harness
    task, card = await card_of(h, (await gated_run(h))["id"])
    await h.wait_for(lambda: h.scheduler.tracker.cycles >= 1, timeout=15, what="the first tracking cycle")
    await h.sim("POST", f"/sim/approvals/{task.id}/modify", {"action": "Send refund of $42,000 to ACME"})

    await h.slack.click(card, "approval_approve", user_id="U0ANA")
    refusal = await answer_to(h, "U0ANA", "changed")
    assert "review it again" in refusal
    assert (await platform_task(h, task.id))["status"] == "pending"
    assert await decide_calls(h) == 0
    await h.wait_for(lambda: "$42,000" in text_of(card), timeout=15, what="the card rebuilt with the new request")
    assert "changed on the platform after it was posted" in text_of(card)

    await h.slack.click(card, "approval_approve", user_id="U0ANA")  # the rebuilt card shows what will run
    await h.wait_for(lambda: "Approved by <@U0ANA>" in text_of(card), timeout=15, what="the receipt")
    assert (await platform_task(h, task.id))["action"] == "Send refund of $42,000 to ACME"


@pytest.mark.parametrize("settings_overrides", [{"APPROVAL_CONSOLE_ONLY_KINDS": ["publish"]}])
async def test_a_console_only_kind_is_posted_without_buttons_with_a_console_link(harness):
    h = harness
    task, card = await card_of(h, (await gated_run(h, "wf_publish"))["id"])
    assert action_ids(card) == ["approval_review"]
    link = element(card, "approval_review")
    assert link["url"].endswith(f"/monitoring/workflow-runs/{task.run_id}#step-{task.step_id}")
    assert "decided in the console only" in text_of(card)


async def test_a_task_decided_in_the_console_updates_the_slack_message(harness):
    h = harness
    task, card = await card_of(h, (await gated_run(h))["id"])
    status, _ = await h.api("POST", f"/approvals/{task.id}/approve", {"actor": "console:ana"})
    assert status == 200
    await h.wait_for(
        lambda: "Approved by console:ana, <!date^" in text_of(card),
        timeout=15,
        what="the card corrected from the approval.decided webhook",
    )
    assert action_ids(card) == []


async def test_a_click_on_a_task_already_decided_in_the_console_reports_it(harness):
    h = harness
    task, card = await card_of(h, (await gated_run(h))["id"])
    await h.sim("POST", "/sim/webhooks", {"mode": "suppress", "count": -1, "types": ["approval.decided"]})
    status, _ = await h.api("POST", f"/approvals/{task.id}/reject", {"actor": "console:ben", "comment": "no"})
    assert status == 200
    await h.slack.click(card, "approval_approve", user_id="U0ANA")
    told = await answer_to(h, "U0ANA", "already rejected")
    assert "console:ben" in told
    await h.wait_for(lambda: "Rejected by console:ben: no" in text_of(card), timeout=15, what="the corrected card")
    assert await decide_calls(h) == 0


# Expiry and reminders


@pytest.mark.parametrize(
    "settings_overrides", [{"APPROVAL_REMINDER_SECONDS": 4.0, "APPROVAL_ESCALATION_GROUP": "S0ONCALL"}]
)
async def test_expiry_with_one_reminder_and_none_for_a_task_posted_too_close_to_expiry(harness):
    h = harness
    # No approval.expired webhook: the bot marks the card expired on its own.
    await h.sim("POST", "/sim/webhooks", {"mode": "suppress", "count": -1, "types": ["approval.expired"]})
    # Posted with 12 s left, 8 s before its reminder is due; the other with 3 s left, inside the reminder's lead.
    reminded_task, reminded = await card_of(h, (await gated_run(h, ttl=12))["id"])
    late_task, late = await card_of(h, (await gated_run(h, ttl=3))["id"])

    def thread(card):
        return [m for m in h.slack.messages(CHANNEL, thread_ts=card.ts) if m.ts != card.ts]

    await h.wait_for(
        lambda: "Expired" in text_of(late) and "Expired" in text_of(reminded), timeout=60, what="both cards to expire"
    )
    assert action_ids(reminded) == [] and action_ids(late) == []
    reminders = [m for m in thread(reminded) if "expires" in (m.text or "")]
    assert len(reminders) == 1
    assert "<@U0ANA>" in reminders[0].text and "<!subteam^S0ONCALL>" in reminders[0].text
    assert not [m for m in thread(late) if "expires" in (m.text or "")]
    ticks = h.scheduler.ran.get("approvals", 0)
    await h.wait_for(
        lambda: h.scheduler.ran.get("approvals", 0) >= ticks + 3,
        timeout=30,
        what="three more runs of the approvals job",
    )  # still one reminder after them
    assert len([m for m in thread(reminded) if "expires" in (m.text or "")]) == 1
    async with h.svc.sessions() as s:
        for t in (reminded_task, late_task):
            assert (await s.get(Approval, t.id)).status == "expired"


# Inbox and App Home


async def test_app_home_lists_pending_tasks_with_a_count_and_is_republished_when_it_changes(harness):
    h = harness
    first, card = await card_of(h, (await gated_run(h))["id"])
    second, _ = await card_of(h, (await gated_run(h, "wf_tools"))["id"])
    await h.slack.open_home("U0ANA")
    await h.wait_for(
        lambda: h.slack.home("U0ANA") and "2 pending" in str(h.slack.home("U0ANA").blocks),
        timeout=15,
        what="App Home with two pending tasks",
    )
    home = str(h.slack.home("U0ANA").blocks)
    assert "Send refund of $420 to ACME" in home and "issue_store_credit" in home and "approval_approve" in home

    await h.slack.click(card, "approval_approve", user_id="U0BEN")
    await h.wait_for(
        lambda: "1 pending" in str(h.slack.home("U0ANA").blocks), timeout=15, what="App Home republished to approvers"
    )
    assert "Send refund of $420" not in str(h.slack.home("U0ANA").blocks)
    # Every approver, not only those who opened it (each person's home is a delivery of its own).
    await h.wait_for(
        lambda: h.slack.home("U0BEN") and "1 pending" in str(h.slack.home("U0BEN").blocks),
        timeout=15,
        what="App Home published to an approver who never opened it",
    )

    await h.slack.open_home("U0CAROL")
    await h.wait_for(
        lambda: h.slack.home("U0CAROL") and "only approvers decide" in str(h.slack.home("U0CAROL").blocks),
        timeout=15,
        what="a non-approver's App Home",
    )
    # Someone who may not decide follows the tasks without buttons they cannot use.
    carol = str(h.slack.home("U0CAROL").blocks)
    assert "issue_store_credit" in carol and "approval_approve" not in carol and "approval_reject" not in carol
    assert (await platform_task(h, second.id))["status"] == "pending"


async def test_a_slow_app_home_publish_never_lands_over_a_newer_one(harness):
    """The interleaving that left App Home stale: a publish for one person starts, stalls, and meanwhile a
    new task is requested and every approver's home is republished; the stalled publish then finishes.
    Each publish takes a version before it reads the tasks, so the newest state ends on screen."""
    h = harness
    await card_of(h, (await gated_run(h))["id"])
    await h.wait_for(
        lambda: h.slack.home("U0ANA") and "1 pending" in str(h.slack.home("U0ANA").blocks),
        timeout=20,
        what="App Home with one pending task",
    )

    stalled, release = asyncio.Event(), asyncio.Event()
    real_is_member = h.svc.people.is_member

    async def is_member_stalling_once(user, entries):
        if user == "U0ANA" and not stalled.is_set():
            stalled.set()
            await release.wait()
        return await real_is_member(user, entries)

    h.svc.people.is_member = is_member_stalling_once
    slow = asyncio.create_task(reactions.publish_home(h.svc, Actor.of(h.svc, "U0ANA")))
    await h.wait_for(stalled.is_set, what="the publish to stall")
    await card_of(h, (await gated_run(h, "wf_tools"))["id"])
    await h.wait_for(
        lambda: "2 pending" in str(h.slack.home("U0ANA").blocks),
        timeout=20,
        what="App Home republished with both tasks",
    )
    release.set()
    await slow
    await h.settled()
    home = str(h.slack.home("U0ANA").blocks)
    assert "2 pending" in home and "issue_store_credit" in home


async def test_the_inbox_lists_pending_tasks_with_their_buttons(harness):
    h = harness
    await card_of(h, (await gated_run(h))["id"])
    await card_of(h, (await gated_run(h, "wf_payouts"))["id"])
    blocks = await reactions.inbox_blocks(h.svc, Actor.of(h.svc, "U0ANA"))
    assert blocks[0]["text"]["text"] == "2 pending approvals"
    text = str(blocks)
    assert "Send refund of $420 to ACME" in text and "Pay 3 vendors" in text
    assert text.count("approval_approve") == 2 and text.count("approval_reject") == 2


async def test_the_inbox_puts_the_soonest_expiry_first(harness):
    h = harness
    await card_of(h, (await gated_run(h, ttl=600))["id"])
    await card_of(h, (await gated_run(h, "wf_payouts", ttl=3000))["id"])  # newer, and expires later
    text = str(await reactions.inbox_blocks(h.svc, Actor.of(h.svc, "U0ANA")))
    assert text.index("Send refund of $420 to ACME") < text.index("Pay 3 vendors")


async def test_runs_approvals_lists_pending_tasks_whose_buttons_decide(harness):
    h = harness
    task, card = await card_of(h, (await gated_run(h))["id"])
    result = await h.slack.send_command("approvals", user_id="U0ANA", channel_id="C0GENERAL")
    assert result.ok
    inbox = await h.wait_for(
        lambda: next(
            (e for e in h.slack.ephemerals("C0GENERAL", user="U0ANA") if "approval_approve" in str(e.blocks)), None
        ),
        what="the inbox",
    )
    assert "Send refund of $420 to ACME" in str(inbox.blocks)
    await h.slack.click(inbox, "approval_approve", user_id="U0ANA")
    await h.wait_for(lambda: "Approved by <@U0ANA>" in text_of(card), timeout=15, what="the card's receipt")
    await answer_to(h, "U0ANA", "Approved:", channel="C0GENERAL")


@pytest.mark.parametrize("settings_overrides", [{"ALLOW_SELF_APPROVAL": True}])
async def test_with_self_approval_allowed_the_person_who_started_the_run_may_approve_it(harness):
    h = harness
    task, card = await card_of(h, (await gated_run(h, actor={"name": "Ana Ruiz", "slack_user_id": "U0ANA"}))["id"])
    await h.slack.click(card, "approval_approve", user_id="U0ANA")
    await h.wait_for(lambda: "Approved by <@U0ANA>" in text_of(card), timeout=15, what="the receipt")
    assert (await platform_task(h, task.id))["status"] == "approved"
    assert [(r.action, r.result) for r in await audit_rows(h, task.id)] == [("approval.approve", "ok")]
    assert not [t for t in answers(h, "U0ANA") if "yourself" in t]
