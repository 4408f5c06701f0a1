"""The *Find a run* modal (global shortcut): filters on top, results below that update in place, each with *Show*
(a direct message) and the buttons the viewer may use. Pure: plain filters and run views in, a view out."""

from __future__ import annotations

from dataclasses import dataclass

from slack_sdk.models.blocks import (
    ActionsBlock,
    ContextBlock,
    DividerBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticMultiSelectElement,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.contract import RUN_STATUSES
from bot.render.common import SECTION_LIMIT, trim_middle
from bot.render.cost import money
from bot.render.mrkdwn import Mrkdwn, escape, mrkdwn, plain
from bot.render.runs import RunUrl, _button, run_buttons, run_line
from bot.views import RunView

CALLBACK = "runbot_find_run"
SHOW = "find_run_show"
FILTER_PREFIX = "find_filter_"
SINCE = {"1h": "Last hour", "24h": "Last 24 hours", "7d": "Last 7 days", "30d": "Last 30 days"}
RESULTS_LIMIT = 10  # 2 blocks a run, with the filters well within Slack's 100 blocks of a modal


@dataclass(frozen=True)
class Filters:
    statuses: tuple[str, ...] = ()
    workflow: str | None = None
    since: str | None = None  # a key of SINCE
    model: str | None = None
    error_code: str | None = None
    min_cost: str | None = None  # dollars as typed; shown once the platform reports usage


def loading_modal(title: str = "Find a run", text: str = "Loading…") -> dict:
    """Opened at once with the trigger, before any other I/O; `views.update` replaces it."""
    return View(
        type="modal",
        callback_id=CALLBACK,
        title=plain(title, 24),
        close="Close",
        blocks=[SectionBlock(text=MarkdownTextObject(text=escape(text)))],
    ).to_dict()


def _option(value: str, label: str) -> Option:
    return Option(value=value, label=plain(label, 75))


def _input(block_id: str, label: str, element, hint: str | None = None) -> InputBlock:
    # dispatch_action: a change of this filter is sent to the app at once, which updates the results in place.
    return InputBlock(block_id=block_id, label=label, element=element, optional=True, dispatch_action=True, hint=hint)


def _filters(filters: Filters, workflows: list[tuple[str, str]], *, cost_known: bool) -> list:
    statuses = [_option(s, s) for s in RUN_STATUSES]
    chosen = [o for o in statuses if o.value in filters.statuses]
    wf_options = [_option(wid, name) for wid, name in workflows[:100]]
    wf_initial = next((o for o in wf_options if o.value == filters.workflow), None)
    since_options = [_option(k, v) for k, v in SINCE.items()]
    since_initial = next((o for o in since_options if o.value == filters.since), None)
    blocks = [
        _input(
            "status",
            "Status",
            StaticMultiSelectElement(
                action_id=FILTER_PREFIX + "status",
                placeholder="Any status",
                options=statuses,
                initial_options=chosen or None,
            ),
        )
    ]
    if wf_options:
        blocks.append(
            _input(
                "workflow",
                "Workflow",
                StaticSelectElement(
                    action_id=FILTER_PREFIX + "workflow",
                    placeholder="Any workflow",
                    options=wf_options,
                    initial_option=wf_initial,
                ),
            )
        )
    blocks.append(
        _input(
            "since",
            "Started",
            StaticSelectElement(
                action_id=FILTER_PREFIX + "since",
                placeholder="Any time",
                options=since_options,
                initial_option=since_initial,
            ),
        )
    )
    texts = [("model", "Model", filters.model), ("error_code", "Error code", filters.error_code)]
    if cost_known:
        texts.append(("min_cost", "Cost at least (USD)", filters.min_cost))
    for block_id, label, value in texts:
        blocks.append(
            _input(
                block_id,
                label,
                PlainTextInputElement(
                    action_id=FILTER_PREFIX + block_id,
                    initial_value=value or None,
                    max_length=120,
                    placeholder="0.50" if block_id == "min_cost" else None,
                ),
                hint="Press Enter to apply" + (": runs of unknown cost are left out" if block_id == "min_cost" else ""),
            )
        )
    return blocks


def finder_modal(
    filters: Filters,
    workflows: list[tuple[str, str]],
    runs: list[RunView] | None,
    run_url: RunUrl,
    *,
    may_operate: bool,
    cost_known: bool = False,
    problem: str | None = None,
) -> dict:
    """The modal with its filters and, once searched, the newest matching runs (`runs` None: still searching);
    `problem` says what is wrong with a filter instead of results."""
    blocks: list = [*_filters(filters, workflows, cost_known=cost_known), DividerBlock()]
    if problem:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=f":warning: {escape(problem)}")))
    elif runs is None:
        blocks.append(SectionBlock(text=MarkdownTextObject(text="Searching…")))
    elif not runs:
        blocks.append(
            SectionBlock(text=MarkdownTextObject(text="No run matches these filters. Try fewer or a longer time."))
        )
    else:
        shown = runs[:RESULTS_LIMIT]
        blocks.append(
            ContextBlock(elements=[MarkdownTextObject(text=f"The {len(shown)} newest matching runs, newest first.")])
        )
        for run in shown:
            line = run_line(run, run_url, failed_view=run.status == "failed")
            cost = run.usage.cost_usd if run.usage is not None else None
            if cost_known:
                line = mrkdwn("{line} · {cost}", line=line, cost=money(cost))
            line = trim_middle(escape(line), SECTION_LIMIT)
            blocks.append(
                SectionBlock(
                    block_id=f"run:{run.id}"[:255],
                    text=MarkdownTextObject(text=line),
                    accessory=_button("Show", SHOW, run.id),
                )
            )
            buttons = run_buttons(run.id, run.status) if may_operate else []
            if buttons:
                blocks.append(ActionsBlock(block_id=f"acts:{run.id}"[:255], elements=buttons[:5]))
    return View(
        type="modal",
        callback_id=CALLBACK,
        title="Find a run",
        submit="Search",
        close="Close",
        blocks=blocks,
    ).to_dict()


def show_run_nothing_found() -> Mrkdwn:
    return mrkdwn(
        "No run IDs or run links in that message. *Show run* looks for IDs such as {example} and console run links.",
        example=Mrkdwn("`run_7Kq2x9`"),
    )
