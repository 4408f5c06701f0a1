"""Approval cards, their receipts, reminders, the reject modal and the `/runs approvals` inbox: pure Block Kit
builders from a plain `TaskView` (no I/O), shared by channel cards, the inbox and App Home. Every piece of
text goes through `bot.render.mrkdwn`."""

from __future__ import annotations

import json
import re
from datetime import datetime

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.render import common
from bot.render.common import SECTION_LIMIT, code_span, mark, relative, slack_date, trim_middle
from bot.render.mrkdwn import (
    Mrkdwn,
    encode_url,
    escape,
    join,
    link,
    mention_of,
    mrkdwn,
    plain,
    single_line,
    user_mention,
)
from bot.views import ApprovalView, TaskView

__all__ = ["TaskView"]

APPROVE = "approval_approve"
REJECT = "approval_reject"
REVIEW = "approval_review"
REJECT_MODAL = "reject_modal"
REASON_BLOCK = "reason"
REASON_INPUT = "reason_input"
REASON_MAX = 2000
ACTION_LIMIT = 2500  # the action text inside a section (3,000) with room for its label
FIELD_LIMIT = 1900
CONFIRM_LIMIT = 300  # Slack's limit for a confirmation dialog's text
INBOX_LIMIT = 11  # tasks listed in one inbox message (up to 4 blocks each, within Slack's 50)
SLACK_ACTOR = re.compile(r"^slack:([UW][A-Z0-9]{2,})\b")


def _md(text: Mrkdwn, limit: int = SECTION_LIMIT) -> MarkdownTextObject:
    """A mrkdwn text object within Slack's limit, measured after escaping."""
    return MarkdownTextObject(text=trim_middle(escape(text), limit))


def button_value(view: TaskView) -> str:
    """What a button carries: the task and the fingerprint of the task as shown."""
    return json.dumps({"a": view.id, "fp": view.fingerprint}, separators=(",", ":"))


def parse_value(value: str | None) -> tuple[str, str | None]:
    """(approval id, fingerprint shown) from a button value."""
    try:
        data = json.loads(value or "")
        return str(data["a"]), data.get("fp")
    except (ValueError, KeyError, TypeError):
        return str(value or ""), None


def actor_mention(actor: str | None) -> Mrkdwn:
    """`slack:U123 (Ana)` becomes `<@U123>`; anyone else (the console) is shown as the platform names them."""
    if not actor:
        return Mrkdwn("the platform")
    found = SLACK_ACTOR.match(actor)
    return user_mention(found.group(1)) if found else escape(single_line(actor, 200))


def _people(mentions: list[Mrkdwn]) -> Mrkdwn:
    if len(mentions) <= 1:
        return join("", mentions)
    return mrkdwn("{first} and {last}", first=join(", ", mentions[:-1]), last=mentions[-1])


def time_left(expires_at: datetime | None, now: datetime) -> str:
    """ "in 42 minutes", coarse under a minute so the card is not edited every second."""
    if expires_at is None:
        return "no expiry"
    seconds = (expires_at - now).total_seconds()
    if 0 <= seconds < 60:
        return "in less than a minute"
    return relative(seconds)


def receipt(view: TaskView) -> Mrkdwn:
    """The line that replaces the buttons once the task is decided or expired."""
    if view.status == "approved":
        approvers = [mention_of(u) for u in view.votes] if len(view.votes) > 1 else [actor_mention(view.decided_by)]
        return mrkdwn(
            "{mark} Approved by {who}, {at}",
            mark=mark("approved"),
            who=_people(approvers),
            at=slack_date(view.decided_at),
        )
    if view.status == "rejected":
        text = mrkdwn("{mark} Rejected by {who}", mark=mark("rejected"), who=actor_mention(view.decided_by))
        return (
            mrkdwn("{text}: {comment}", text=text, comment=trim_middle(view.comment, REASON_MAX))
            if view.comment
            else text
        )
    if view.status == "expired":
        text = mrkdwn("{mark} Expired", mark=mark("expired"))
        if view.comment:
            text = mrkdwn("{text}: {comment}", text=text, comment=trim_middle(view.comment, REASON_MAX))
        when = view.decided_at or view.expires_at
        return mrkdwn("{text} ({at})", text=text, at=slack_date(when)) if when else text
    return Mrkdwn("")


def quorum_line(view: TaskView) -> Mrkdwn:
    """ "1 of 2: <@U…>"."""
    who = join(", ", [mention_of(u) for u in view.votes])
    return mrkdwn(
        "{n} of {required}{who}",
        n=len(view.votes),
        required=view.required,
        who=mrkdwn(": {who}", who=who) if who else "",
    )


def _expiry(view: TaskView, now: datetime) -> Mrkdwn:
    if not view.expires_at:
        return Mrkdwn("never")
    return mrkdwn("{at} ({left})", at=slack_date(view.expires_at), left=time_left(view.expires_at, now))


def _fields(view: TaskView, now: datetime) -> list[MarkdownTextObject]:
    fields = [
        _md(mrkdwn("*Workflow*\n{name} {id}", name=view.workflow_name, id=code_span(view.workflow_id)), FIELD_LIMIT),
        _md(mrkdwn("*Run*\n{run}", run=link(view.run_url, view.run_id)), FIELD_LIMIT),
        _md(
            mrkdwn(
                "*Requested by*\n{who}",
                who=trim_middle(common.requested_by_words(view.requested_by, view.workflow_name), FIELD_LIMIT),
            ),
            FIELD_LIMIT,
        ),
    ]
    if view.status == "pending":
        fields.append(_md(mrkdwn("*Expires*\n{when}", when=_expiry(view, now)), FIELD_LIMIT))
    if view.required > 1 and view.status == "pending":
        fields.append(_md(mrkdwn("*Approvals*\n{q}", q=quorum_line(view)), FIELD_LIMIT))
    return fields


def _review_button(view: TaskView) -> ButtonElement:
    return ButtonElement(text="Review in console", action_id=REVIEW, url=encode_url(view.review_url))


def decision_buttons(view: TaskView) -> ActionsBlock:
    """Approve (primary, confirmed for risky kinds) and Reject (danger); console-only kinds get the link only."""
    if view.console_only:
        return ActionsBlock(block_id=f"approval:{view.id}", elements=[_review_button(view)])
    confirm = None
    if view.confirm:
        # A confirmation dialog's text is mrkdwn.
        # Said as the card says it: "Approve this spend?" over the action and the run it belongs to.
        kind = common.kind_words(view.kind).lower() if view.kind else "request"
        confirm = ConfirmObject(
            title=plain(f"Approve this {kind}?", 100),
            text=_md(
                mrkdwn(
                    "{action} ({run} of {workflow})",
                    action=trim_middle(single_line(view.action), 150),
                    run=view.run_id,
                    workflow=single_line(view.workflow_name, 80),
                ),
                CONFIRM_LIMIT,
            ),
            confirm="Approve",
            deny="Cancel",
        )
    value = button_value(view)
    return ActionsBlock(
        block_id=f"approval:{view.id}",
        elements=[
            ButtonElement(text="Approve", action_id=APPROVE, value=value, style="primary", confirm=confirm),
            ButtonElement(text="Reject", action_id=REJECT, value=value, style="danger"),
            _review_button(view),
        ],
    )


def _notes(view: TaskView) -> list[Mrkdwn]:
    notes = []
    if view.console_only and view.status == "pending":
        notes.append(
            mrkdwn(
                ":lock: {kind} tasks are decided in the console only (APPROVAL_CONSOLE_ONLY_KINDS): review it there.",
                kind=code_span(view.kind),
            )
        )
    if view.changed and view.status == "pending":
        notes.append(Mrkdwn(":warning: This request changed on the platform after it was posted; review it again."))
    if view.required > 1 and view.status == "pending":
        notes.append(mrkdwn("Needs {n} different approvers; any rejection ends it.", n=view.required))
    return notes


def fallback_text(view: TaskView) -> Mrkdwn:
    """The notification text (mrkdwn, escaped)."""
    action = single_line(trim_middle(view.action, 500))
    if view.status == "pending":
        return mrkdwn(
            "Approval needed ({kind}) for {run} of {workflow}: {action}",
            kind=view.kind,
            run=view.run_id,
            workflow=view.workflow_name,
            action=action,
        )
    return mrkdwn(
        "{status}: {action} ({run} of {workflow})",
        status=view.status.capitalize(),
        action=action,
        run=view.run_id,
        workflow=view.workflow_name,
    )


def card(view: TaskView, now: datetime) -> dict:
    """The whole approval message, rebuilt from state on every change."""
    # The kind in words heads the card ("Spend approval needed", "Tool call approved"): no Kind field repeats it.
    kind = common.kind_words(view.kind)
    title = f"{kind} approval needed" if view.status == "pending" else f"{kind} {view.status}"
    header = f"{mark('waiting' if view.status == 'pending' else view.status)} {title}"
    blocks = [
        HeaderBlock(text=PlainTextObject(text=plain(header, 150), emoji=True)),
        SectionBlock(text=_md(mrkdwn("*{action}*", action=trim_middle(view.action, ACTION_LIMIT)))),
        SectionBlock(fields=_fields(view, now)),
    ]
    notes = _notes(view)
    if notes:
        blocks.append(ContextBlock(elements=[_md(n) for n in notes]))
    if view.status == "pending":
        blocks.append(decision_buttons(view))
    else:
        blocks.append(SectionBlock(text=_md(receipt(view))))
    return {"text": fallback_text(view), "blocks": [b.to_dict() for b in blocks]}


def summary_blocks(view: TaskView, now: datetime, *, buttons: bool = True) -> list:
    """One task in a list (inbox, App Home): its action, facts and (for those who may decide it) buttons."""
    facts = mrkdwn(
        "{kind} · {run} of {workflow} · expires {expiry}",
        kind=code_span(view.kind),
        run=link(view.run_url, view.run_id),
        workflow=view.workflow_name,
        expiry=_expiry(view, now),
    )
    if view.required > 1:
        facts = mrkdwn("{facts} · approvals {q}", facts=facts, q=quorum_line(view))
    text = mrkdwn("*{action}*\n{facts}", action=trim_middle(view.action, ACTION_LIMIT), facts=facts)
    if view.requested_by:
        text = mrkdwn(
            "{text}\nRequested by {who}",
            text=text,
            who=trim_middle(common.requested_by_words(view.requested_by, view.workflow_name), 200),
        )
    blocks: list = [SectionBlock(text=_md(text))]
    notes = [n for n in _notes(view) if not n.startswith("Needs ")]
    if notes:
        blocks.append(ContextBlock(elements=[_md(n) for n in notes]))
    if buttons:
        blocks.append(decision_buttons(view))
    return blocks


def inbox(views: list[TaskView], now: datetime, *, can_decide: bool = True, approvers: str = "") -> list[dict]:
    """`/runs approvals`: the pending tasks with their buttons, in the order given. `approvers` is mrkdwn the bot
    made (mentions of the APPROVERS setting)."""
    total = len(views)
    if not views:
        none = f"{mark('approved')} No approval tasks are pending."
        return [SectionBlock(text=_md(Mrkdwn(none))).to_dict()]
    blocks: list = [HeaderBlock(text=PlainTextObject(text=inbox_text(total), emoji=True))]
    if not can_decide:
        blocks.append(
            ContextBlock(elements=[_md(mrkdwn("Only approvers decide these tasks: {who}.", who=Mrkdwn(approvers)))])
        )
    for view in views[:INBOX_LIMIT]:
        blocks.append(DividerBlock())
        blocks.extend(summary_blocks(view, now))
    if total > INBOX_LIMIT:
        blocks.append(
            ContextBlock(
                elements=[
                    _md(mrkdwn("…and {n} more, expiring later: the console lists them all.", n=total - INBOX_LIMIT))
                ]
            )
        )
    return [b.to_dict() for b in blocks]


def inbox_text(total: int) -> str:
    return f"{total} pending approval{'s' if total != 1 else ''}" if total else "No approval tasks are pending."


def reminder(view: TaskView, mentions: list[str], now: datetime) -> dict:
    """The one reminder in the card's thread before the task expires. `mentions` are Slack user or group ids
    (or mentions of them); anything else is shown as text."""
    who = join(" ", [mention_of(m) for m in mentions])
    text = mrkdwn(
        ":alarm_clock: {who}This {kind} approval expires {expiry}: {action}. Decide in the message above.",
        who=mrkdwn("{who} ", who=who) if who else "",
        kind=view.kind,
        expiry=_expiry(view, now),
        action=trim_middle(view.action, 500),
    )
    return {"text": text, "blocks": [SectionBlock(text=_md(text)).to_dict()]}


def run_progress(
    *, run_id: str, run_url: str, status: str, completed_steps: int, total_steps: int, error_code: str | None = None
) -> dict:
    """A line in the card's thread as the gated run moves on."""
    run_id, status = single_line(run_id, 128), single_line(status, 32)
    words = {
        "running": "is running",
        "paused": "is paused",
        "completed": "completed",
        "failed": "failed",
        "cancelled": "was cancelled",
        "pending": "is pending",
        "waiting": "is waiting",
    }.get(status, f"is {status}")
    text = mrkdwn(
        "{mark} {run} {words} (step {done} of {total})",
        mark=mark(status),
        run=link(run_url, run_id),
        words=words,
        done=min(completed_steps, total_steps),
        total=total_steps,
    )
    if error_code:
        text = mrkdwn("{text}: {code}", text=text, code=code_span(single_line(error_code, 120)))
    return {
        "text": mrkdwn("{run} {words}", run=run_id, words=words),
        "blocks": [ContextBlock(elements=[_md(text)]).to_dict()],
    }


def reject_modal(view: TaskView, *, reason_required: bool, private_metadata: str) -> dict:
    """The modal Reject opens: the task, and a reason that becomes the platform's comment."""
    hint = (
        "Required: it is sent to the platform as the comment."
        if reason_required
        else "Optional: it is sent to the platform as the comment."
    )
    return View(
        type="modal",
        callback_id=REJECT_MODAL,
        title="Reject approval",
        submit="Reject",
        close="Cancel",
        private_metadata=private_metadata,
        blocks=[
            SectionBlock(
                text=_md(
                    mrkdwn(
                        "*{action}*\n{kind} · {run} of {workflow}",
                        action=trim_middle(view.action, ACTION_LIMIT),
                        kind=code_span(view.kind),
                        run=link(view.run_url, view.run_id),
                        workflow=view.workflow_name,
                    )
                )
            ),
            InputBlock(
                block_id=REASON_BLOCK,
                label="Reason",
                optional=not reason_required,
                hint=hint,
                element=PlainTextInputElement(
                    action_id=REASON_INPUT, multiline=True, max_length=REASON_MAX, placeholder="Why is this rejected?"
                ),
            ),
        ],
    ).to_dict()


def approvals_list_lines(tasks: list[ApprovalView], run_url) -> list[Mrkdwn]:
    """`/runs approvals` without cards: one pending task a line."""
    lines = []
    for t in tasks:
        expires = mrkdwn(", expires {at}", at=slack_date(t.expires_at)) if t.expires_at else ""
        lines.append(
            mrkdwn(
                "✋ *{action}* ({kind}) · {workflow} · {run}{expires}",
                action=single_line(trim_middle(t.action, 500)),
                kind=t.kind,
                workflow=t.workflow_name,
                run=link(run_url(t.run_id, t.step_id), t.run_id),
                expires=expires,
            )
        )
    return lines


# Answers to approvers (ephemeral or in a modal)


def console_only_refusal(kind: str, review_url: str) -> Mrkdwn:
    return mrkdwn(
        "{kind} tasks are decided in the console only: {url}",
        kind=code_span(single_line(kind, 64)),
        url=link(review_url, "review it there"),
    )


def lost_claim_words(first: str | None, *, voted: bool) -> Mrkdwn:
    """Someone else is sending the decision: `first` is their Slack user id, when known."""
    who = mention_of(first) if first else Mrkdwn("another approver")
    if voted:
        return mrkdwn(
            "Your approval is counted; the quorum is met and {who} is sending the decision to the platform.", who=who
        )
    return mrkdwn("{who} decided first; their decision is being sent to the platform.", who=who)


def platform_refused(code: str | None, message: str | None, *, then: str = "") -> Mrkdwn:
    """The platform's own words for a refusal (its code and message are data). `then` is the code's own."""
    said = (
        mrkdwn("{code}: {message}", code=single_line(code, 64), message=single_line(trim_middle(message, 500)))
        if code and message
        else escape(single_line(trim_middle(message or code or "no reason given", 500)))
    )
    return mrkdwn("The platform refused: {said}.{then}", said=said, then=Mrkdwn(then and " " + then))
