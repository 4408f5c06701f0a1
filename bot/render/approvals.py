"""Approval cards, their receipts, reminders, the reject modal and the `/runs approvals` inbox: pure Block Kit
builders from a plain `TaskView` (no I/O), shared by channel cards, the inbox and App Home."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
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
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.render.common import code_span, escape, link, mark, relative, slack_date, trim_middle

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
SLACK_ACTOR = re.compile(r"^slack:([UW][A-Z0-9]+)\b")


@dataclass
class TaskView:
    """What a card shows about one approval task."""

    id: str
    run_id: str
    workflow_id: str
    workflow_name: str
    kind: str
    action: str
    requested_by: str | None
    expires_at: datetime | None
    status: str
    fingerprint: str
    run_url: str
    review_url: str
    step_id: str | None = None
    decided_by: str | None = None  # the platform's actor string
    decided_at: datetime | None = None
    comment: str | None = None
    required: int = 1
    votes: list[str] = field(default_factory=list)  # Slack user IDs that approved, in order
    console_only: bool = False
    confirm: bool = False
    changed: bool = False  # the platform changed the task after the card was first posted


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


def actor_mention(actor: str | None) -> str:
    """`slack:U123 (Ana)` becomes `<@U123>`; anyone else (the console) is shown as the platform names them."""
    if not actor:
        return "the platform"
    found = SLACK_ACTOR.match(actor)
    return f"<@{found.group(1)}>" if found else escape(actor)


def _people(mentions: list[str]) -> str:
    if len(mentions) <= 1:
        return "".join(mentions)
    return ", ".join(mentions[:-1]) + " and " + mentions[-1]


def time_left(expires_at: datetime | None, now: datetime) -> str:
    """"in 42 minutes", coarse under a minute so the card is not edited every second."""
    if expires_at is None:
        return "no expiry"
    seconds = (expires_at - now).total_seconds()
    if 0 <= seconds < 60:
        return "in less than a minute"
    return relative(seconds)


def receipt(view: TaskView) -> str:
    """The line that replaces the buttons once the task is decided or expired."""
    if view.status == "approved":
        approvers = [f"<@{u}>" for u in view.votes] if len(view.votes) > 1 else [actor_mention(view.decided_by)]
        return f"{mark('approved')} Approved by {_people(approvers)} at {slack_date(view.decided_at)}"
    if view.status == "rejected":
        text = f"{mark('rejected')} Rejected by {actor_mention(view.decided_by)}"
        return text + (f": {escape(trim_middle(view.comment, REASON_MAX))}" if view.comment else "")
    if view.status == "expired":
        text = f"{mark('expired')} Expired"
        if view.comment:
            text += f": {escape(trim_middle(view.comment, REASON_MAX))}"
        return text + (f" ({slack_date(view.decided_at or view.expires_at)})" if (view.decided_at or view.expires_at)
                       else "")
    return ""


def quorum_line(view: TaskView) -> str:
    """"1 of 2: <@U…>"."""
    who = ", ".join(f"<@{u}>" for u in view.votes)
    return f"{len(view.votes)} of {view.required}" + (f": {who}" if who else "")


def _expiry(view: TaskView, now: datetime) -> str:
    return f"{slack_date(view.expires_at)} ({time_left(view.expires_at, now)})" if view.expires_at else "never"


def _fields(view: TaskView, now: datetime) -> list[MarkdownTextObject]:
    fields = [
        MarkdownTextObject(text=f"*Workflow*\n{escape(view.workflow_name)} {code_span(view.workflow_id)}"),
        MarkdownTextObject(text=f"*Run*\n{link(view.run_url, view.run_id)}"),
        MarkdownTextObject(text=f"*Kind*\n{code_span(view.kind)}"),
        MarkdownTextObject(text=f"*Requested by*\n{escape(trim_middle(view.requested_by or 'unknown', FIELD_LIMIT))}"),
    ]
    if view.status == "pending":
        fields.append(MarkdownTextObject(text=f"*Expires*\n{_expiry(view, now)}"))
    if view.required > 1 and view.status == "pending":
        fields.append(MarkdownTextObject(text=f"*Approvals*\n{quorum_line(view)}"))
    return fields


def _review_button(view: TaskView) -> ButtonElement:
    return ButtonElement(text="Review in console", action_id=REVIEW, url=view.review_url)


def decision_buttons(view: TaskView) -> ActionsBlock:
    """Approve (primary, confirmed for risky kinds) and Reject (danger); console-only kinds get the link only."""
    if view.console_only:
        return ActionsBlock(block_id=f"approval:{view.id}", elements=[_review_button(view)])
    confirm = None
    if view.confirm:
        confirm = ConfirmObject(
            title="Approve this task?",
            text=trim_middle(f"{escape(view.action)} ({view.kind}, run {view.run_id})", CONFIRM_LIMIT),
            confirm="Approve", deny="Cancel")
    value = button_value(view)
    return ActionsBlock(block_id=f"approval:{view.id}", elements=[
        ButtonElement(text="Approve", action_id=APPROVE, value=value, style="primary", confirm=confirm),
        ButtonElement(text="Reject", action_id=REJECT, value=value, style="danger"),
        _review_button(view),
    ])


def _notes(view: TaskView) -> list[str]:
    notes = []
    if view.console_only and view.status == "pending":
        notes.append(f":lock: {code_span(view.kind)} tasks are decided in the console only "
                     "(APPROVAL_CONSOLE_ONLY_KINDS): review it there.")
    if view.changed and view.status == "pending":
        notes.append(":warning: This request changed on the platform after it was posted; review it again.")
    if view.required > 1 and view.status == "pending":
        notes.append(f"Needs {view.required} different approvers; any rejection ends it.")
    return notes


def fallback_text(view: TaskView) -> str:
    if view.status == "pending":
        return (f"Approval needed ({view.kind}) for {view.run_id} of {view.workflow_name}: "
                f"{trim_middle(view.action, 500)}")
    return f"{view.status.capitalize()}: {trim_middle(view.action, 500)} ({view.run_id} of {view.workflow_name})"


def card(view: TaskView, now: datetime) -> dict:
    """The whole approval message, rebuilt from state on every change."""
    title = "Approval needed" if view.status == "pending" else f"Approval {view.status}"
    blocks = [
        HeaderBlock(text=f"{mark('waiting' if view.status == 'pending' else view.status)} {title}: {view.kind}"[:150]),
        SectionBlock(text=MarkdownTextObject(text=f"*{escape(trim_middle(view.action, ACTION_LIMIT))}*")),
        SectionBlock(fields=_fields(view, now)),
    ]
    notes = _notes(view)
    if notes:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=n) for n in notes]))
    if view.status == "pending":
        blocks.append(decision_buttons(view))
    else:
        blocks.append(SectionBlock(text=MarkdownTextObject(text=receipt(view))))
    return {"text": fallback_text(view), "blocks": [b.to_dict() for b in blocks]}


def summary_blocks(view: TaskView, now: datetime) -> list:
    """One task in a list (inbox, App Home): its action, facts and buttons."""
    facts = (f"{code_span(view.kind)} · {link(view.run_url, view.run_id)} of {escape(view.workflow_name)} · "
             f"expires {_expiry(view, now)}")
    if view.required > 1:
        facts += f" · approvals {quorum_line(view)}"
    text = f"*{escape(trim_middle(view.action, ACTION_LIMIT))}*\n{facts}"
    if view.requested_by:
        text += f"\nRequested by {escape(trim_middle(view.requested_by, 200))}"
    blocks: list = [SectionBlock(text=MarkdownTextObject(text=text))]
    notes = [n for n in _notes(view) if not n.startswith("Needs ")]
    if notes:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=n) for n in notes]))
    blocks.append(decision_buttons(view))
    return blocks


def inbox(views: list[TaskView], now: datetime, *, can_decide: bool = True, approvers: str = "") -> list[dict]:
    """`/runs approvals`: the pending tasks with their buttons, newest first."""
    total = len(views)
    if not views:
        none = f"{mark('approved')} No approval tasks are pending."
        return [SectionBlock(text=MarkdownTextObject(text=none)).to_dict()]
    blocks: list = [HeaderBlock(text=inbox_text(total))]
    if not can_decide:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(
            text=f"Only approvers decide these tasks: {approvers}.")]))
    for view in views[:INBOX_LIMIT]:
        blocks.append(DividerBlock())
        blocks.extend(summary_blocks(view, now))
    if total > INBOX_LIMIT:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(
            text=f"…and {total - INBOX_LIMIT} more; the oldest are listed in the console.")]))
    return [b.to_dict() for b in blocks]


def inbox_text(total: int) -> str:
    return f"{total} pending approval{'s' if total != 1 else ''}" if total else "No approval tasks are pending."


def reminder(view: TaskView, mentions: list[str], now: datetime) -> dict:
    """The one reminder in the card's thread before the task expires."""
    who = " ".join(mentions)
    text = (f":alarm_clock: {who + ' ' if who else ''}This {view.kind} approval expires "
            f"{_expiry(view, now)}: {escape(trim_middle(view.action, 500))}. Decide in the message above.")
    return {"text": text, "blocks": [SectionBlock(text=MarkdownTextObject(text=text)).to_dict()]}


def run_progress(*, run_id: str, run_url: str, status: str, completed_steps: int, total_steps: int,
                 error_code: str | None = None) -> dict:
    """A line in the card's thread as the gated run moves on."""
    words = {"running": "is running", "paused": "is paused", "completed": "completed", "failed": "failed",
             "cancelled": "was cancelled", "pending": "is pending", "waiting": "is waiting"}.get(status, f"is {status}")
    text = f"{mark(status)} {link(run_url, run_id)} {words} (step {min(completed_steps, total_steps)} of {total_steps})"
    if error_code:
        text += f": {code_span(error_code)}"
    return {"text": f"{run_id} {words}", "blocks": [ContextBlock(elements=[MarkdownTextObject(text=text)]).to_dict()]}


def reject_modal(view: TaskView, *, reason_required: bool, private_metadata: str) -> dict:
    """The modal Reject opens: the task, and a reason that becomes the platform's comment."""
    hint = "Required: it is sent to the platform as the comment." if reason_required else \
        "Optional: it is sent to the platform as the comment."
    return View(
        type="modal", callback_id=REJECT_MODAL, title="Reject approval", submit="Reject", close="Cancel",
        private_metadata=private_metadata,
        blocks=[
            SectionBlock(text=MarkdownTextObject(
                text=f"*{escape(trim_middle(view.action, ACTION_LIMIT))}*\n{code_span(view.kind)} · "
                     f"{link(view.run_url, view.run_id)} of {escape(view.workflow_name)}")),
            InputBlock(block_id=REASON_BLOCK, label="Reason", optional=not reason_required, hint=hint,
                       element=PlainTextInputElement(action_id=REASON_INPUT, multiline=True, max_length=REASON_MAX,
                                                     placeholder="Why is this rejected?")),
        ],
    ).to_dict()

