"""The alert lifecycle as Block Kit (issue 16): who is on a failure, its resolution, the replay that recovered
it, the buttons each state offers, the Resolve and Mute forms, and the marks `/runs failed` shows. Pure
functions of a lifecycle dict (see `bot.alert_cards.view_of`), never doing I/O."""

from __future__ import annotations

from datetime import datetime

from slack_sdk.models.blocks import (
    ButtonElement,
    InputBlock,
    MarkdownTextObject,
    Option,
    OverflowMenuElement,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.render.common import code_span, slack_date, trim_middle
from bot.render.mrkdwn import Mrkdwn, escape, join, link, mention_of, mrkdwn, plain, single_line

NOTE_LIMIT = 500  # characters of a resolution note
ID_LIMIT = 120


def _when(at: str | datetime | None) -> Mrkdwn:
    moment = datetime.fromisoformat(at) if isinstance(at, str) else at
    return slack_date(moment, "{time}")


def state_of(lc: dict | None) -> str:
    """open, on_it, resolved or recovered: one state, never two (recovered wins over resolved)."""
    lc = lc or {}
    if lc.get("recovered"):
        return "recovered"
    if lc.get("resolved"):
        return "resolved"
    return "on_it" if lc.get("on_it") else "open"


def on_it_words(on_it: list[dict]) -> Mrkdwn:
    """ "<@ana> is on it since 10:42", or "<@ana> (since 10:42) and <@ben> (since 10:45) are on it"."""
    if len(on_it) == 1:
        return mrkdwn("{who} is on it since {at}", who=mention_of(on_it[0]["user"]), at=_when(on_it[0]["since"]))
    people = [mrkdwn("{who} (since {at})", who=mention_of(p["user"]), at=_when(p["since"])) for p in on_it]
    return mrkdwn("{people} and {last} are on it", people=join(", ", people[:-1]), last=people[-1])


def lifecycle_lines(lc: dict | None, run_url_of) -> list[Mrkdwn]:
    """The card's lines about who handles it: recovered, resolved, or who is on it."""
    lc = lc or {}
    state = state_of(lc)
    if state == "recovered":
        rec = lc["recovered"]
        run_id = single_line(rec["by"], ID_LIMIT)
        return [mrkdwn("✅ Recovered by {run} at {at}", run=link(run_url_of(run_id), run_id), at=_when(rec["at"]))]
    if state == "resolved":
        res = lc["resolved"]
        line = mrkdwn("☑️ Resolved by {who} at {at}", who=mention_of(res["by"]), at=_when(res["at"]))
        if res.get("note"):
            line = mrkdwn("{line}: {note}", line=line, note=single_line(trim_middle(res["note"], NOTE_LIMIT)))
        return [line]
    if state == "on_it":
        return [mrkdwn("👀 {words}", words=on_it_words(lc["on_it"]))]
    return []


def lifecycle_buttons(value: str, lc: dict | None) -> list[ButtonElement]:
    """I'm on it and Resolve while the failure is open or someone is on it; nothing once it is settled."""
    if state_of(lc) in ("resolved", "recovered"):
        return []
    return [
        ButtonElement(text="I'm on it", action_id="alert_on_it", value=value),
        ButtonElement(text="Resolve…", action_id="alert_resolve", value=value),
    ]


def header_words(lc: dict | None, failed: str) -> str:
    """The card's header in its state: "✅ Invoice triage recovered", "☑️ Invoice triage resolved", or `failed`."""
    state = state_of(lc)
    if state == "recovered":
        return failed.replace("❌", "✅", 1).removesuffix(" failed") + " recovered"
    if state == "resolved":
        return failed.replace("❌", "☑️", 1).removesuffix(" failed") + " resolved"
    return failed


def text_prefix(lc: dict | None) -> Mrkdwn:
    """What the notification text says first in a settled state."""
    state = state_of(lc)
    if state == "recovered":
        return mrkdwn("✅ Recovered by {run}. ", run=single_line(lc["recovered"]["by"], ID_LIMIT))
    if state == "resolved":
        return mrkdwn("☑️ Resolved by {who}. ", who=mention_of(lc["resolved"]["by"]))
    return Mrkdwn("")


def list_mark(lc: dict | None, *, muted: bool = False) -> Mrkdwn:
    """What `/runs failed` adds to a run's line: recovered by run_…, resolved by @…, @… on it, muted."""
    lc = lc or {}
    state = state_of(lc)
    words: list[Mrkdwn] = []
    if state == "recovered":
        words.append(mrkdwn("✅ recovered by {run}", run=code_span(single_line(lc["recovered"]["by"], ID_LIMIT))))
    elif state == "resolved":
        words.append(mrkdwn("☑️ resolved by {who}", who=mention_of(lc["resolved"]["by"])))
    elif state == "on_it":
        words.append(mrkdwn("👀 {who} on it", who=join(" ", [mention_of(p["user"]) for p in lc["on_it"]])))
    if muted:
        words.append(Mrkdwn("🔕 muted"))
    return join(" · ", words)


def resolve_modal(value: str, subject_words: str) -> dict:
    """The Resolve form: an optional note; submitting resolves. `value` is what the button carried."""
    return View(
        type="modal",
        callback_id="alert_resolve_modal",
        title=PlainTextObject(text="Resolve"),
        submit=PlainTextObject(text="Resolve"),
        close=PlainTextObject(text="Cancel"),
        private_metadata=value,
        blocks=[
            SectionBlock(
                text=MarkdownTextObject(
                    text=mrkdwn(
                        "Resolve {what}: nobody needs to replay it. The card says who resolved it, and why.",
                        what=code_span(single_line(subject_words, ID_LIMIT)),
                    )
                )
            ),
            InputBlock(
                block_id="note",
                optional=True,
                label=PlainTextObject(text="Note (optional)"),
                element=PlainTextInputElement(action_id="value", multiline=True, max_length=NOTE_LIMIT),
            ),
        ],
    ).to_dict()


def mute_overflow(run_id: str, code: str | None) -> OverflowMenuElement:
    """The alert's overflow menu: mute this workflow, or this workflow and error code, in this channel."""
    options = [Option(text="Mute this workflow…", value=f"wf|{run_id}"[:150])]
    if code:
        options.append(Option(text=plain(f"Mute this workflow with {code}…", 75), value=f"code|{run_id}"[:150]))
    return OverflowMenuElement(action_id="alert_more", options=options)


def mute_modal(metadata: str, what: Mrkdwn, choices: list[tuple[str, int]]) -> dict:
    return View(
        type="modal",
        callback_id="alert_mute_modal",
        title=PlainTextObject(text="Mute alerts"),
        submit=PlainTextObject(text="Mute"),
        close=PlainTextObject(text="Cancel"),
        private_metadata=metadata,
        blocks=[
            SectionBlock(
                text=MarkdownTextObject(
                    text=mrkdwn(
                        "Mute {what} in this channel. Muted failures are still stored, listed by `/runs failed` and "
                        "counted in the digest; the next alert says how many there were.",
                        what=what,
                    )
                )
            ),
            InputBlock(
                block_id="for",
                label=PlainTextObject(text="For"),
                element=StaticSelectElement(
                    action_id="value",
                    options=[Option(text=label, value=str(seconds)) for label, seconds in choices],
                    initial_option=Option(text=choices[0][0], value=str(choices[0][1])),
                ),
            ),
        ],
    ).to_dict()


def mute_words(workflow_name: str, code: str | None) -> Mrkdwn:
    """ "alerts of Invoice triage" or "alerts of Invoice triage with `provider_rate_limited`"."""
    name = single_line(workflow_name, 120)
    if code:
        return mrkdwn("alerts of {name} with {code}", name=name, code=code_span(single_line(code, 64)))
    return mrkdwn("alerts of {name}", name=name)


def muted_reply(user: str, what: Mrkdwn, until: datetime | None, mute_id: int) -> dict:
    """The alert's thread says who muted what, until when; `/runs subscriptions` lists it with Unmute."""
    how_long = mrkdwn("until {at}", at=slack_date(until)) if until else Mrkdwn("until unmuted")
    return {
        "text": mrkdwn(
            "🔕 {who} muted {what} in this channel {how_long}. `/runs subscriptions` lists mutes with Unmute.",
            who=mention_of(user),
            what=what,
            how_long=how_long,
        )
    }


def unmuted_words(workflow_id: str) -> Mrkdwn:
    return mrkdwn("🔔 Alerts of {wf} are back on in this channel.", wf=code_span(single_line(workflow_id, 120)))


def mutes_blocks(mutes: list, names: dict[str, str]) -> list[dict]:
    """`/runs subscriptions`: the channel's mutes, each with an Unmute button."""
    if not mutes:
        return []
    blocks: list = [SectionBlock(text=MarkdownTextObject(text=Mrkdwn("*Muted here*")))]
    for m in mutes[:40]:
        what = mute_words(names.get(m.workflow_id, m.workflow_id), m.error_code)
        how_long = mrkdwn("until {at}", at=slack_date(m.until)) if m.until else Mrkdwn("until unmuted")
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text=mrkdwn(
                        "🔕 {what}, {how_long}, by {who}", what=what, how_long=how_long, who=mention_of(m.created_by)
                    )
                ),
                accessory=ButtonElement(text="Unmute", action_id="mute_unmute", value=str(m.id)),
            )
        )
    return [b.to_dict() for b in blocks]


def muted_line(count: int) -> Mrkdwn:
    return mrkdwn("🔕 {n} muted failure{s} of this workflow since the last alert", n=count, s="" if count == 1 else "s")


__all__ = ["escape"]


def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _ago(delta) -> str:
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min"
    if seconds < 48 * 3600:
        return f"{round(seconds / 3600)} h"
    return f"{round(seconds / 86400)} days"


def _span(value: float, unit: str) -> str:
    return f"{value:g} {unit}" if value != 1 else f"1 {unit.rstrip('s')}"


def context_line(
    *,
    code: str,
    step_name: str | None,
    in_window: int,
    in_recent: int,
    new_days: float,
    recurring_hours: float,
    last_success: tuple | None,
    rate: tuple[int, int] | None,
    run_url_of,
) -> Mrkdwn:
    """ "New: first provider_rate_limited at step Summarise with LLM in 7 days", or "Recurring: 7th time in
    24 h; the workflow last succeeded 2 h ago (run_…)", and the step's failure rate over the newest runs."""
    where = mrkdwn(" at step {step}", step=single_line(step_name, 120)) if step_name else ""
    if in_window <= 1:
        line = mrkdwn(
            "🆕 *New*: first {code}{where} in {span}",
            code=code_span(single_line(code, 64)),
            where=where,
            span=_span(new_days, "days"),
        )
    elif in_recent > 1:
        line = mrkdwn("🔁 *Recurring*: {nth} time in {span}", nth=ordinal(in_recent), span=_span(recurring_hours, "h"))
    else:
        line = mrkdwn("🔁 *Recurring*: {nth} time in {span}", nth=ordinal(in_window), span=_span(new_days, "days"))
    if last_success:
        run_id, ago = last_success
        run_id = single_line(run_id, ID_LIMIT)
        line = mrkdwn(
            "{line}; the workflow last succeeded {ago} ago ({run})",
            line=line,
            ago=_ago(ago),
            run=link(run_url_of(run_id), run_id),
        )
    elif in_window > 1 or rate:
        line = mrkdwn("{line}; no success of the workflow on record", line=line)
    if rate:
        failed, total = rate
        line = mrkdwn(
            "{line}. The step failed in {pct}% of the last {total} runs",
            line=line,
            pct=round(100 * failed / total),
            total=total,
        )
    return line


NO_REPLAY_AS_IS = frozenset({"auth_failed"})  # replaying as-is cannot help: fix something first


def advice_for(code: str | None, approvers: list[str]) -> Mrkdwn | None:
    """The right advice for failures whose cure is not a new prompt."""
    if code == "approval_expired":
        who = join(" ", [mention_of(a) for a in approvers[:10]])
        return mrkdwn(
            "⌛ Nobody decided the approval in time: *Replay* asks again, and {who} can decide it before it expires.",
            who=who or Mrkdwn("the approvers"),
        )
    if code == "auth_failed":
        return Mrkdwn(
            "🔑 The provider refused the credentials: fix them first. Replaying as-is would fail the same way, so "
            "it is not offered."
        )
    return None
