"""The App Home tab, a dashboard for the person looking at it (pure builder): pending approvals, soonest expiry
first, with buttons on those they may decide; the runs they watch; failures of the last hours of the workflows
their channels hear, open ones first; the runs they triggered. Each section is a plain list of views, so the
suite's later parts (who is on a failure, today's spend) slot in as one more field or section."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

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
from bot.render.common import SECTION_LIMIT, mark, slack_date, trim_middle
from bot.render.mrkdwn import Mrkdwn, escape, mrkdwn
from bot.render.runs import RunUrl, _button, run_line
from bot.views import RunView

HOME_TASK_LIMIT = 12  # up to 4 blocks each, with the other sections within a home view's 100


@dataclass(frozen=True)
class Dashboard:
    tasks: list[TaskView]  # pending, soonest expiry first
    decidable: frozenset[str]  # ids of the tasks this person may decide
    approvers: str  # mrkdwn the bot made (mentions of the APPROVERS setting)
    watched: list[RunView] = field(default_factory=list)
    failures: list[tuple[RunView, bool]] = field(default_factory=list)  # (run, still open), open ones first
    failure_hours: float = 24
    failures_known: bool = True  # False when Slack would not say which channels the person is in
    triggered: list[RunView] = field(default_factory=list)


def _md(text: Mrkdwn) -> MarkdownTextObject:
    return MarkdownTextObject(text=trim_middle(escape(text), SECTION_LIMIT))


def _context(text: Mrkdwn) -> ContextBlock:
    return ContextBlock(elements=[_md(text)])


def _runs(title: str, runs: list[RunView], run_url: RunUrl, empty: str, notes: dict[str, str] | None = None) -> list:
    blocks: list = [DividerBlock(), HeaderBlock(text=PlainTextObject(text=title, emoji=True))]
    if not runs:
        return [*blocks, _context(Mrkdwn(empty))]  # the code's own words, with their `/runs …` in code
    for run in runs:
        line = run_line(run, run_url, failed_view=run.status == "failed")
        if notes and notes.get(run.id):
            line = mrkdwn("{line} · _{note}_", line=line, note=notes[run.id])
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


def home_view(d: Dashboard, now: datetime, run_url: RunUrl) -> dict:
    blocks = _approvals(d, now)
    blocks += _runs("Runs you watch", d.watched, run_url, "You watch no run. `/runs watch RUN_ID` follows one.")
    hours = f"{d.failure_hours:g}"
    if d.failures_known:
        open_runs = {run.id: "open" if still_open else "replayed successfully" for run, still_open in d.failures}
        blocks += _runs(
            f"Failures in the last {hours} h",
            [run for run, _ in d.failures],
            run_url,
            "No failure of the workflows your channels follow.",
            open_runs,
        )
    else:
        blocks += [
            DividerBlock(),
            HeaderBlock(text=PlainTextObject(text=f"Failures in the last {hours} h", emoji=True)),
            _context(Mrkdwn("Slack did not say which channels you are in, so failures are not listed.")),
        ]
    blocks += _runs("Runs you triggered", d.triggered, run_url, "No run of yours is known yet.")
    blocks.append(DividerBlock())
    blocks.append(_context(mrkdwn("Updated {at}", at=slack_date(now))))
    return View(type="home", callback_id="home", blocks=blocks[:100]).to_dict()
