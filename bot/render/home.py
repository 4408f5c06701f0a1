"""The App Home tab, a dashboard for the person looking at it (pure builder): pending approvals, soonest expiry
first, with buttons on those they may decide; the runs they watch; failures of the last hours of the workflows
their channels hear, open ones first, with who is on each (or who resolved it, or the replay that recovered it);
the runs they triggered; and, once the platform reports usage, today's spend from the daily rollups."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from slack_sdk.models.blocks import (
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.render.approvals import TaskView, summary_blocks
from bot.render.common import SECTION_LIMIT, code_span, mark, slack_date, trim_middle
from bot.render.cost import money_micros
from bot.render.mrkdwn import Mrkdwn, escape, join, mrkdwn, single_line
from bot.render.runs import RunUrl, _button, run_line
from bot.render.spend import digest_spend_line
from bot.views import RunView

SPEND_TOP = 3  # workflows named in today's spend
HOME_TASK_LIMIT = 12  # up to 4 blocks each, with the other sections within a home view's 100


@dataclass(frozen=True)
class FailureLine:
    run: RunView
    state: str  # open, on_it, resolved or recovered (bot.render.lifecycle.state_of)
    mark: Mrkdwn  # who is on it, resolved by whom, recovered by which run (bot.render.lifecycle.list_mark)

    @property
    def open(self) -> bool:
        return self.state in ("open", "on_it")


@dataclass(frozen=True)
class DaySpend:
    day: date
    rows: list  # (workflow id, status, runs, priced runs, cost in micro-dollars) of the runs created that day


@dataclass(frozen=True)
class Dashboard:
    tasks: list[TaskView]  # pending, soonest expiry first
    decidable: frozenset[str]  # ids of the tasks this person may decide
    approvers: str  # mrkdwn the bot made (mentions of the APPROVERS setting)
    watched: list[RunView] = field(default_factory=list)
    failures: list[FailureLine] = field(default_factory=list)  # open ones first
    failure_hours: float = 24
    failures_known: bool = True  # False when Slack would not say which channels the person is in
    triggered: list[RunView] = field(default_factory=list)
    spend: DaySpend | None = None  # None until the platform reports usage


def _md(text: Mrkdwn) -> MarkdownTextObject:
    return MarkdownTextObject(text=trim_middle(escape(text), SECTION_LIMIT))


def _context(text: Mrkdwn) -> ContextBlock:
    return ContextBlock(elements=[_md(text)])


def _runs(title: str, runs: list[RunView], run_url: RunUrl, empty: str, notes: dict[str, Mrkdwn] | None = None) -> list:
    blocks: list = [DividerBlock(), HeaderBlock(text=PlainTextObject(text=title, emoji=True))]
    if not runs:
        return [*blocks, _context(Mrkdwn(empty))]  # the code's own words, with their `/runs …` in code
    for run in runs:
        line = run_line(run, run_url, failed_view=run.status == "failed")
        if notes and notes.get(run.id):
            line = mrkdwn("{line} · {note}", line=line, note=notes[run.id])
        blocks.append(SectionBlock(text=_md(line), accessory=_button("Show", "run_show", run.id)))
    return blocks


def _approvals(d: Dashboard, now: datetime) -> list:
    count = len(d.tasks)
    title = f"Approvals · {count} pending" if count else "Approvals · none pending"
    blocks: list = [HeaderBlock(text=PlainTextObject(text=title, emoji=True))]
    if d.tasks and not d.decidable:
        blocks.append(
            _context(mrkdwn("You can follow these tasks; only approvers decide them: {who}.", who=Mrkdwn(d.approvers)))
        )
    if not d.tasks:
        blocks.append(SectionBlock(text=_md(Mrkdwn(f"{mark('approved')} Nothing is waiting for a decision."))))
    for view in d.tasks[:HOME_TASK_LIMIT]:
        blocks.append(DividerBlock())
        blocks.extend(summary_blocks(view, now, buttons=view.id in d.decidable))
    if count > HOME_TASK_LIMIT:
        blocks.append(_context(Mrkdwn(f"…and {count - HOME_TASK_LIMIT} more, expiring later, in the console.")))
    return blocks


def _spend(spend: DaySpend) -> list:
    """Today's spend: the total, its share on failed runs, runs of unknown cost counted apart, and the workflows
    that spent most."""
    blocks: list = [DividerBlock(), HeaderBlock(text=PlainTextObject(text="Today's spend", emoji=True))]
    line = digest_spend_line(spend.rows)
    if line is None:
        return [*blocks, _context(mrkdwn("No run started today ({day} UTC) yet.", day=spend.day.isoformat()))]
    by_workflow: dict[str, int] = {}
    for workflow, _status, _runs, _priced, cost in spend.rows:
        by_workflow[workflow] = by_workflow.get(workflow, 0) + cost
    top = sorted(((c, w) for w, c in by_workflow.items() if c > 0), key=lambda p: (-p[0], p[1]))[:SPEND_TOP]
    lines = [Mrkdwn(line.removeprefix("Spend: "))]  # the header says it already
    if top:
        words = [mrkdwn("{w} {c}", w=code_span(single_line(w, 64)), c=money_micros(c)) for c, w in top]
        lines.append(mrkdwn("Most: {top}", top=join(" · ", words)))
    blocks.append(SectionBlock(text=_md(join("\n", lines))))
    blocks.append(
        _context(mrkdwn("Runs started today ({day} UTC), from the daily rollups.", day=spend.day.isoformat()))
    )
    return blocks


def home_view(d: Dashboard, now: datetime, run_url: RunUrl) -> dict:
    blocks = _approvals(d, now)
    blocks += _runs("Runs you watch", d.watched, run_url, "You watch no run. `/runs watch RUN_ID` follows one.")
    hours = f"{d.failure_hours:g}"
    if d.failures_known:
        marks = {f.run.id: f.mark or Mrkdwn("🔴 open, nobody on it") for f in d.failures}
        blocks += _runs(
            f"Failures in the last {hours} h",
            [f.run for f in d.failures],
            run_url,
            "No failure of the workflows your channels follow.",
            marks,
        )
    else:
        blocks += [
            DividerBlock(),
            HeaderBlock(text=PlainTextObject(text=f"Failures in the last {hours} h", emoji=True)),
            _context(Mrkdwn("Slack did not say which channels you are in, so failures are not listed.")),
        ]
    blocks += _runs("Runs you triggered", d.triggered, run_url, "No run of yours is known yet.")
    if d.spend is not None:
        blocks += _spend(d.spend)
    blocks.append(DividerBlock())
    blocks.append(_context(mrkdwn("Updated {at}", at=slack_date(now))))
    return View(type="home", callback_id="home", blocks=blocks[:100]).to_dict()
