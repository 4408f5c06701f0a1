"""`/runs diff A B`, *Compare with original* on a replay's alert, and *Full diff*: end to end through the Slack
stand-in, the bot and the reference platform."""

from __future__ import annotations

import json

from tests.test_commands import USER, command, later, shown, stored

LONG_PROMPT = " ".join(f"Rule {i}: classify invoices of vendor group {i} with care." for i in range(60))


async def test_diff_shows_model_prompt_steps_and_first_divergence_with_a_full_diff_modal(harness):
    h = harness
    original = await h.start_run("wf_invoices", "fail", prompt=LONG_PROMPT, id="run_diff_a")
    changed = LONG_PROMPT.replace("Rule 3:", "Rule three:").replace("Rule 50:", "Rule fifty <b>:")
    replay = await h.start_run(
        "wf_invoices", "succeed", prompt=changed, model="gpt-4.1", replay_of=original["id"], id="run_diff_b"
    )
    await stored(h, original["id"], "failed")
    await stored(h, replay["id"], "completed")
    await command(h, "diff run_diff_a run_diff_b")
    answer = await later(h, lambda t: "First divergence" in t)
    text = shown(answer)
    assert "gpt-4.1-mini" in text and "`gpt-4.1`" in text
    assert "+" in text and "Rule three:" in text and "step 3 Summarise with LLM" in text
    assert "provider_rate_limited" in text and "Full diff" in text and "fifty" not in text
    await h.slack.click(answer, "run_diff_full", user_id=USER)
    modal = await h.slack.wait_for(lambda s: next(iter(s.open_views(USER)), None), timeout=15)
    whole = json.dumps(modal.blocks, ensure_ascii=False)
    assert "fifty &lt;b&gt;:" in whole and "<b>" not in whole  # the part the message trimmed, escaped

    other = await h.start_run("wf_summaries", "succeed", id="run_diff_c")
    await stored(h, other["id"], "completed")
    await command(h, "diff run_diff_a run_diff_c")
    refused = await later(h, lambda t: "compares two runs of one workflow" in t)
    assert "Daily summaries" in shown(refused)


async def test_a_failed_replays_alert_compares_it_with_the_original(harness):
    h = harness
    original = await h.start_run("wf_invoices", "fail", id="run_cmp_a")
    await stored(h, original["id"], "failed")
    replay = await h.start_run("wf_invoices", "fail", model="gpt-4.1", replay_of=original["id"], id="run_cmp_b")
    await stored(h, replay["id"], "failed")
    await h.settled()

    def alert_with_compare():
        for m in h.slack.messages("C0ALERTS"):
            if "run_diff" in shown(m) and "run_cmp_b" in shown(m):
                return m
        return None

    alert = await h.slack.wait_for(lambda s: alert_with_compare(), timeout=15)
    await h.slack.click(alert, "run_diff", user_id=USER)
    answer = await later(h, lambda t: "run_cmp_a" in t and "run_cmp_b" in t and "Model" in t, channel="C0ALERTS")
    assert "Prompt*: the same" in shown(answer)
