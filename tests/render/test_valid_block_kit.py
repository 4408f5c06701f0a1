"""Every message and modal the bot builds passes Slack's Block Kit rules as the stand-in checks them
(reference/slack/blockkit.py), with ordinary data, hostile data and data at and past every limit."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.render import alerts, approvals, digest, home, lists, prompts, replay_modal, replies, runs, storms
from bot.render.mrkdwn import Mrkdwn
from bot.views import view_of_run, view_of_storm
from reference.slack import blockkit
from tests.render.test_renderers import NOW, failed_run, run_url, task

LONG = "x" * 5000
HOSTILE = "<!channel> `` *_~ &amp; \n" * 300


def run_views():
    ordinary = failed_run()
    huge = failed_run(
        id="run_" + "9" * 200,
        workflow={"id": LONG, "name": HOSTILE},
        model=LONG,
        trigger={"type": LONG, "actor": {"name": HOSTILE, "slack_user_id": "U0ANA"}, "payload": {"k": LONG}},
    )
    huge["steps"] = [{"id": f"s{i}", "index": i, "name": HOSTILE, "status": "completed"} for i in range(60)] + [
        {
            "id": "s60",
            "index": 60,
            "name": HOSTILE,
            "status": "failed",
            "error": {"code": LONG, "message": HOSTILE * 20, "provider": LONG, "retryable": False},
        }
    ]
    huge["failed_step_id"] = "s60"
    return [view_of_run(ordinary), view_of_run(huge)]


def messages():
    for view in run_views():
        yield "alert", alerts.alert_message(view, run_url_of=run_url, step_url=None, owners=["U0ANA"] * 30)
        for reply in alerts.full_error_replies(view):
            yield "error reply", reply
        yield "run detail", runs.run_detail(view, run_url)
        yield "run list", runs.run_list([view] * 50, title=LONG, understood=HOSTILE, run_url=run_url, next_value="n")
        yield "watch update", runs.watch_update(view, "running", run_url)
        yield "control result", replies.control_result("replay", view.id, view, run_url, "U0ANA")
        yield "replay choice", prompts.replay_choice(view.id, "failed", HOSTILE)
        yield "replay confirm", prompts.replay_confirm(view.id, HOSTILE, LONG, "v" * 1900)
        yield "cancel confirm", prompts.cancel_confirm(view.id, "running", HOSTILE)
    for t in (task(), task(action=HOSTILE, kind=LONG, workflow_name=HOSTILE, votes=["U0ANA"] * 40, comment=HOSTILE)):
        yield "approval card", approvals.card(t, NOW)
        yield "decided card", approvals.card(task(status="rejected", comment=HOSTILE, decided_by=HOSTILE), NOW)
        yield "reminder", approvals.reminder(t, ["U0ANA"] * 50, NOW)
        many = [task(**{**t.__dict__, "id": f"apr_{i}"}) for i in range(30)]
        yield "inbox", {"blocks": approvals.inbox(many, NOW, can_decide=True, approvers=HOSTILE[:500])}
    state = {
        "workflow_id": LONG,
        "workflow_name": HOSTILE,
        "error_code": LONG,
        "count": 500,
        "first_at": NOW.isoformat(),
        "last_at": (NOW + timedelta(minutes=5)).isoformat(),
        "newest": ["run_" + "1" * 100] * 50,
    }
    yield "storm", storms.storm_message(view_of_storm(state), run_url_of=run_url)
    yield (
        "storm runs",
        storms.storm_runs_reply(
            [{"run_id": LONG, "step": HOSTILE, "at": NOW.isoformat()}] * 60, run_url_of=run_url, note=HOSTILE
        ),
    )
    yield "digest", digest.digest_message([(LONG, HOSTILE, LONG, 3)] * 60, NOW)
    yield (
        "logs",
        lists.logs_list(
            [{"timestamp": NOW.isoformat(), "severity": "error", "message": HOSTILE, "run_id": LONG}] * 60,
            understood=HOSTILE,
            run_url=run_url,
            next_value="n",
        ),
    )
    yield "help", replies.help_message([(LONG, HOSTILE)] * 40, [LONG] * 10, intro=HOSTILE)


def views():
    for t in (task(), task(action=HOSTILE, kind=LONG, workflow_name=HOSTILE)):
        yield "reject modal", approvals.reject_modal(t, reason_required=True, private_metadata="{}")
        many = [task(**{**t.__dict__, "id": f"apr_{i}"}) for i in range(40)]
        runs_ = run_views() * 20
        board = home.Dashboard(
            tasks=many,
            decidable=frozenset(x.id for x in many),
            approvers=HOSTILE[:500],
            watched=runs_,
            failures=[home.FailureLine(r, "open", Mrkdwn("")) for r in runs_],
            triggered=runs_,
            spend=home.DaySpend(NOW.date(), [(HOSTILE, "failed", 3, 2, 1_234_567), (LONG, "completed", 9, 0, 0)]),
        )
        yield "home", home.home_view(board, NOW, run_url)
    yield (
        "replay modal",
        replay_modal.replay_changes_modal(
            "run_" + "1" * 200,
            HOSTILE * 3,
            LONG,
            "{}",
            workflow=HOSTILE,
            error_code=LONG,
            step_words=HOSTILE,
            models=[f"model-{i}" for i in range(300)] + [LONG],
        ),
    )
    yield "notice", prompts.modal_notice(HOSTILE, HOSTILE * 3)
    yield "loading", prompts.modal_notice("Reject approval", "Loading…", callback_id="loading_modal")


@pytest.mark.parametrize("name,payload", list(messages()), ids=lambda v: v if isinstance(v, str) else "")
def test_messages_pass_block_kit(name, payload):
    blocks = payload.get("blocks")
    assert blockkit.message_problems(blocks or []) == []
    assert not blockkit.blocks_too_long(blocks or [])
    assert len(payload.get("text") or "") <= 40_000


@pytest.mark.parametrize("name,view", list(views()), ids=lambda v: v if isinstance(v, str) else "")
def test_modals_and_home_pass_block_kit(name, view):
    assert blockkit.view_problems(view) == []
    assert not blockkit.view_too_large(view)
