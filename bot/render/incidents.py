"""The provider incident card (issue 16): one card per provider outage in ALERT_CHANNEL, updated in place
(failing → recovering → recovered), with counts per workflow, who handles it, and *Replay affected runs*.
Pure functions of the incident's stored state, never doing I/O."""

from __future__ import annotations

from datetime import datetime

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.render.common import code_span, slack_date, trim_middle
from bot.render.lifecycle import _ago, lifecycle_buttons, lifecycle_lines, state_of
from bot.render.mrkdwn import Mrkdwn, join, link, mention_of, mrkdwn, plain, single_line

WORKFLOWS_SHOWN = 15
PHASE_MARK = {"failing": "🔥", "recovering": "🩹", "recovered": "✅"}


def _at(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _codes(state: dict) -> Mrkdwn:
    codes = sorted((state.get("codes") or {}).items(), key=lambda kv: (-kv[1], kv[0]))
    return join(", ", [code_span(single_line(c, 64)) for c, _ in codes[:3]]) or Mrkdwn("provider errors")


def incident_summary(state: dict) -> Mrkdwn:
    """ "openai is failing: provider_rate_limited across 4 workflows, 37 runs since 10:02"."""
    workflows = state.get("workflows") or {}
    phase = state.get("phase") or "failing"
    verb = {"failing": "is failing", "recovering": "is recovering", "recovered": "was failing"}[phase]
    return mrkdwn(
        "*{provider} {verb}*: {codes} across {w} workflow{ws}, {n} run{ns} since {at}",
        provider=single_line(state["provider"], 64),
        verb=verb,
        codes=_codes(state),
        w=len(workflows),
        ws="" if len(workflows) == 1 else "s",
        n=state.get("count", 0),
        ns="" if state.get("count", 0) == 1 else "s",
        at=slack_date(_at(state.get("started_at")), "{time}"),
    )


def incident_message(state: dict, *, run_url_of, replayable: int, cards: dict[str, str]) -> dict:
    """`cards`: per workflow id, a link to its alert or storm card in Slack."""
    provider = single_line(state["provider"], 64)
    phase = state.get("phase") or "failing"
    lc = state.get("lifecycle")
    settled = phase == "recovered" or state_of(lc) == "resolved"
    title = {"failing": "is failing", "recovering": "is recovering", "recovered": "recovered"}[phase]
    mark = "☑️" if phase != "recovered" and state_of(lc) == "resolved" else PHASE_MARK[phase]
    blocks: list = [HeaderBlock(text=PlainTextObject(text=plain(f"{mark} {provider} {title}", 150), emoji=True))]
    blocks.append(SectionBlock(text=MarkdownTextObject(text=incident_summary(state))))
    if phase == "recovered" and state.get("recovered_at"):
        started, ended = _at(state["started_at"]), _at(state["recovered_at"])
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text=mrkdwn(
                        "✅ Recovered at {at} after {d} ({why}).",
                        at=slack_date(ended, "{time}"),
                        d=_ago(ended - started),
                        why=single_line(state.get("recovered_why") or "", 120),
                    )
                )
            )
        )
    elif phase == "recovering":
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text=mrkdwn("🩹 Recovering: {why}.", why=single_line(state.get("recovering_why") or "", 200))
                )
            )
        )
    lines = []
    ranked = sorted((state.get("workflows") or {}).items(), key=lambda kv: (-kv[1]["count"], kv[1]["name"]))
    for wf_id, wf in ranked[:WORKFLOWS_SHOWN]:
        newest = single_line(wf.get("newest") or "", 64)
        lines.append(
            mrkdwn(
                "• *{name}*: {n} failed run{s}, newest {run}{card}",
                name=single_line(wf["name"], 120),
                n=wf["count"],
                s="" if wf["count"] == 1 else "s",
                run=link(run_url_of(newest), newest) if newest else "—",
                card=mrkdwn(" ({alert})", alert=link(cards[wf_id], "alert")) if wf_id in cards else "",
            )
        )
    if len(ranked) > WORKFLOWS_SHOWN:
        lines.append(mrkdwn("_and {n} more workflows_", n=len(ranked) - WORKFLOWS_SHOWN))
    if lines:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=trim_middle(join("\n", lines), 2900))))
    handled = lifecycle_lines(lc, run_url_of)
    if handled:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=join("\n", handled))))
    message_id = state.get("message_id")
    elements: list = []
    if isinstance(message_id, int):
        if not settled:
            elements += lifecycle_buttons(f"incident:{message_id}", lc)
        if replayable and phase != "failing":
            elements.insert(0, replay_button(message_id, replayable, provider))
    if elements:
        blocks.append(ActionsBlock(block_id=f"incident:{message_id}", elements=elements))
    blocks.append(
        ContextBlock(
            elements=[
                MarkdownTextObject(
                    text=Mrkdwn(
                        "One card per provider outage; the individual alerts of these runs link here. "
                        "`/runs failed --open` lists the runs nobody handled."
                    )
                )
            ]
        )
    )
    text = mrkdwn("{mark} {summary}", mark=mark, summary=incident_summary(state))
    return {"text": text, "blocks": [b.to_dict() for b in blocks]}


def replay_button(message_id: int, count: int, provider: str) -> ButtonElement:
    confirm = ConfirmObject(
        title="Replay affected runs?",
        text=MarkdownTextObject(
            text=mrkdwn(
                "Replay {n} run{s} that failed on {provider} and were not replayed yet, one at a time, paced so "
                "{provider} is not hammered. Progress goes to this card's thread.",
                n=count,
                s="" if count == 1 else "s",
                provider=single_line(provider, 64),
            )
        ),
        confirm=plain(f"Replay {count} run{'s' if count != 1 else ''}", 30),
        deny="Cancel",
    )
    return ButtonElement(
        text=plain(f"Replay affected runs ({count})", 75),
        action_id="incident_replay",
        value=str(message_id),
        confirm=confirm,
        style="primary",
    )


def incident_note(provider: str, permalink: str | None) -> Mrkdwn:
    """The line on an individual alert that links its incident card."""
    name = single_line(provider, 64)
    if permalink:
        return mrkdwn("🔥 Part of the {incident}", incident=link(permalink, f"{name} incident"))
    return mrkdwn("🔥 Part of the {name} incident (its card is in the alert channel)", name=name)


def replay_progress(done: int, total: int, run_id: str, result: str, run_url_of) -> dict:
    run_id = single_line(run_id, 64)
    return {
        "text": mrkdwn(
            "🔁 {done}/{total} {run}: {result}",
            done=done,
            total=total,
            run=link(run_url_of(run_id), run_id),
            result=single_line(trim_middle(result, 300)),
        )
    }


def replay_started(user: str, count: int, seconds: float) -> dict:
    return {
        "text": mrkdwn(
            "🔁 {user} is replaying {n} affected run{s}, one every {sec}s.",
            user=mention_of(user),
            n=count,
            s="" if count == 1 else "s",
            sec=f"{seconds:g}",
        )
    }
