"""Cost and tokens as people read them: dollars with the precision a small LLM bill needs, "cost unknown"
where the platform reported none (never "$0.00"), the per-step breakdown of `/runs show` and the short
cost line of a failure alert. Pure functions from views; every piece of text goes through `mrkdwn`."""

from __future__ import annotations

from bot.render.common import code_span
from bot.render.mrkdwn import Mrkdwn, escape, join, mrkdwn
from bot.views import RunView, StepView, UsageView

UNKNOWN = "cost unknown"


def money(dollars: float | None) -> str:
    """$12.40, $0.42, $0.0013, <$0.0001; "cost unknown" for None."""
    if dollars is None:
        return UNKNOWN
    if dollars == 0:
        return "$0.00"
    if dollars < 0.0001:
        return "<$0.0001"
    if dollars < 0.01:
        return f"${dollars:.4f}"
    return f"${dollars:,.2f}"


def money_micros(micros: int | None) -> str:
    return money(None if micros is None else micros / 1_000_000)


def tokens(count: int | None) -> str:
    if count is None:
        return "?"
    return f"{count / 1000:.1f}k" if count >= 10_000 else f"{count:,}"


def cost_of(usage: UsageView | None) -> float | None:
    return usage.cost_usd if usage is not None else None


def usage_words(usage: UsageView | None) -> Mrkdwn:
    """ "1,040 in · 534 out · $0.0013", or "cost unknown" when nothing was reported."""
    if usage is None or (usage.input_tokens is None and usage.output_tokens is None and usage.cost_usd is None):
        return escape(UNKNOWN)
    return mrkdwn(
        "{i} in · {o} out · {cost}",
        i=tokens(usage.input_tokens),
        o=tokens(usage.output_tokens),
        cost=money(usage.cost_usd),
    )


def alert_cost_words(run: RunView) -> Mrkdwn:
    """The alert's one short line: what the failed run cost and what it burned on the failed step."""
    total = cost_of(run.usage)
    if total is None:
        return escape("Cost unknown")
    step = run.failed_step
    burned = cost_of(step.usage) if step else None
    if step is None or step.usage is None:
        return mrkdwn("Cost {total}", total=money(total))
    return mrkdwn("Cost {total} ({burned} on the failed step)", total=money(total), burned=money(burned))


def _step_line(step: StepView) -> Mrkdwn:
    return mrkdwn("{n}. {name}: {usage}", n=step.index + 1, name=step.name or step.id, usage=usage_words(step.usage))


def cost_breakdown(run: RunView) -> list[Mrkdwn]:
    """Lines for `/runs show`: each step that reported usage (the others, when the run has usage, are of
    unknown cost), and the total."""
    if run.usage is None and not any(s.usage for s in run.steps):
        return [Mrkdwn("*Cost*: unknown (the platform reported no usage for this run)")]
    lines = [mrkdwn("*Cost*: {total}", total=usage_words(run.usage))]
    for step in run.steps:
        if step.usage is not None:
            lines.append(_step_line(step))
    if run.usage is not None and run.usage.cost_usd is None and any(s.usage for s in run.steps):
        unpriced = [s for s in run.steps if s.usage is not None and s.usage.cost_usd is None]
        if unpriced:
            lines.append(
                mrkdwn(
                    "_The total is unknown: {names} reported tokens without a cost._",
                    names=join(", ", [code_span(s.name or s.id) for s in unpriced]),
                )
            )
    return lines
