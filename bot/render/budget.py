"""Budget notifications: a run or a workflow's UTC day crossing its cost threshold, with *Pause* (for
operators, while the run can be paused) and *Show run*. Pure; every piece of text is escaped."""

from __future__ import annotations

from slack_sdk.models.blocks import ActionsBlock, ButtonElement

from bot.contract import ALLOWED_FROM
from bot.render.cost import money_micros
from bot.render.mrkdwn import link, mrkdwn
from bot.render.runs import RunUrl, _context, _section, message


def _buttons(run_id: str, status: str) -> dict:
    elements = []
    if status in ALLOWED_FROM["pause"]:
        elements.append(ButtonElement(text="Pause", action_id="run_pause", value=run_id))
    elements.append(ButtonElement(text="Show run", action_id="run_show", value=run_id))
    return ActionsBlock(elements=elements).to_dict()


def run_budget_message(
    *, run_id: str, workflow: str, status: str, cost_micros: int, budget_micros: int, run_url: RunUrl
) -> dict:
    text = mrkdwn(
        "💸 *Over budget*: {run} of {workflow} has cost {cost}, over the per-run budget of {budget}.",
        run=link(run_url(run_id), run_id),
        workflow=workflow,
        cost=money_micros(cost_micros),
        budget=money_micros(budget_micros),
    )
    blocks = [_section(text), _context(mrkdwn("Status {status} · `BUDGET_RUN_USD`", status=status))]
    return message(text, [*blocks, _buttons(run_id, status)])


def workflow_budget_message(
    *, workflow: str, day: str, spent_micros: int, budget_micros: int, run_id: str, status: str, run_url: RunUrl
) -> dict:
    text = mrkdwn(
        "💸 *Over budget*: {workflow} has spent {spent} on runs started {day} (UTC), over its daily budget of "
        "{budget}. Latest: {run}.",
        workflow=workflow,
        spent=money_micros(spent_micros),
        day=day,
        budget=money_micros(budget_micros),
        run=link(run_url(run_id), run_id),
    )
    blocks = [_section(text), _context(mrkdwn("Latest run {status} · `BUDGET_WORKFLOW_DAILY_USD`", status=status))]
    return message(text, [*blocks, _buttons(run_id, status)])
