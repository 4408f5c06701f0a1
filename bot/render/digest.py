"""The daily digest of a day's failures: per workflow and the top error codes, as one Block Kit message."""

from __future__ import annotations

from datetime import datetime

from slack_sdk.models.blocks import ContextBlock, HeaderBlock, MarkdownTextObject, SectionBlock

from bot.render.common import escape

WORKFLOWS_SHOWN = 15
CODES_SHOWN = 5


def digest_message(entries: list[tuple[str, str, str, int]], day: datetime) -> dict:
    """`entries`: (workflow id, workflow name, error code, failures) of one channel's workflows on `day`."""
    per_workflow: dict[tuple[str, str], int] = {}
    per_code: dict[str, int] = {}
    for workflow_id, name, code, count in entries:
        per_workflow[(workflow_id, name)] = per_workflow.get((workflow_id, name), 0) + count
        per_code[code] = per_code.get(code, 0) + count
    total = sum(per_code.values())
    workflows = sorted(per_workflow.items(), key=lambda kv: (-kv[1], kv[0][1]))[:WORKFLOWS_SHOWN]
    codes = sorted(per_code.items(), key=lambda kv: (-kv[1], kv[0]))[:CODES_SHOWN]
    lines = "\n".join(
        f"• *{escape(name)}* (`{escape(wid)}`): {n} failure{'s' if n != 1 else ''}" for (wid, name), n in workflows
    )
    top = ", ".join(f"`{escape(code)}` ×{n}" for code, n in codes)
    title = f"Daily digest for {day.date().isoformat()}: {total} failed run{'s' if total != 1 else ''}"
    blocks = [
        HeaderBlock(text=title[:150]).to_dict(),
        SectionBlock(text=MarkdownTextObject(text=lines[:3000] or "No failures.")).to_dict(),
        ContextBlock(elements=[MarkdownTextObject(text=f"Top error codes: {top}"[:2000])]).to_dict(),
        ContextBlock(elements=[MarkdownTextObject(text="Find them with `/runs failed --since 2d`")]).to_dict(),
    ]
    return {"text": f"{title}. Top error codes: {top}", "blocks": blocks}
