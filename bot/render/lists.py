"""Block Kit for the other listings of `/runs`: platform logs, the audit trail, what a channel is subscribed
to, pending approvals. Pure functions, no I/O; every piece of text goes through `bot.render.mrkdwn`."""

from __future__ import annotations

import re
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
    # One line per failure: a run's `run.failed` says again what its `run.step.failed` said, with less.
    step_failed = {e.get("run_id") for e in entries if e.get("event_type") == "run.step.failed"}
    shown = [e for e in entries if not (e.get("event_type") == "run.failed" and e.get("run_id") in step_failed)]
    lines = []
    for e in shown:
        run_id = single_line(e.get("run_id"), ID_LIMIT) if e.get("run_id") else None
        step_id = single_line(e.get("step_id"), ID_LIMIT) if e.get("step_id") else None
        where = mrkdwn(" {run}", run=link(run_url(run_id, step_id), run_id)) if run_id else ""
        lines.append(
            mrkdwn(
                "{mark} {at} {event}{where} {message}",
                mark=SEVERITY_MARK.get(e.get("severity"), "•"),
                at=slack_date(_time(e.get("timestamp")), "{date_short_pretty} {time_secs}"),
                event=code_span(single_line(e.get("event_type") or "?", NAME_LIMIT)),
                where=where,
                message=single_line(trim_middle(str(e.get("message") or ""), 300)),
            )
        )
    blocks = [_section(Mrkdwn("*Platform logs*")), *_chunked_sections(lines)]
    folded = len(entries) - len(shown)
    blocks.append(
        _context(
            mrkdwn(
                "{q} · {n} {w}, newest first{folded}",
                q=code_span(understood),
                n=len(shown),
                w="entry" if len(shown) == 1 else "entries",
                folded=f" ({folded} run.failed shown with their step's failure)" if folded else "",
            )
        )
    )
    if next_value:
        blocks.append(ActionsBlock(elements=[_button("Next page", "runs_next_page", next_value)]).to_dict())
    entries_word = "entry" if len(shown) == 1 else "entries"
    return message(mrkdwn("{n} log {w} for {q}", n=len(shown), w=entries_word, q=single_line(understood, 300)), blocks)


def _time(value: Any):
    from bot.contract import parse_time

    try:
        return parse_time(value)
    except (TypeError, ValueError, OverflowError):
        return None


# Audit, subscriptions, approvals


AUDIT_MARK = {"ok": "✅", "refused": "🚫", "not_found": "❓", "bad_input": "✏️", "unavailable": "📡", "error": "⚠️"}
AUDIT_DONE = {
    "pause": "paused",
    "resume": "resumed",
    "cancel": "cancelled",
    "replay": "replayed",
    "approval.approve": "approved",
    "approval.reject": "rejected",
    "subscribe": "subscribed",
    "unsubscribe": "unsubscribed",
    "alert_on_it": "is on",
    "alert_off_it": "is no longer on",
    "alert_resolve": "resolved",
    "alert_recovered": "recorded the recovery of",
    "alert_mute": "muted alerts of",
    "alert_unmute": "unmuted alerts of",
    "incident_replay": "replayed the affected runs of",
}
AUDIT_TRIED = {
    "approval.approve": "approve",
    "approval.reject": "reject",
    "alert_on_it": "take on",
    "alert_resolve": "resolve",
    "alert_mute": "mute alerts of",
    "alert_unmute": "unmute alerts of",
    "incident_replay": "replay the affected runs of",
}
CHANNEL_DETAIL = re.compile(r"^(?:channel )?([CGD][A-Z0-9]{2,})(?: failures=\w+ approvals=\w+)?$")
# What alert_mute records: "C0ALERTS provider_unavailable 3600s" (`*`: every code; 0 s: until unmuted).
MUTE_DETAIL = re.compile(r"^([CGD][A-Z0-9]{2,}) (\S+) (\d+)s$")
CARD_TARGET = re.compile(r"^(storm|incident):\d+$")


def _audit_target(target: str) -> Any:
    """A run as its id, a card as words ("the storm card"), anything else as it was recorded."""
    if target.startswith("run:"):
        target = target[4:]
    card = CARD_TARGET.match(target)
    if card:
        return mrkdwn(" the {kind} card", kind=card.group(1))
    return mrkdwn(" {t}", t=code_span(single_line(target, ID_LIMIT)))


def _mute_detail(found: re.Match) -> Mrkdwn:
    channel, code, seconds = found.group(1), found.group(2), int(found.group(3))
    with_code = mrkdwn(" with {c}", c=code_span(single_line(code, NAME_LIMIT))) if code != "*" else ""
    hours = seconds / 3600
    span = "until unmuted" if not seconds else f"for {hours:g} h" if hours >= 1 else f"for {seconds} s"
    return mrkdwn("{code} in {c} {span}", code=with_code, c=channel_mention(channel), span=span)


def audit_line(e: Any, approvals: dict[str, tuple[str, str]]) -> Mrkdwn:
    """One audit row in words: "✅ today 7:04 PM @Sam approved “Send refund…” (run_x): now approved".
    `approvals` maps an approval id to (what it gates, its run), so people read what was decided, not an id."""
    action = single_line(e.action, NAME_LIMIT)
    verb = AUDIT_DONE.get(action, action) if e.result == "ok" else f"could not {AUDIT_TRIED.get(action, action)}"
    target: Any = ""
    if e.target and e.target in approvals:
        gated, run_id = approvals[e.target]
        target = mrkdwn(" “{what}” ({run})", what=trim_middle(gated, 150), run=code_span(single_line(run_id, ID_LIMIT)))
    elif e.target:
        target = _audit_target(e.target)
    detail: Any = ""
    channel = CHANNEL_DETAIL.match(e.detail or "")
    muted = MUTE_DETAIL.match(e.detail or "") if action == "alert_mute" else None
    if muted:
        detail = _mute_detail(muted)
    elif channel:
        detail = mrkdwn(" in {c}", c=channel_mention(channel.group(1)))
    elif e.detail:
        detail = mrkdwn(" {d}", d=single_line(trim_middle(e.detail, 300)))
    line = mrkdwn(
        "{mark} {at} {who} {verb}{target}{detail}",
        mark=AUDIT_MARK.get(e.result, "•"),
        at=slack_date(e.at),
        who=mention_of(e.user_id),
        verb=verb,
        target=target,
        detail=detail,
    )
    return mrkdwn("{line}: {m}", line=line, m=single_line(trim_middle(e.message, 300))) if e.message else line


def audit_list(entries: Sequence[Any], *, understood: str, approvals: dict[str, tuple[str, str]] | None = None) -> dict:
    """The bot's own audit rows (who did what in Slack); every field is escaped, people are mentioned by id."""
    if not entries:
        text = mrkdwn("Nothing in the audit trail matches {q}.", q=code_span(understood))
        return message(text, [_section(text)])
    lines = [audit_line(e, approvals or {}) for e in entries]
    blocks = [
        _section(Mrkdwn("*Audit trail*")),
        *_chunked_sections(lines),
        _context(
            mrkdwn(
                "{q} · {n} {w}, newest first",
                q=code_span(understood),
                n=len(entries),
                w="entry" if len(entries) == 1 else "entries",
            )
        ),
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
