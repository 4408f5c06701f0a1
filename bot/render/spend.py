"""`/runs cost` as Block Kit: the spend over a period of UTC days, its share on failed runs, the change
against the period before, and a compact table with a bar per row. Pure: rows in, blocks out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from bot.render.common import code_span
from bot.render.cost import UNKNOWN, money_micros
from bot.render.mrkdwn import Mrkdwn, code_block, join, mrkdwn, single_line
from bot.render.runs import _context, _section, message

BAR_WIDTH = 12
LABEL_WIDTH = 24


@dataclass(frozen=True)
class CostReport:
    """What `/runs cost` shows; rows have `key`, `label`, `runs`, `priced_runs` and `cost_micros`."""

    start: date
    end: date  # exclusive
    by: str
    rows: Sequence[Any]
    statuses: Sequence[Any]  # the same period by status: failed spend, totals, unknown costs
    previous: Sequence[Any]  # the period before, by status
    understood: str
    top: int = 10


def bar(value: int, largest: int) -> str:
    if largest <= 0 or value <= 0:
        return ""
    return "█" * max(1, round(BAR_WIDTH * value / largest))


def _change(now: int, before: int, before_priced: int) -> str:
    if before_priced == 0:
        return "no known spend the period before to compare with"
    if before == 0:
        return f"up from {money_micros(0)} the period before"
    pct = (now - before) * 100 / before
    direction = "up" if pct > 0 else "down" if pct < 0 else "level"
    amount = "" if direction == "level" else f" {abs(pct):.0f}%"
    return f"{direction}{amount} from {money_micros(before)} the period before"


def _label(row: Any, by: str) -> str:
    label = row.label or ("(no model)" if by == "model" else row.key)
    label = single_line(label, LABEL_WIDTH)
    return label if len(label) <= LABEL_WIDTH else label[: LABEL_WIDTH - 1] + "…"


def cost_report(report: CostReport) -> dict:
    days = (report.end - report.start).days
    last = report.end - timedelta(days=1)
    total = sum(r.cost_micros for r in report.statuses)
    runs = sum(r.runs for r in report.statuses)
    unknown = runs - sum(r.priced_runs for r in report.statuses)
    failed = sum(r.cost_micros for r in report.statuses if r.key == "failed")
    before = sum(r.cost_micros for r in report.previous)
    before_priced = sum(r.priced_runs for r in report.previous)
    period = f"{report.start.isoformat()} to {last.isoformat()}" if days > 1 else report.start.isoformat()
    title = mrkdwn("*Spend over {days} day{s} (UTC, {period})*", days=days, s="s" if days != 1 else "", period=period)
    if runs == 0:
        text = mrkdwn("{title}\nNo runs in this period. Try a longer `--since`.", title=title)
        return message(text, [_section(text)])
    lines = [
        mrkdwn(
            "{total} on {runs} run{s}, {change}",
            total=money_micros(total),
            runs=runs,
            s="s" if runs != 1 else "",
            change=_change(total, before, before_priced),
        ),
        mrkdwn(
            "{failed} on failed runs, {share} of {total}",
            failed=money_micros(failed),
            share=f"{failed * 100 / total:.0f}%" if total else "0%",
            total=money_micros(total),
        ),
    ]
    if unknown:
        lines.append(mrkdwn("{n} run{s} of unknown cost, not counted", n=unknown, s="s" if unknown != 1 else ""))
    shown = list(report.rows)[: report.top]
    largest = max((r.cost_micros for r in shown), default=0)
    table = []
    for r in shown:
        cost = money_micros(r.cost_micros) if r.priced_runs else UNKNOWN
        extra = f", {r.runs - r.priced_runs} unknown" if r.priced_runs and r.priced_runs < r.runs else ""
        table.append(
            f"{_label(r, report.by):<{LABEL_WIDTH}} {bar(r.cost_micros, largest):<{BAR_WIDTH}} {cost:>12}"
            f"  {r.runs} run{'s' if r.runs != 1 else ''}{extra}"
        )
    more = len(report.rows) - len(shown)
    blocks = [
        _section(mrkdwn("{title}\n{lines}", title=title, lines=join("\n", lines))),
        _section(mrkdwn("*By {by}*\n{table}", by=report.by, table=code_block("\n".join(table)))),
    ]
    foot = mrkdwn("{q} · from daily rollups", q=code_span(report.understood))
    if more > 0:
        foot = mrkdwn("{foot} · {n} more not shown", foot=foot, n=more)
    blocks.append(_context(foot))
    return message(mrkdwn("{title}\n{lines}", title=title, lines=join("\n", lines)), blocks)


def digest_spend_line(rows: Sequence[tuple[str, str, int, int, int]]) -> Mrkdwn | None:
    """The daily digest's spend line from (workflow, status, runs, priced runs, cost) rows of one day."""
    runs = sum(r[2] for r in rows)
    if runs == 0:
        return None
    total = sum(r[4] for r in rows)
    failed = sum(r[4] for r in rows if r[1] == "failed")
    unknown = runs - sum(r[3] for r in rows)
    line = mrkdwn(
        "Spend: {total} on {runs} run{s}, {failed} on failed runs ({share})",
        total=money_micros(total),
        runs=runs,
        s="s" if runs != 1 else "",
        failed=money_micros(failed),
        share=f"{failed * 100 / total:.0f}%" if total else "0%",
    )
    if unknown:
        line = mrkdwn("{line} · {n} of unknown cost", line=line, n=unknown)
    return line


def with_spend_line(payload: dict, line: Mrkdwn | None) -> dict:
    """A digest payload with its spend line as one more context block."""
    if line is None:
        return payload
    blocks = [*(payload.get("blocks") or []), _context(line)]
    return {**payload, "text": f"{payload.get('text', '')} {line}", "blocks": blocks}
