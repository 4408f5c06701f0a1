"""Who is acting: the request's Slack user becomes an Actor once, over HTTP and Socket Mode alike; rights are
looked up only when an operation asks; refusals are audited; platform failures reach the user in words."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from bot import control
from bot.actors import Actor
from bot.errors import NotAllowed, NotFound, Unavailable, from_platform
from bot.platform import PlatformError, PlatformUnreachable
from store.models import AuditEntry, Subscription
from tests.support.harness import APP_TOKEN, start_harness


@pytest.fixture
async def group_harness(sqlite_url):
    """Operators given as a user group (S0ONCALL: U0ANA and U0BEN), Slack reached over Socket Mode."""
    h = await start_harness(database_url=sqlite_url, SLACK_APP_TOKEN=APP_TOKEN, OPERATORS=["S0ONCALL"])
    try:
        yield h
    finally:
        await h.stop()


async def audit_rows(h, user_id: str) -> list[AuditEntry]:
    async with h.svc.sessions() as s:
        return list(
            (await s.scalars(select(AuditEntry).where(AuditEntry.user_id == user_id).order_by(AuditEntry.id))).all()
        )


async def platform_status(h, run_id: str) -> str:
    status, body = await h.api("GET", f"/runs/{run_id}")
    assert status == 200, body
    return body["status"]


def told(h, user: str, words: str):
    return lambda: [e for e in h.slack.ephemerals(user=user) if words in (e.text or "")]


async def test_rights_come_from_user_groups_only_when_an_operation_needs_them_over_socket_mode(group_harness):
    h = group_harness
    await h.slack.wait_for_socket(timeout=15)
    helped = await h.slack.send_command("help", user_id="U0CAROL", via="socket")
    assert helped.ok and "/runs failed" in helped.body["text"]
    assert h.slack.calls_to("usergroups.users.list") == []  # help needs no rights: nobody was looked up

    await h.slack.send_command("subscribe wf_invoices", user_id="U0CAROL", via="socket")
    refusal = await h.wait_for(told(h, "U0CAROL", "Only operators"), timeout=15, what="the refusal")
    assert "<!subteam^S0ONCALL>" in refusal[0].text
    assert [c.args.get("usergroup") for c in h.slack.calls_to("usergroups.users.list")] == ["S0ONCALL"]
    assert [(r.action, r.result) for r in await audit_rows(h, "U0CAROL")] == [("subscribe", "refused")]

    await h.slack.send_command("subscribe wf_invoices", user_id="U0BEN", channel_id="C0ALERTS", via="socket")
    await h.wait_for(told(h, "U0BEN", "now receives failure alerts"), timeout=20, what="the subscription")
    async with h.svc.sessions() as s:
        sub = await s.get(Subscription, ("C0ALERTS", "wf_invoices"))
    assert sub is not None and sub.failures and sub.created_by == "U0BEN"
    assert [(r.action, r.result) for r in await audit_rows(h, "U0BEN")] == [("subscribe", "ok")]


async def test_core_operations_take_an_actor_the_test_builds(harness):
    h = harness
    run = await h.start_run("wf_invoices", "succeed", frozen=True, status="running")
    outsider = Actor.known("U0NOBODY", name="Nobody", is_operator=False)
    with pytest.raises(NotAllowed, match="Only operators may pause runs"):
        await control.act(h.svc, outsider, "pause", run["id"])
    assert [(r.action, r.target, r.result) for r in await audit_rows(h, "U0NOBODY")] == [
        ("pause", run["id"], "refused")
    ]
    assert (await platform_status(h, run["id"])) == "running"

    operator = Actor.known("U0OPS", name="Olive Ops", is_operator=True)
    paused = await control.act(h.svc, operator, "pause", run["id"])
    assert paused["status"] == "paused"
    assert (await platform_status(h, run["id"])) == "paused"
    assert [(r.action, r.result) for r in await audit_rows(h, "U0OPS")] == [("pause", "ok")]


def test_platform_failures_become_the_bots_errors_in_words():
    gone = from_platform(
        PlatformError(404, "not_found", "no such run"),
        doing="the lookup of `run_1`",
        missing="No run run_1 on the platform.",
    )
    assert isinstance(gone, NotFound) and gone.message == "No run run_1 on the platform."

    refused = from_platform(PlatformError(404, "not_found", "no such run"), doing="the lookup of `run_1`")
    assert isinstance(refused, Unavailable)
    assert refused.message == (
        "The platform refused the lookup of `run_1` (not_found: no such run); nothing was changed."
    )

    down = from_platform(
        PlatformUnreachable("cannot reach the platform at http://10.1.2.3:8080/v1"),
        doing="the decision",
        unchanged="nothing was decided",
    )
    assert isinstance(down, Unavailable)
    # The person gets a reference to quote; the address stays in the log under that reference.
    assert re.fullmatch(
        r"The platform could not be reached for the decision \(reference [0-9a-f]{6}\); "
        r"nothing was decided\. Try again in a minute\.",
        down.message,
    ), down.message
    assert "10.1.2.3" not in down.message

    hostile = from_platform(PlatformError(500, "<!channel>", "<https://evil.example|Approve>"), doing="the decision")
    assert "<!channel>" not in hostile.message and "&lt;!channel&gt;" in hostile.message
    assert "<https://evil.example" not in hostile.message
