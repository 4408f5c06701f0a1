"""Pure pieces of issue 16's rendering: ordinals, states that never contradict, hostile notes kept as data."""

from __future__ import annotations

import json

from bot.render.lifecycle import (
    advice_for,
    header_words,
    lifecycle_buttons,
    lifecycle_lines,
    list_mark,
    ordinal,
    state_of,
)


def url(run_id, step=None):
    return f"https://platform.test/runs/{run_id}"


def test_ordinals():
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 101, 111)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "101st", "111th",
    ]  # fmt: skip


def test_recovered_wins_and_settled_cards_offer_no_lifecycle_buttons():
    on_it = [{"user": "U0ANA", "since": "2026-12-02T10:42:00+00:00"}]
    recovered = {"by": "run_B", "at": "2026-12-02T11:00:00+00:00"}
    resolved = {"by": "U0BEN", "at": "2026-12-02T10:50:00+00:00", "note": None}
    lc = {"on_it": on_it, "resolved": resolved, "recovered": recovered}
    assert state_of(lc) == "recovered"
    assert header_words(lc, "❌ Invoice triage failed") == "✅ Invoice triage recovered"
    assert lifecycle_buttons("run:run_A", lc) == []
    assert len(lifecycle_lines(lc, url)) == 1 and "run_B" in lifecycle_lines(lc, url)[0]
    assert state_of({"on_it": on_it}) == "on_it" and len(lifecycle_buttons("run:run_A", {"on_it": on_it})) == 2
    assert state_of({"on_it": []}) == state_of(None) == "open"


def test_a_resolution_note_is_data_not_markup():
    lc = {"on_it": [], "resolved": {"by": "U0BEN", "at": "2026-12-02T10:50:00+00:00", "note": "<!channel> *x*\nnext"}}
    line = lifecycle_lines(lc, url)[0]
    assert "<!channel>" not in line and "&lt;!channel&gt;" in line and "\n" not in line
    assert "resolved by <@U0BEN>" in list_mark(lc)


def test_advice_names_the_approvers_and_the_credentials():
    assert "<@U0ANA>" in advice_for("approval_expired", ["U0ANA"])
    assert "fix them first" in advice_for("auth_failed", [])
    assert advice_for("provider_timeout", []) is None
    json.dumps(advice_for("approval_expired", []))
