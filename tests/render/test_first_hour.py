"""What a newcomer reads in the first hour (issue 19): plain words, no contradictions, one way to say a thing."""

from __future__ import annotations

import json
import re

from bot.render import alerts, approvals, lists, prompts, replies, runs
from bot.views import view_of_run
from tests.render.test_renderers import NOW, failed_run, run_url, task


def texts(payload) -> str:
    return json.dumps(payload, ensure_ascii=False)


def test_the_progress_bar_is_plain_text_not_code():
    payload = alerts.alert_message(view_of_run(failed_run()), run_url_of=run_url, step_url=None, owners=[])
    body = texts(payload)
    assert "█████░░░░░ 1/2" in body
    assert "`█" not in body and "░`" not in body


def test_the_cancel_dialog_keeps_a_waiting_run_waiting():
    card = prompts.cancel_confirm("run_1", "waiting", "Invoices")
    assert '"Keep it waiting"' in texts(card) and "Keep it running" not in texts(card)
    buttons = [b.to_dict() for b in runs.run_buttons("run_1", "waiting")]
    cancel = next(b for b in buttons if b["action_id"] == "run_cancel")
    assert cancel["confirm"]["deny"]["text"] == "Keep it waiting"
    running = next(
        b for b in map(lambda b: b.to_dict(), runs.run_buttons("run_1", "running")) if b["action_id"] == "run_cancel"
    )
    assert running["confirm"]["deny"]["text"] == "Keep it running"


def test_show_run_names_the_replay_button_as_the_alert_does():
    labels = [b.to_dict()["text"]["text"] for b in runs.run_buttons("run_1", "failed")]
    assert "Replay" in labels and "Replay as-is" not in labels


def test_control_answers_mark_the_action_and_name_the_state_only_when_it_is_news():
    resumed = replies.control_result("resume", "run_1", view_of_run(failed_run(status="waiting")), run_url, "U0ANA")
    assert resumed["text"].startswith("▶️ <@U0ANA> resumed run_1: it is now waiting.") and "✋" not in texts(resumed)
    paused = replies.control_result("pause", "run_1", view_of_run(failed_run(status="paused")), run_url, "U0ANA")
    assert paused["text"] == "⏸️ <@U0ANA> paused run_1."


def test_show_run_says_the_failed_step_and_error_as_the_alert_does():
    run = view_of_run(failed_run())
    text = str(runs.failed_step_text(run.id, run.failed_step, run.total_steps, run_url))
    assert "*Failed at step 2 of 2: Summarise*" in text
    assert "Error: `provider_error` — boom" in text


def a_task(**overrides):
    values = dict(
        run_id="run_1",
        workflow_id="wf_refunds",
        workflow_name="Refund customer",
        kind="tool_call",
        action="Send refund of $420 to ACME",
        requested_by="step Refund customer of Refund customer",
        votes=[],
        required=1,
        confirm=False,
    )
    return task(**{**values, **overrides})


def test_an_approval_card_says_its_kind_in_words_once_and_who_asked_without_repeating_the_workflow():
    card = approvals.card(a_task(), NOW)
    header = card["blocks"][0]["text"]["text"]
    assert header == "✋ Tool call approval needed"
    fields = texts(card["blocks"][2])
    assert "*Kind*" not in fields and "tool_call" not in texts(card["blocks"])
    assert "*Requested by*\\nthe “Refund customer” step" in fields
    someone = approvals.card(a_task(requested_by="Alex Kim"), NOW)
    assert "*Requested by*\\nAlex Kim" in texts(someone)


def test_an_approved_card_reads_as_a_sentence():
    done = a_task(status="approved", decided_by="slack:U0ANA", decided_at=NOW, votes=["U0ANA"])
    card = approvals.card(done, NOW)
    assert card["blocks"][0]["text"]["text"] == "✅ Tool call approved"
    receipt = texts(card["blocks"][-1])
    assert "Approved by <@U0ANA>, <!date^" in receipt and " at <!date^" not in receipt


def test_show_run_names_the_trigger_as_the_alert_does():
    view = view_of_run(failed_run())
    alert = texts(alerts.alert_message(view, run_url_of=run_url, step_url=None, owners=[]))
    detail = texts(runs.run_detail(view, run_url))
    assert "manual by <@U0ANA>" in alert and "*Trigger*\\nmanual by <@U0ANA>" in detail


def test_logs_show_one_line_per_failure_with_its_date():
    at = "2026-11-25T09:01:00.000Z"
    entries = [
        {"timestamp": at, "severity": "error", "event_type": "run.failed", "run_id": "run_1", "message": "Run failed"},
        {"timestamp": at, "severity": "error", "event_type": "run.step.failed", "run_id": "run_1", "step_id": "s1"},
        {"timestamp": at, "severity": "error", "event_type": "run.failed", "run_id": "run_2", "message": "alone"},
    ]
    listing = lists.logs_list(entries, understood="/runs logs", run_url=run_url, next_value=None)
    body = texts(listing)
    assert body.count("run.step.failed") == 1 and body.count("`run.failed`") == 1, "run_1 once, run_2 once"
    assert "{date_short_pretty} {time_secs}" in body
    assert "2 entries, newest first (1 run.failed shown with their step's failure)" in body


def test_the_approve_confirmation_names_the_kind_and_the_run_as_the_card_does():
    card = approvals.card(a_task(kind="spend", action="Pay 3 vendors a total of $18,250", confirm=True), NOW)
    approve = next(e for b in card["blocks"] if b["type"] == "actions" for e in b["elements"] if e.get("confirm"))
    assert approve["confirm"]["title"]["text"] == "Approve this spend?"
    assert approve["confirm"]["text"]["text"] == "Pay 3 vendors a total of $18,250 (run_1 of Refund customer)"
    tool = approvals.card(a_task(confirm=True), NOW)
    assert '"Approve this tool call?"' in texts(tool)


def audit_row(action, target, detail=None, result="ok", user_id="U0ANA"):
    from types import SimpleNamespace

    return SimpleNamespace(
        at=NOW, user_id=user_id, action=action, target=target, detail=detail, result=result, message=None
    )


def test_the_audit_trail_says_alert_actions_in_words_and_counts_in_good_grammar():
    rows = [
        audit_row("alert_recovered", "run_A", "by run_B", user_id="runbot"),
        audit_row("alert_on_it", "run:run_A"),
        audit_row("alert_resolve", "storm:12"),
        audit_row("alert_mute", "wf_summaries", "C0ALERTS provider_unavailable 3600s"),
        audit_row("alert_mute", "wf_summaries", "C0ALERTS * 0s"),
        audit_row("alert_unmute", "wf_summaries", "C0ALERTS"),
        audit_row("incident_replay", "incident:3", result="refused", user_id="U0BEN"),
    ]
    lines = [str(lists.audit_line(r, {})) for r in rows]
    assert "runbot recorded the recovery of `run_A` by run_B" in lines[0]
    assert lines[1].endswith("<@U0ANA> is on `run_A`")
    assert lines[2].endswith("<@U0ANA> resolved the storm card")
    assert lines[3].endswith(
        "<@U0ANA> muted alerts of `wf_summaries` with `provider_unavailable` in <#C0ALERTS> for 1 h"
    )
    assert lines[4].endswith("muted alerts of `wf_summaries` in <#C0ALERTS> until unmuted")
    assert lines[5].endswith("<@U0ANA> unmuted alerts of `wf_summaries` in <#C0ALERTS>")
    assert lines[6].endswith("<@U0BEN> could not replay the affected runs of the incident card")
    assert not any("alert_" in line or "incident_" in line or "run:" in line for line in lines)
    one = texts(lists.audit_list(rows[:1], understood="/runs audit"))
    assert "1 entry, newest first" in one and "1 entries" not in one


def test_the_help_has_no_escaped_backticks():
    from bot.commands.grammar import EXAMPLES, SUBCOMMANDS
    from bot.render.mrkdwn import BACKTICK_LOOKALIKE

    shown = texts(replies.help_message([(s.usage, s.summary) for s in SUBCOMMANDS.values()], EXAMPLES))
    assert BACKTICK_LOOKALIKE not in shown, "a backtick in the code's own help text shows as ˋ"


def test_a_storm_card_header_says_its_state_before_its_count():
    from bot.render import storms
    from bot.views import view_of_storm

    state = {
        "workflow_id": "wf_summaries",
        "workflow_name": "Daily summaries",
        "error_code": "provider_unavailable",
        "count": 6,
        "first_at": NOW.isoformat(),
        "last_at": NOW.isoformat(),
        "newest": [],
    }
    header = storms.storm_message(view_of_storm(state), run_url_of=run_url)["blocks"][0]["text"]["text"]
    assert header == "🌩️ Daily summaries: 6 failures with provider_unavailable"
    # The command the card suggests is one /runs understands, and finds this burst's runs.
    from bot.commands.grammar import parse

    said = texts(storms.storm_message(view_of_storm(state), run_url_of=run_url))
    suggested = re.search(r"`/runs ([^`]+)`", said).group(1)
    command = parse(suggested)
    assert command.name == "failed" and command.flags == {"workflow": "wf_summaries", "code": "provider_unavailable"}
    done = {**state, "recovered": {"run_id": "run_ok", "at": NOW.isoformat()}}
    header = storms.storm_message(view_of_storm(done), run_url_of=run_url)["blocks"][0]["text"]["text"]
    assert header == "✅ Daily summaries recovered after 6 failures with provider_unavailable"


def test_a_recovered_alert_says_its_replay_succeeded_once():
    replay = {"run_id": "run_R", "by": "from the console", "status": "completed", "error_code": None}
    lifecycle = {"recovered": {"by": "run_R", "at": NOW.isoformat()}}
    payload = alerts.alert_message(
        view_of_run(failed_run()), run_url_of=run_url, step_url=None, owners=[], replays=[replay], lifecycle=lifecycle
    )
    body = texts(payload["blocks"])
    assert payload["blocks"][0]["text"]["text"].startswith("✅")
    assert "the replay succeeded" in body and "Recovered by" not in body
    # Recovered by a later run (a replay of the replay): the line names it, beside the replay that failed.
    failed = {**replay, "status": "failed", "error_code": "provider_error"}
    lifecycle = {"recovered": {"by": "run_C", "at": NOW.isoformat()}}
    payload = alerts.alert_message(
        view_of_run(failed_run()), run_url_of=run_url, step_url=None, owners=[], replays=[failed], lifecycle=lifecycle
    )
    assert "Recovered by" in texts(payload["blocks"]) and "run_C" in texts(payload["blocks"])


def test_the_home_tab_shows_its_own_commands_as_code_not_escaped_backticks():
    from bot.render import home
    from bot.render.mrkdwn import BACKTICK_LOOKALIKE

    view = home.home_view(home.Dashboard(tasks=[], decidable=frozenset(), approvers=""), NOW, run_url)
    shown = texts(view["blocks"])
    assert "You watch no run. `/runs watch RUN_ID` follows one." in shown and BACKTICK_LOOKALIKE not in shown
