"""`/runs diff A B` as Block Kit: two runs of one workflow side by side (model, prompt as a unified diff, steps
with status, duration, error code and cost), the first step where they diverged called out, and the whole
prompt diff in a modal. Pure; every piece of text is escaped."""

from __future__ import annotations

import difflib
import textwrap

from slack_sdk.models.blocks import ActionsBlock, ButtonElement, PlainTextObject
from slack_sdk.models.views import View

from bot.render.common import code_span, duration
from bot.render.compare import diff_value
from bot.render.cost import money
from bot.render.mrkdwn import Mrkdwn, code_block, escape, join, link, mrkdwn, plain, single_line
from bot.render.runs import RunUrl, _context, _section, message
from bot.views import RunView, StepView

PROMPT_DIFF_LINES = 20  # lines of the prompt diff shown in the message; the whole is in the Full diff modal
MODAL_CHUNK = 2800
MODAL_BLOCKS = 95
THREAD_SECTIONS = 10  # sections of the whole diff per thread reply (Slack: 50 blocks, 3,000 characters a section)
THREAD_REPLIES = 10  # thread replies at most; beyond, the Full diff modal and the console
WRAP = 72


def prompt_diff(a_id: str, a: str | None, b_id: str, b: str | None) -> list[str]:
    """A unified diff of two prompts, wrapped so that a one-line prompt still shows what changed."""

    def lines(text: str | None) -> list[str]:
        return [w for para in (text or "").splitlines() for w in (textwrap.wrap(para, WRAP) or [""])]

    return list(difflib.unified_diff(lines(a), lines(b), fromfile=a_id, tofile=b_id, lineterm="", n=2))


def _step_cell(step: StepView | None) -> str:
    if step is None:
        return "—"
    took = ""
    if step.started_at and step.completed_at:
        took = " " + duration(int((step.completed_at - step.started_at).total_seconds() * 1000))
    code = f" {step.error.code}" if step.error and step.error.code else ""
    cost = f" {money(step.usage.cost_usd)}" if step.usage is not None else ""
    return f"{step.status or '?'}{took}{code}{cost}"


def _same(a: StepView | None, b: StepView | None) -> bool:
    if a is None or b is None:
        return a is b
    return (a.name, a.status, a.error.code if a.error else None) == (
        b.name,
        b.status,
        b.error.code if b.error else None,
    )


def diverged_at(a: RunView, b: RunView) -> int | None:
    """The index of the first step whose name, status or error code differs between the runs."""
    a_steps, b_steps = {s.index: s for s in a.steps}, {s.index: s for s in b.steps}
    for index in sorted(set(a_steps) | set(b_steps)):
        if not _same(a_steps.get(index), b_steps.get(index)):
            return index
    return None


def prompt_trimmed(lines: list[str]) -> bool:
    """Whether the message shows only part of the prompt diff (cut by lines, or too long for its section)."""
    shown = lines[:PROMPT_DIFF_LINES]
    return len(lines) > len(shown) or len(escape("\n".join(shown))) > MODAL_CHUNK


def run_diff(
    a: RunView,
    b: RunView,
    a_prompt: str | None,
    b_prompt: str | None,
    run_url: RunUrl,
    *,
    whole_in_thread: bool = False,
    share_hint: str | None = None,
) -> dict:
    head = mrkdwn(
        "*{a} → {b}* · {workflow}",
        a=link(run_url(a.id), a.id),
        b=link(run_url(b.id), b.id),
        workflow=a.workflow_name,
    )
    facts = [
        mrkdwn("*Status*: {x} → {y}", x=a.status, y=b.status),
        mrkdwn(
            "*Model*: {x} → {y}{same}",
            x=code_span(a.model or "none"),
            y=code_span(b.model or "none"),
            same=" (same)" if a.model == b.model else "",
        ),
        mrkdwn(
            "*Cost*: {x} → {y}",
            x=money(a.usage.cost_usd if a.usage else None),
            y=money(b.usage.cost_usd if b.usage else None),
        ),
        mrkdwn("*Duration*: {x} → {y}", x=duration(a.duration_ms), y=duration(b.duration_ms)),
    ]
    blocks = [_section(head), _section(join("\n", facts))]
    diff = prompt_diff(a.id, a_prompt, b.id, b_prompt)
    if not diff:
        blocks.append(_section(Mrkdwn("*Prompt*: the same")))
    else:
        shown = diff[:PROMPT_DIFF_LINES]
        blocks.append(_section(mrkdwn("*Prompt*\n{diff}", diff=code_block("\n".join(shown)))))
        if prompt_trimmed(diff):
            blocks.append(
                ActionsBlock(
                    elements=[ButtonElement(text="Full diff", action_id="run_diff_full", value=diff_value(a.id, b.id))]
                ).to_dict()
            )
            where = "; the whole diff is in the thread" if whole_in_thread else ""
            if share_hint:
                where = mrkdwn("; {share} posts it here with the whole diff in its thread", share=code_span(share_hint))
            blocks.append(
                _context(mrkdwn("{n} more lines of the prompt diff{where}", n=len(diff) - len(shown), where=where))
            )
    a_steps, b_steps = {s.index: s for s in a.steps}, {s.index: s for s in b.steps}
    rows = []
    for index in sorted(set(a_steps) | set(b_steps)):
        step = a_steps.get(index) or b_steps.get(index)
        name = single_line(step.name or step.id, 28)
        rows.append(f"{index + 1}. {name:<28} {_step_cell(a_steps.get(index)):<34} {_step_cell(b_steps.get(index))}")
    if rows:
        header = f"{'':<31} {single_line(a.id, 34):<34} {single_line(b.id, 34)}"
        blocks.append(_section(mrkdwn("*Steps*\n{table}", table=code_block("\n".join([header, *rows])))))
    index = diverged_at(a, b)
    if index is not None:
        step = a_steps.get(index) or b_steps.get(index)
        blocks.append(_section(mrkdwn("↳ *First divergence*: step {n} {name}", n=index + 1, name=step.name or step.id)))
    elif rows:
        blocks.append(_context(Mrkdwn("The steps went the same way.")))
    return message(mrkdwn("{a} → {b}: {workflow}", a=a.id, b=b.id, workflow=a.workflow_name), blocks)


def _escaped_chunks(lines: list[str]) -> list[str]:
    """Lines packed into chunks whose escaped text fits a section (escaping may make text 5 times longer)."""
    pieces = [line[i : i + MODAL_CHUNK // 5] for line in lines for i in range(0, max(len(line), 1), MODAL_CHUNK // 5)]
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for piece in pieces:
        cost = len(escape(piece)) + 1
        if current and size + cost > MODAL_CHUNK:
            chunks.append("\n".join(current))
            current, size = [], 0
        current.append(piece)
        size += cost
    if current:
        chunks.append("\n".join(current))
    return chunks


def diff_thread(a_id: str, a_prompt: str | None, b_id: str, b_prompt: str | None) -> list[dict]:
    """The whole prompt diff as thread replies Slack accepts: sections that fit once escaped, a few per reply."""
    chunks = _escaped_chunks(prompt_diff(a_id, a_prompt, b_id, b_prompt))
    parts = [chunks[i : i + THREAD_SECTIONS] for i in range(0, len(chunks), THREAD_SECTIONS)]
    kept = parts[:THREAD_REPLIES]
    replies = []
    for n, part in enumerate(kept, 1):
        text = mrkdwn("Prompt diff {a} → {b}, part {n} of {total}", a=a_id, b=b_id, n=n, total=len(kept))
        blocks = [_context(text), *(_section(code_block(c)) for c in part)]
        if n == len(kept) and len(parts) > len(kept):
            blocks.append(_context(Mrkdwn("The rest of the diff is too long for a thread: *Full diff* shows more.")))
        replies.append(message(text, blocks))
    return replies


def full_diff_modal(a_id: str, a_prompt: str | None, b_id: str, b_prompt: str | None) -> dict:
    lines = prompt_diff(a_id, a_prompt, b_id, b_prompt) or ["The prompts are the same."]
    chunks = _escaped_chunks(lines)[:MODAL_BLOCKS]
    return View(
        type="modal",
        callback_id="run_diff_modal",
        title=PlainTextObject(text=plain("Prompt diff", 24)),
        close=PlainTextObject(text="Close"),
        blocks=[_section(code_block(c)) for c in chunks],
    ).to_dict()
