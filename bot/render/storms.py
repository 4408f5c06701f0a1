"""Storm cards as Block Kit: one grouped card for a burst of failures of one workflow with one error code,
and the thread replies listing its runs; pure functions from a `StormView` and the storm's stored state,
never doing I/O. Every piece of text goes through `bot.render.mrkdwn`."""

from __future__ import annotations

from datetime import datetime

from slack_sdk.models.blocks import ActionsBlock, ButtonElement, ContextBlock, SectionBlock

from bot.render.alerts import NAME_LIMIT, THREAD_TEXT_LIMIT, _header, _mrkdwn, step_position
from bot.render.common import code_span, duration, mark, slack_date, trim_middle
from bot.render.lifecycle import lifecycle_buttons, lifecycle_lines, state_of
from bot.render.mrkdwn import Mrkdwn, join, link, mrkdwn, single_line
from bot.views import RunView, StormView

STORM_NEWEST = 5  # runs shown on a storm card
STORM_LIST_PER_SECTION = 10


def storm_entry(run: RunView) -> dict:
    """What a storm's thread lists of one failed run (kept in the storm's state)."""
    at = run.completed_at or run.updated_at
    return {
        "run_id": run.id,
        "step": step_position(run, run.failed_step) if run.failed_step else None,
        "at": at.isoformat() if at else None,
    }


def storm_note(*, count: int, workflow_name: str, code: str, window_seconds: float) -> Mrkdwn:
    """The first storm reply's note: why the thread exists."""
    return mrkdwn(
        "*{count} failures of {workflow} with {code} within {window}s.* The first {earlier} were alerted "
        "one by one; from now on new ones are listed here.",
        count=count,
        workflow=single_line(workflow_name, NAME_LIMIT),
        code=code_span(single_line(code, NAME_LIMIT)),
        window=f"{window_seconds:g}",
        earlier=count - 1,
    )


def storm_message(
    storm: StormView, *, run_url_of, workflow_url: str | None = None, lifecycle: dict | None = None
) -> dict:
    """One grouped card for a burst of failures of one workflow with one error code in one channel. `lifecycle`
    is who handles it (I'm on it, Resolve); "recovered" keeps its meaning: the workflow's next run succeeded."""
    workflow, code, count = storm.workflow_name, storm.error_code, storm.count
    first, last = storm.first_at, storm.last_at
    span = duration(int((last - first).total_seconds() * 1000)) if first and last else "—"
    recovered = storm.recovered_run_id
    resolved = not recovered and state_of(lifecycle) == "resolved"
    # The header says the state first, as the alert's does ("✅ Invoice triage recovered"): a green mark over
    # "6 failures" alone reads as a contradiction.
    if recovered:
        title = f"✅ {workflow} recovered after {count} failures with {code}"
    elif resolved:
        title = f"☑️ {workflow} resolved: {count} failures with {code}"
    else:
        title = f"🌩️ {workflow}: {count} failures with {code}"
    blocks: list = [_header(title)]
    retryable = "yes" if storm.retryable else "no" if storm.retryable is False else "unknown"
    blocks.append(
        SectionBlock(
            fields=[
                _mrkdwn(mrkdwn("*Failures*\n{n}", n=count)),
                _mrkdwn(mrkdwn("*Error*\n{code}", code=code_span(code))),
                _mrkdwn(mrkdwn("*First*\n{at}", at=slack_date(first))),
                _mrkdwn(mrkdwn("*Newest*\n{at}", at=slack_date(last))),
                _mrkdwn(mrkdwn("*Over*\n{span}", span=span)),
                _mrkdwn(mrkdwn("*Retryable*\n{r}", r=retryable)),
            ]
        )
    )
    newest = list(storm.newest)[-STORM_NEWEST:]
    if newest:
        lines = join(
            "\n",
            [mrkdwn("{mark} {run}", mark=mark("failed"), run=link(run_url_of(rid), rid)) for rid in reversed(newest)],
        )
        blocks.append(SectionBlock(text=_mrkdwn(mrkdwn("*Newest runs*\n{lines}", lines=lines))))
    if recovered:
        blocks.append(
            SectionBlock(
                text=_mrkdwn(
                    mrkdwn(
                        "✅ *Recovered*: {run} completed {at}.",
                        run=link(run_url_of(recovered), recovered),
                        at=slack_date(storm.recovered_at),
                    )
                )
            )
        )
    else:
        blocks.append(
            ContextBlock(
                elements=[
                    _mrkdwn(
                        mrkdwn(
                            "Grouped to spare the channel: every run of this burst is listed in the thread, and "
                            "{command} finds them all.",
                            command=code_span(f"/runs failed --workflow {storm.workflow_id} --code {storm.error_code}"),
                        )
                    )
                ]
            )
        )
    handled = lifecycle_lines(lifecycle, run_url_of) if not recovered else []
    if handled:
        blocks.append(SectionBlock(text=_mrkdwn(join("\n", handled))))
    newest_id = newest[-1] if newest else None
    elements = [ButtonElement(text="Show newest run", action_id="run_show", value=newest_id)] if newest_id else []
    if not recovered and storm.message_id is not None:
        elements[:0] = lifecycle_buttons(f"storm:{storm.message_id}", lifecycle)
    if elements:
        blocks.append(ActionsBlock(block_id=f"storm:{storm.workflow_id}:{code}"[:255], elements=elements))
    text = mrkdwn(
        "{recovered}{workflow} failed {count} times with {code} over {span}; newest {newest}. "
        "The runs are listed in the thread.",
        recovered="Recovered: " if recovered else "",
        workflow=workflow,
        count=count,
        code=code,
        span=span,
        newest=newest_id or "—",
    )
    return {"text": text, "blocks": [b.to_dict() for b in blocks]}


def storm_runs_reply(runs: list[dict], *, run_url_of, note: str | None = None) -> dict:
    """A thread reply listing failed runs of a storm: id, failed step and time, one a line. `runs` are
    `storm_entry` dicts; `note` is what `storm_note` made (kept in the storm's state)."""
    lines = []
    for r in runs:
        run_id = single_line(r["run_id"], NAME_LIMIT)
        where = mrkdwn(" at {step}", step=single_line(r["step"], NAME_LIMIT)) if r.get("step") else ""
        lines.append(
            mrkdwn(
                "{mark} {run}{where} · {at}",
                mark=mark("failed"),
                run=link(run_url_of(run_id), run_id),
                where=where,
                at=slack_date(_parse(r.get("at")), "{time_secs}"),
            )
        )
    note = Mrkdwn(note) if note else None
    blocks: list = []
    if note:
        blocks.append(SectionBlock(text=_mrkdwn(note)))
    for i in range(0, len(lines), STORM_LIST_PER_SECTION):
        blocks.append(SectionBlock(text=_mrkdwn(join("\n", lines[i : i + STORM_LIST_PER_SECTION]))))
    text = mrkdwn(
        "{note}Failed: {runs}",
        note=mrkdwn("{n} ", n=note) if note else "",
        runs=", ".join(single_line(r["run_id"], NAME_LIMIT) for r in runs),
    )
    return {"text": trim_middle(text, THREAD_TEXT_LIMIT), "blocks": [b.to_dict() for b in blocks]}


def storm_recovered_reply(run_id: str, run_url: str) -> dict:
    return {"text": mrkdwn("✅ Recovered: {run} completed.", run=link(run_url, single_line(run_id, NAME_LIMIT)))}


def _parse(value: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None
