"""The unfurl card, the Find a run modal and the App Home dashboard show hostile platform text, never obey it."""

from __future__ import annotations

from bot.render import finder, home, unfurl
from bot.render.lifecycle import list_mark
from bot.views import view_of_run
from tests.render.test_renderers import EVIL_ID, NOW, failed_run, foreign, run_url

HOSTILE = "<!channel> <https://evil.example|Click to approve> `x` &lt;"


def hostile_run(**overrides):
    run = failed_run(workflow={"id": "wf_1", "name": HOSTILE}, model=HOSTILE, **overrides)
    run["steps"][1]["error"]["code"] = HOSTILE
    run["steps"][1]["name"] = HOSTILE
    return view_of_run(run)


def test_the_unfurl_card_escapes_the_workflow_step_code_and_model():
    card = unfurl.run_unfurl(hostile_run(), run_url)
    assert not foreign({"blocks": card["blocks"]}), foreign({"blocks": card["blocks"]})
    assert "&lt;!channel&gt;" in str(card)
    card = unfurl.run_unfurl(hostile_run(id=EVIL_ID), run_url)
    assert not foreign({"blocks": card["blocks"]})


def test_the_finder_and_the_dashboard_escape_every_run_field():
    runs = [hostile_run(), hostile_run(id=EVIL_ID)]
    modal = finder.finder_modal(finder.Filters(model=HOSTILE), [("wf_1", HOSTILE)], runs, run_url, may_operate=True)
    assert not foreign({"blocks": modal["blocks"]}), foreign({"blocks": modal["blocks"]})
    on_it = {"on_it": [{"user": "U0ANA", "since": NOW.isoformat()}]}
    board = home.Dashboard(
        tasks=[],
        decidable=frozenset(),
        approvers="",
        watched=runs,
        failures=[home.FailureLine(r, "on_it", list_mark(on_it)) for r in runs],
        triggered=runs,
        spend=home.DaySpend(NOW.date(), [(HOSTILE, "failed", 3, 2, 1_234_567)]),
    )
    view = home.home_view(board, NOW, run_url)
    assert not foreign({"blocks": view["blocks"]}), foreign({"blocks": view["blocks"]})
