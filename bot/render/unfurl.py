"""The compact card a run link unfurls into (`chat.unfurl`): status, workflow, progress, the failed step and its
error code, cost when known, started and duration, and the buttons that fit the status. Pure: a `RunView` in, blocks out."""

from __future__ import annotations

from slack_sdk.models.blocks import ActionsBlock, ContextBlock, MarkdownTextObject, SectionBlock

from bot.render.common import SECTION_LIMIT, code_span, duration, mark, progress_bar, slack_date, trim_middle
from bot.render.cost import money
from bot.render.mrkdwn import Mrkdwn, escape, join, link, mrkdwn
from bot.render.runs import RunUrl, _button, run_buttons
from bot.views import RunView


def _md(text: Mrkdwn) -> MarkdownTextObject:
    return MarkdownTextObject(text=trim_middle(escape(text), SECTION_LIMIT))


def run_unfurl(run: RunView, run_url: RunUrl) -> dict:
    """One run's unfurl: `{"blocks": [...]}` (the value under its URL in `chat.unfurl`'s `unfurls`)."""
    head = mrkdwn(
        "{mark} *{run}* · {workflow} · *{status}*",
        mark=mark(run.status),
        run=link(run_url(run.id), run.id),
        workflow=run.workflow_name,
        status=run.status,
    )
    facts: list = [code_span(progress_bar(run.completed_steps, run.total_steps))]
    if run.started_at or run.created_at:
        facts.append(mrkdwn("started {at}", at=slack_date(run.started_at or run.created_at)))
    if run.duration_ms is not None:
        facts.append(mrkdwn("took {d}", d=duration(run.duration_ms)))
    if run.model:
        facts.append(mrkdwn("model {m}", m=code_span(run.model)))
    cost = run.usage.cost_usd if run.usage is not None else None
    if cost is not None:  # "when known": a run the platform reported no cost for says nothing rather than $0.00
        facts.append(mrkdwn("cost {c}", c=money(cost)))
    blocks = [SectionBlock(text=_md(head)), ContextBlock(elements=[_md(join(" · ", facts))])]
    step = run.failed_step
    if step is not None:
        where = f"step {step.index + 1} of {run.total_steps}" if run.total_steps else "step"
        failed = mrkdwn(
            "Failed at {where} {name}{code}: {jump}",
            where=where,
            name=step.name or step.id,
            code=mrkdwn(" with {c}", c=code_span(run.error_code)) if run.error_code else Mrkdwn(""),
            jump=link(run_url(run.id, step.id), "jump to failed step"),
        )
        blocks.append(SectionBlock(text=_md(failed)))
    buttons = [_button("Show run", "run_show", run.id), *run_buttons(run.id, run.status)]
    blocks.append(ActionsBlock(elements=buttons[:5]))
    return {"blocks": [b.to_dict() for b in blocks]}
