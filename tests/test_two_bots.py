"""Two bot processes on one PostgreSQL database, behind one Slack app: the same approval card clicked on both at
once is decided once."""

from __future__ import annotations

import asyncio

from aiohttp import web

from bot.app import create_app
from tests.support.harness import free_port
from tests.test_approvals import audit_rows, card_of, element, gated_run, platform_task, text_of
from tests.test_security import crafted_click, interactive_body, slack_headers


async def test_one_approval_clicked_on_two_bots_at_once_is_decided_once(pg_harness):
    h = pg_harness
    port = free_port()
    other = create_app(h.settings.model_copy(update={"PORT": port}))
    runner = web.AppRunner(other, handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        task, card = await card_of(h, (await gated_run(h))["id"])
        value = element(card, "approval_approve")["value"]

        async def click(bot_url: str, user_id: str) -> int:
            payload = crafted_click(
                h, user_id=user_id, action_id="approval_approve", value=value, channel="C0APPROVALS"
            )
            payload["container"]["message_ts"] = card.ts
            body = interactive_body(payload)
            async with h.http.post(
                f"{bot_url}/slack/events",
                data=body.encode(),
                headers=slack_headers(body, "application/x-www-form-urlencoded"),
            ) as resp:
                return resp.status

        statuses = await asyncio.gather(click(h.bot_url, "U0ANA"), click(f"http://127.0.0.1:{port}", "U0BEN"))
        assert statuses == [200, 200]
        await h.wait_for(lambda: "Approved by" in text_of(card), timeout=20, what="the receipt on the card")
        await h.settled()
        decided = await platform_task(h, task.id)
        assert decided["status"] == "approved"
        rows = await audit_rows(h, task.id)
        assert sorted(r.result for r in rows if r.action == "approval.approve").count("ok") == 1, [
            (r.user_id, r.result) for r in rows
        ]
        winner = next(r.user_id for r in rows if r.result == "ok")
        card_text = text_of(card)
        assert card_text.count("Approved by") == 1 and f"Approved by <@{winner}>" in card_text
    finally:
        await runner.cleanup()
