"""Operators given as a Slack user group: membership looked up in Slack, cached for USERGROUP_CACHE_SECONDS."""

from __future__ import annotations

import pytest

from tests.test_alerts import wait_for_alert


async def replays_of(h, run_id: str) -> list[dict]:
    status, page = await h.api("GET", "/runs?limit=200")
    assert status == 200, page
    return [r for r in page["data"] if r.get("replay_of") == run_id]


async def click_replay_as(h, user: str) -> tuple[dict, str]:
    """A fresh failed run's alert, its Replay clicked by `user`: the run and what the user was told."""
    run = await h.start_run("wf_invoices", "fail")
    alert = await wait_for_alert(h, run["id"])
    before = len(h.slack.ephemerals(user=user))
    result = await h.slack.click(alert, "run_replay", user_id=user)
    assert result.ok, result
    told = await h.wait_for(
        lambda: h.slack.ephemerals(user=user)[before:], timeout=20, what=f"an answer to {user}'s click"
    )
    return run, told[-1].text or ""


@pytest.mark.parametrize("settings_overrides", [{"OPERATORS": ["S0ONCALL"], "USERGROUP_CACHE_SECONDS": 3600.0}])
async def test_operators_given_as_a_user_group_and_its_membership_cached(harness):
    h = harness
    run, told = await click_replay_as(h, "U0SANDBOX")  # not in S0ONCALL
    assert "Only operators may replay runs" in told and "<!subteam^S0ONCALL>" in told, told
    assert await replays_of(h, run["id"]) == []

    run, told = await click_replay_as(h, "U0BEN")  # a member of S0ONCALL
    await h.wait_for(lambda: replays_of(h, run["id"]), timeout=20, what="U0BEN's replay on the platform")
    lookups = len(h.slack.calls_to("usergroups.users.list"))
    assert lookups >= 1

    # U0BEN leaves the group in Slack; within USERGROUP_CACHE_SECONDS the bot still counts him in.
    h.slack.usergroups["S0ONCALL"] = ["U0ANA"]
    run, told = await click_replay_as(h, "U0BEN")
    await h.wait_for(lambda: replays_of(h, run["id"]), timeout=20, what="a replay allowed from the cached group")
    assert len(h.slack.calls_to("usergroups.users.list")) == lookups


@pytest.mark.parametrize("settings_overrides", [{"OPERATORS": ["S0ONCALL"], "USERGROUP_CACHE_SECONDS": 0.0}])
async def test_without_a_cache_a_member_who_left_the_group_is_refused_at_once(harness):
    h = harness
    run, _ = await click_replay_as(h, "U0BEN")
    await h.wait_for(lambda: replays_of(h, run["id"]), timeout=20, what="U0BEN's replay on the platform")
    h.slack.usergroups["S0ONCALL"] = ["U0ANA"]
    run, told = await click_replay_as(h, "U0BEN")
    assert "Only operators may replay runs" in told, told
    assert await replays_of(h, run["id"]) == []
