"""Block Kit for the other listings of `/runs`: platform logs, the audit trail, what a channel is subscribed
to, pending approvals. Pure functions, no I/O; every piece of text goes through `bot.render.mrkdwn`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import ActionsBlock

from bot.render.approvals import approvals_list_lines
from bot.render.common import code_span, slack_date, trim_middle
from bot.render.mrkdwn import Mrkdwn, channel_mention, escape, join, link, mention_of, mrkdwn, single_line
from bot.render.runs import ID_LIMIT, NAME_LIMIT, RunUrl, _button, _chunked_sections, _context, _section, message
from bot.views import ApprovalView

# Logs

SEVERITY_MARK = {"debug": "·", "info": "ℹ️", "warn": "⚠️", "error": "🛑"}


def logs_list(entries: Sequence[dict], *, understood: str, run_url: RunUrl, next_value: str | None) -> dict:
    """The platform's log entries (its dicts are read field by field, every field escaped)."""
    if not entries:
        text = mrkdwn(
            "No log entries match {q}. Try a lower `--severity` or a longer `--since`.", q=code_span(understood)
        )
        return message(text, [_section(text)])
    lines = []
    for e in entries:
        run_id = single_line(e.get("run_id"), ID_LIMIT) if e.get("run_id") else None
        step_id = single_line(e.get("step_id"), ID_LIMIT) if e.get("step_id") else None
        where = mrkdwn(" {run}", run=link(run_url(run_id, step_id), run_id)) if run_id else ""
        lines.append(
            mrkdwn(
                "{mark} {at} {event}{where} {message}",
                mark=SEVERITY_MARK.get(e.get("severity"), "•"),
                at=slack_date(_time(e.get("timestamp")), "{time_secs}"),
                event=code_span(single_line(e.get("event_type") or "?", NAME_LIMIT)),
                where=where,
                message=single_line(trim_middle(str(e.get("message") or ""), 300)),
            )
        )
    blocks = [_section(Mrkdwn("*Platform logs*")), *_chunked_sections(lines)]
    blocks.append(_context(mrkdwn("{q} · {n} entries, newest first", q=code_span(understood), n=len(entries))))
    if next_value:
        blocks.append(ActionsBlock(elements=[_button("Next page", "runs_next_page", next_value)]).to_dict())
    return message(mrkdwn("{n} log entries for {q}", n=len(entries), q=single_line(understood, 300)), blocks)


def _time(value: Any):
    from bot.contract import parse_time

    try:
        return parse_time(value)
    except (TypeError, ValueError, OverflowError):
        return None


# Audit, subscriptions, approvals


def audit_list(entries: Sequence[Any], *, understood: str) -> dict:
    """The bot's own audit rows (who did what in Slack); every field is escaped, people are mentioned by id."""
    if not entries:
        text = mrkdwn("Nothing in the audit trail matches {q}.", q=code_span(understood))
        return message(text, [_section(text)])
    result_mark = {"ok": "✅", "refused": "🚫", "not_found": "❓", "bad_input": "✏️", "unavailable": "📡", "error": "⚠️"}
    lines = []
    for e in entries:
        line = mrkdwn(
            "{mark} {at} {who} *{action}*{target}: {result}",
            mark=result_mark.get(e.result, "•"),
            at=slack_date(e.at),
            who=mention_of(e.user_id),
            action=single_line(e.action, NAME_LIMIT),
            target=mrkdwn(" {t}", t=code_span(single_line(e.target, ID_LIMIT))) if e.target else "",
            result=single_line(e.result, 32),
        )
        if e.message:
            line = mrkdwn("{line}, {m}", line=line, m=single_line(trim_middle(e.message, 300)))
        if e.detail:
            line = mrkdwn("{line} _({d})_", line=line, d=single_line(trim_middle(e.detail, 300)))
        lines.append(line)
    blocks = [
        _section(Mrkdwn("*Audit trail*")),
        *_chunked_sections(lines),
        _context(mrkdwn("{q} · {n} entries, newest first", q=code_span(understood), n=len(entries))),
    ]
    return message(mrkdwn("{n} audit entries for {q}", n=len(entries), q=single_line(understood, 300)), blocks)


def subscriptions_list(
    channel: str, subs: Sequence[Any], names: dict[str, str], *, alert_channel: str | None, approval_channel: str | None
) -> dict:
    lines = []
    for s in subs:
        what = " and ".join(w for w, on in (("failure alerts", s.failures), ("approval cards", s.approvals)) if on)
        lines.append(
            mrkdwn(
                "• *{name}* ({id}): {what}",
                name=single_line(names.get(s.workflow_id, s.workflow_id), NAME_LIMIT),
                id=code_span(single_line(s.workflow_id, ID_LIMIT)),
                what=what,
            )
        )
    if channel == alert_channel:
        lines.append(Mrkdwn("• every workflow's failure alerts (this is `ALERT_CHANNEL`)"))
    if channel == approval_channel:
        lines.append(Mrkdwn("• every workflow's approval cards (this is `APPROVAL_CHANNEL`)"))
    if not lines:
        text = Mrkdwn(
            "This channel receives no failure alerts or approval cards. Subscribe with "
            "`/runs subscribe WORKFLOW` (failures) or `/runs subscribe WORKFLOW --approvals`."
        )
        return message(text, [_section(text)])
    text = mrkdwn("This channel receives:\n{lines}", lines=join("\n", lines))
    return message(
        text, [_section(mrkdwn("*{channel} receives*", channel=_channel(channel))), *_chunked_sections(lines)]
    )


def _channel(channel: str) -> Mrkdwn:
    try:
        return channel_mention(channel)
    except ValueError:
        return escape(single_line(channel, 80))


def approvals_list(tasks: Sequence[ApprovalView], run_url: RunUrl) -> dict:
    if not tasks:
        text = Mrkdwn("No approval task is waiting for a decision.")
        return message(text, [_section(text)])
    blocks = [
        _section(mrkdwn("*{n} pending approval task{s}*", n=len(tasks), s="s" if len(tasks) != 1 else "")),
        *_chunked_sections(approvals_list_lines(list(tasks), run_url)),
    ]
    return message(mrkdwn("{n} pending approval tasks", n=len(tasks)), blocks)
