"""The App Home tab: the pending approval tasks with a count, like the console's sidebar badge (pure builder)."""

from __future__ import annotations

from datetime import datetime

from slack_sdk.models.blocks import (
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.render.approvals import TaskView, summary_blocks
from bot.render.common import mark, slack_date
from bot.render.mrkdwn import Mrkdwn, mrkdwn

HOME_TASK_LIMIT = 20  # up to 4 blocks each, within a home view's 100


def home_view(views: list[TaskView], now: datetime, *, can_decide: bool, approvers: str) -> dict:
    """`approvers` is mrkdwn the bot made (mentions of the APPROVERS setting)."""
    count = len(views)
    title = f"Approvals · {count} pending" if count else "Approvals · none pending"
    blocks: list = [HeaderBlock(text=PlainTextObject(text=title, emoji=True))]
    if not can_decide:
        blocks.append(
            ContextBlock(
                elements=[
                    MarkdownTextObject(
                        text=mrkdwn(
                            "You can follow these tasks; only approvers decide them: {who}.", who=Mrkdwn(approvers)
                        )
                    )
                ]
            )
        )
    if not views:
        blocks.append(
            SectionBlock(text=MarkdownTextObject(text=f"{mark('approved')} Nothing is waiting for a decision."))
        )
    for view in views[:HOME_TASK_LIMIT]:
        blocks.append(DividerBlock())
        blocks.extend(summary_blocks(view, now))
    if count > HOME_TASK_LIMIT:
        blocks.append(
            ContextBlock(elements=[MarkdownTextObject(text=f"…and {count - HOME_TASK_LIMIT} more in the console.")])
        )
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=mrkdwn("Updated {at}", at=slack_date(now)))]))
    return View(type="home", callback_id="home", blocks=blocks).to_dict()
