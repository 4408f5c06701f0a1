"""Renderers from plain views: hostile platform text is shown, never obeyed, in alerts, storm cards, approval
cards, reminders and `/runs` answers."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

from bot.render import alerts, approvals, lists, prompts, replies, runs, storms
from bot.views import TaskView, view_of_approval, view_of_run, view_of_storm

CONSOLE = "https://console.example/ws/runs"
EVIL_ID = "r1><!channel><https://evil.example/x|Approve"
NOW = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)


def run_url(run_id: str, step_id: str | None = None) -> str:
    return f"{CONSOLE}/{run_id}" + (f"#step-{step_id}" if step_id else "")


def tokens(payload) -> list[str]:
    """Every `<…>` control sequence in every mrkdwn text of a payload."""
    found = []

    def walk(value, top=False):
        if isinstance(value, dict):
            if (top or value.get("type") == "mrkdwn") and isinstance(value.get("text"), str):
                found.extend(re.findall(r"<([^<>]*)>", value["text"]))
            for key, inner in value.items():
                if not (key == "text" and isinstance(inner, str)):
                    walk(inner)
        elif isinstance(value, list):
            for inner in value:
                walk(inner)

    walk(payload, top=True)
    return found


def foreign(payload) -> list[str]:
    return [
        t
        for t in tokens(payload)
        if not (t.startswith(CONSOLE + "/") or t.startswith("!date^") or t in ("@U0ANA", "@U0BEN", "!subteam^S0OPS"))
    ]


def failed_run(**overrides) -> dict:
    run = {
        "id": "run_1",
        "workflow": {"id": "wf_1", "name": "Invoices"},
        "status": "failed",
        "created_at": "2026-11-25T09:00:00Z",
        "started_at": "2026-11-25T09:00:00Z",
        "completed_at": "2026-11-25T09:01:00Z",
        "updated_at": "2026-11-25T09:01:00Z",
        "duration_ms": 60000,
        "trigger": {"type": "manual", "actor": {"name": "Ana", "slack_user_id": "U0ANA"}},
        "progress": {"total_steps": 2, "completed_steps": 1},
        "model": "gpt",
        "failed_step_id": "s1",
        "steps": [
            {"id": "s0", "index": 0, "name": "Fetch", "status": "completed"},
            {
                "id": "s1",
                "index": 1,
                "name": "Summarise",
                "status": "failed",
                "error": {"code": "provider_error", "message": "boom", "provider": "openai", "retryable": True},
            },
        ],
    }
    run.update(overrides)
    return run


def test_a_run_id_cannot_break_out_of_the_alerts_run_link():
    payload = alerts.alert_message(
        view_of_run(failed_run(id=EVIL_ID)), run_url_of=run_url, step_url=None, owners=["U0ANA"]
    )
    assert not foreign(payload), foreign(payload)
    run_field = payload["blocks"][1]["elements"][0]["text"]
    assert run_field.startswith(f"<{CONSOLE}/r1%3E%3C!channel%3E%3Chttps://evil.example/x%7CApprove|")
    assert "&lt;!channel&gt;" in run_field and "&lt;!channel&gt;" in payload["text"]


def test_a_newline_in_a_step_name_does_not_forge_a_line_of_the_alert():
    steps = failed_run()["steps"]
    steps[1] = {**steps[1], "name": "Summarise\n*Error* `none` · Retryable: yes, all fine"}
    payload = alerts.alert_message(view_of_run(failed_run(steps=steps)), run_url_of=run_url, step_url=None, owners=[])
    lines = payload["blocks"][2]["text"]["text"].split("\n")
    assert lines[0].startswith("*Failed at step 2 of 2: Summarise *Error* ˋnoneˋ · Retryable: yes, all fine*")
    assert [line for line in lines if line.startswith("*Error*")] == ["*Error* `provider_error` · openai"]


def test_hostile_workflow_names_codes_models_and_triggers_are_shown_not_obeyed():
    hostile = "<!channel> <https://evil.example|Click to approve> `x` &lt;"
    run = failed_run(
        workflow={"id": hostile, "name": hostile},
        model=hostile,
        trigger={"type": hostile, "actor": {"name": hostile, "slack_user_id": "<!here>"}},
    )
    run["steps"][1]["error"]["code"] = hostile
    view = view_of_run(run)
    assert view.actor.slack_user_id is None  # not of Slack's shape: never a mention
    payload = alerts.alert_message(view, run_url_of=run_url, step_url=None, owners=["U0ANA", "<!channel>"])
    assert not foreign(payload), foreign(payload)
    assert "&amp;lt;" in json.dumps(payload)  # an entity in the input is shown as typed
    assert "<@U0ANA>" in payload["blocks"][3]["elements"][0]["text"]  # the owner the bot was given
    assert not foreign(alerts.full_error_replies(view)[0])


def test_the_whole_error_message_in_the_thread_stays_in_its_code_block():
    run = failed_run()
    run["steps"][1]["error"]["message"] = "```<!channel>```" + "<" * 40_000
    replies = alerts.full_error_replies(view_of_run(run))
    assert len(replies) > 1
    for reply in replies:
        assert not foreign(reply) and len(reply["text"]) < 40_000
        body = reply["text"].split("\n", 1)[1]
        assert body.startswith("```") and body.endswith("```") and body.count("`") == 6


def test_storm_cards_and_notes_escape_the_workflow_and_code():
    state = {
        "workflow_id": "<!channel>",
        "workflow_name": "<!here>\nforged",
        "error_code": "`<@U123>`",
        "count": 3,
        "first_at": NOW.isoformat(),
        "last_at": NOW.isoformat(),
        "newest": [EVIL_ID],
    }
    payload = storms.storm_message(view_of_storm(state), run_url_of=run_url)
    assert not foreign(payload), foreign(payload)
    note = storms.storm_note(count=3, workflow_name="<!here>", code="`<!channel>`", window_seconds=30)
    reply = storms.storm_runs_reply(
        [{"run_id": EVIL_ID, "step": "step 2 of 2", "at": NOW.isoformat()}], run_url_of=run_url, note=str(note)
    )  # the note comes back from stored state
    assert not foreign(reply), foreign(reply)
    assert reply["blocks"][0]["text"]["text"].startswith("*3 failures of &lt;!here&gt; with `ˋ&lt;!channel&gt;ˋ`")


def task(**overrides) -> TaskView:
    values = dict(
        id="apr_1",
        run_id=EVIL_ID,
        workflow_id="<!channel>",
        workflow_name="<!here>",
        kind="<@U123>\nx",
        action="Pay <https://evil.example|here> &amp; now",
        requested_by="<!channel>",
        expires_at=NOW + timedelta(hours=1),
        status="pending",
        fingerprint="fp",
        run_url=run_url(EVIL_ID),
        review_url=run_url(EVIL_ID, "s1"),
        votes=["U0ANA"],
        required=2,
        confirm=True,
    )
    values.update(overrides)
    return TaskView(**values)


def test_approval_cards_reminders_and_lists_escape_every_field():
    view = task()
    assert "\n" not in view.kind
    for payload in (
        approvals.card(view, NOW),
        approvals.card(task(status="rejected", comment="<!channel>", decided_by="slack:U0BEN (Ben)"), NOW),
        {"blocks": approvals.inbox([view], NOW, can_decide=False, approvers="<@U0ANA>")},
        approvals.reject_modal(view, reason_required=True, private_metadata="{}"),
    ):
        assert not foreign(payload), foreign(payload)
    reminder = approvals.reminder(view, ["U0ANA", "<!subteam^S0OPS>", "<!channel>", "S1>"], NOW)
    assert not foreign(reminder), foreign(reminder)
    assert "<@U0ANA> <!subteam^S0OPS> &lt;!channel&gt; S1&gt;" in reminder["text"]
    listed = lists.approvals_list(
        [
            view_of_approval(
                {
                    "id": "a",
                    "run_id": EVIL_ID,
                    "workflow": {"id": "w", "name": "<!here>"},
                    "kind": "<!channel>",
                    "action": "<@U1>",
                    "status": "pending",
                }
            )
        ],
        run_url,
    )
    assert not foreign(listed), foreign(listed)


def test_runs_answers_escape_every_field():
    run = failed_run(
        id=EVIL_ID,
        workflow={"id": "<!here>", "name": "<!channel>"},
        model="<@U123>",
        trigger={"type": "<!here>", "payload": {"x": "```<!channel>```"}},
    )
    view = view_of_run(run)
    for payload in (
        runs.run_detail(view, run_url),
        runs.run_list([view], title="Runs", understood="<!here>", run_url=run_url, next_value=None),
        runs.watch_update(view, "running", run_url),
        prompts.cancel_confirm(EVIL_ID, "running", "<!here>"),
        prompts.replay_confirm(EVIL_ID, "<!channel>", "<!here>", "{}"),
        replies.control_result("replay", EVIL_ID, view, run_url, "U0ANA"),
    ):
        assert not foreign(payload), foreign(payload)
    assert replies.status_refusal(EVIL_ID, "failed", [], "paused").startswith("r1&gt;&lt;!channel&gt;")
