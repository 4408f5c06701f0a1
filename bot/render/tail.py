"""A live log tail as Block Kit: the run's latest log lines in a code block, edited in place while the run is
active, ending with its final status and a link. Pure; every piece of text is escaped."""

from __future__ import annotations

from bot.render.common import code_span, mark
from bot.render.mrkdwn import Mrkdwn, channel_mention, code_block, link, mention_of, mrkdwn, single_line
from bot.render.runs import RunUrl, _context, _section, message

LINE_LIMIT = 300
SECTION_BUDGET = 2900  # a section's text is at most 3,000 characters once escaped
ENDINGS = {
    "status": "the run ended",
    "time": "the tail reached its time limit",
    "stopped": "stopped",
    "gone": "the run is no longer known",
}


def log_line(entry: dict) -> str:
    """ "10:00:42 error run.step.failed Step 3 of 5 …" from a log entry (every field as data)."""
    at = str(entry.get("timestamp") or "")
    clock = at[11:19] if len(at) >= 19 else at
    return single_line(
        f"{clock} {entry.get('severity') or '?':<5} {entry.get('event_type') or '?'} {entry.get('message') or ''}",
        LINE_LIMIT,
    )


def tail_message(
    *,
    run_id: str,
    workflow: str,
    status: str,
    lines: list[str],
    run_url: RunUrl,
    interval: float,
    started_by: str | None,
    ended: str | None = None,
    stopped_by: str | None = None,
) -> dict:
    head = mrkdwn(
        "{mark} *Live logs of {run}* ({workflow}) · {status}",
        mark=mark(status),
        run=link(run_url(run_id), run_id),
        workflow=single_line(workflow, 120),
        status=status,
    )
    lines = list(lines)
    while len(lines) > 1 and len(code_block("\n".join(lines))) > SECTION_BUDGET:
        lines.pop(0)  # the oldest lines go first, so the newest always fit in the section
    body = code_block("\n".join(lines)) if lines else Mrkdwn("_No log lines yet._")
    blocks = [_section(head), _section(body)]
    if ended is None:
        foot = mrkdwn(
            "Updated about every {n}s while the run is active · {stop} stops it",
            n=f"{interval:g}",
            stop=code_span(f"/runs untail {run_id}"),
        )
    else:
        why = ENDINGS.get(ended, ended)
        if ended == "stopped" and stopped_by:
            why = mrkdwn("stopped by {who}", who=mention_of(stopped_by))
        foot = mrkdwn(
            "Tail ended: {why} · final status {status} · {open}",
            why=why,
            status=status,
            open=link(run_url(run_id), "Open in the console"),
        )
    if started_by:
        foot = mrkdwn("{foot} · started by {who}", foot=foot, who=mention_of(started_by))
    blocks.append(_context(foot))
    text = mrkdwn("Live logs of {run}: {status}", run=run_id, status=status)
    return message(text, blocks)


def _where(channel: str) -> Mrkdwn:
    try:
        return channel_mention(channel)
    except ValueError:  # a direct message or a group DM: no channel to name
        return Mrkdwn("this conversation")


def tail_out_of_reach(run_id: str, channel: str, error: str) -> Mrkdwn:
    """Why a live tail cannot be posted (or kept) in a channel, and what to do instead."""
    if error in ("message_not_found", "cant_update_message"):
        return mrkdwn(
            "The live tail of {run} in {where} can no longer be edited (Slack says {error}: it was deleted), so it "
            "has stopped. {again} starts a new one.",
            run=code_span(run_id),
            where=_where(channel),
            error=code_span(error),
            again=code_span(f"/runs tail {run_id}"),
        )
    return mrkdwn(
        "I cannot post a live tail of {run} in {where} (Slack says {error}), so it is not followed there. "
        "Invite me with {invite} and tail it again, or {dm} for a direct message.",
        run=code_span(run_id),
        where=_where(channel),
        error=code_span(error),
        invite=code_span("/invite @runbot"),
        dm=code_span(f"/runs tail {run_id} --dm"),
    )
