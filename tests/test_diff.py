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
    assert "`/runs diff run_diff_a run_diff_b --share` posts it here with the whole diff in its thread" in text
    await h.slack.click(answer, "run_diff_full", user_id=USER)
    # A "Loading…" modal opens with the click's trigger at once; the diff replaces it (views.update).
    modal = await h.slack.wait_for(
        lambda s: next((v for v in s.open_views(USER) if v.callback_id == "run_diff_modal"), None), timeout=15
    )
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
    original_alert = next(
        m for m in h.slack.messages("C0ALERTS") if "run_cmp_a" in shown(m) and "run_diff" not in shown(m)
    )
    ended = await h.slack.wait_for(
        lambda s: next(
            (r for r in h.slack.messages("C0ALERTS", thread_ts=original_alert.ts) if "The replay" in shown(r)), None
        ),
        timeout=15,
    )
    assert "run_diff" in shown(ended)  # Compare with original in the thread too


async def test_the_replay_modal_names_the_workflow_and_error_and_offers_the_models_seen(harness):
    h = harness
    await h.start_run("wf_invoices", "succeed", model="gpt-4.1", id="run_rm_seen")
    failed = await h.start_run("wf_invoices", "fail", id="run_rm_fail")
    await stored(h, "run_rm_seen", "completed")
    await stored(h, failed["id"], "failed")
    choice = await command(h, "replay run_rm_fail")
    await h.slack.click(choice, "run_replay_changes")
    modal = await h.slack.wait_for(
        lambda s: next((v for v in s.open_views(USER) if v.callback_id == "replay_modal"), None)
    )
    blocks = json.dumps(modal.blocks)
    assert "*Invoice triage*" in blocks and "provider_rate_limited" in blocks and "step 3 of 5" in blocks
    select = next(b for b in modal.blocks if b.get("block_id") == "model_choice")["element"]
    assert [o["value"] for o in select["options"]][:2] == ["gpt-4.1-mini", "gpt-4.1"]
    assert select["initial_option"]["value"] == "gpt-4.1-mini" and select["options"][-1]["value"] == "__other__"
    other = await h.slack.submit_view(modal, {"model_choice": {"value": "__other__"}})
    assert other.body["response_action"] == "errors" and "model" in other.body["errors"]
    result = await h.slack.submit_view(modal, {"model_choice": {"value": "gpt-4.1"}})
    assert result.ok and result.body["response_action"] == "update"
    await h.slack.wait_for(lambda s: s.views[modal.id].title == "Replayed", timeout=15)
    async with h.svc.sessions() as s:
        from sqlalchemy import select as sql_select

        from store.models import Run

        replay = (await s.scalars(sql_select(Run).where(Run.replay_of == "run_rm_fail"))).first()
    assert replay is not None and (await h.api("GET", f"/runs/{replay.id}"))[1]["model"] == "gpt-4.1"


async def test_a_shared_diff_is_trimmed_in_the_channel_with_the_whole_in_its_thread(harness):
    h = harness
    before = " ".join(f"Rule {i}: classify invoices of vendor group {i} with care." for i in range(600))
    after = before.replace("with care", "with great care").replace("Rule 599:", "Rule <!channel> 599:")
    await h.start_run("wf_invoices", "fail", prompt=before, id="run_dith_a")
    await h.start_run("wf_invoices", "succeed", prompt=after, replay_of="run_dith_a", id="run_dith_b")
    await stored(h, "run_dith_a", "failed")
    await stored(h, "run_dith_b", "completed")
    await command(h, "diff run_dith_a run_dith_b --share")
    await later(h, lambda t: "Posted the comparison in the channel" in t)

    def posted():
        return next((m for m in h.slack.messages("C0GENERAL", top_level=True) if "run_dith_b" in shown(m)), None)

    top = await h.slack.wait_for(lambda s: posted(), timeout=15)
    assert "Shared by" in shown(top) and "the whole diff is in the thread" in shown(top) and "599" not in shown(top)

    def thread():
        replies = h.slack.messages("C0GENERAL", thread_ts=top.ts)[1:]
        return replies if replies and "part" in shown(replies[0]) and len(replies) >= total(replies[0]) else None

    def total(reply) -> int:
        return int((reply.text or "").rsplit(" of ", 1)[1])

    replies = await h.slack.wait_for(lambda s: thread(), timeout=30)
    assert len(replies) == total(replies[0]) >= 2  # a long diff goes in several replies Slack accepted
    whole = "".join(shown(r) for r in replies)
    assert "vendor group 599 with great care" in whole  # the end of the diff
    assert "&lt;!channel&gt;" in whole and "<!channel>" not in whole  # as data
    assert "great care" in whole and "Rule 3: classify" in whole
    for reply in replies:
        for block in reply.blocks:
            assert len((block.get("text") or {}).get("text") or "") <= 3000
