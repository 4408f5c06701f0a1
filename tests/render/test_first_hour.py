"""What a newcomer reads in the first hour (issue 19): plain words, no contradictions, one way to say a thing."""

from __future__ import annotations

import json

from bot.render import alerts, prompts, replies, runs
from bot.views import view_of_run
from tests.render.test_renderers import failed_run, run_url


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
