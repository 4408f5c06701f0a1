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


async def test_one_signed_click_delivered_to_both_bots_and_two_operators_on_both_replay_once(pg_harness):
    """The same request sent to two replicas (a retry through another load-balancer path), and two operators
    pressing Replay on two replicas at once: the store decides, so one replay reaches the platform."""
    from tests.test_alerts import wait_for_alert
    from tests.test_untrusted_requests import FORM, platform_writes, replay_click, replays

    h = pg_harness
    port = free_port()
    other = create_app(h.settings.model_copy(update={"PORT": port}))
    runner = web.AppRunner(other, handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    bots = (h.bot_url, f"http://127.0.0.1:{port}")

    async def post(bot_url: str, body: str) -> int:
        async with h.http.post(f"{bot_url}/slack/events", data=body.encode(), headers=slack_headers(body, FORM)) as r:
            return r.status

    try:
        run = await h.start_run("wf_invoices", "fail")
        await wait_for_alert(h, run["id"])
        before = replays(await platform_writes(h))
        same = interactive_body(replay_click(h, run["id"], user_id="U0SANDBOX", trigger="3.3.3"))
        assert await asyncio.gather(*(post(url, same) for url in bots)) == [200, 200]
        await h.wait_for(lambda: audit_rows(h, run["id"]), timeout=20, what="the replay audited")

        run2 = await h.start_run("wf_invoices", "fail")
        await wait_for_alert(h, run2["id"])
        presses = [
            interactive_body(replay_click(h, run2["id"], user_id=user, trigger=trigger))
            for user, trigger in (("U0SANDBOX", "2.2.2"), ("U0ANA", "2.2.3"))
        ]
        assert await asyncio.gather(*(post(url, body) for url, body in zip(bots, presses))) == [200, 200]
        await h.wait_for(
            lambda: _results(audit_rows(h, run2["id"]), {"ok", "duplicate"}), timeout=20, what="both presses audited"
        )
        await h.settled()
        assert replays(await platform_writes(h)) - before == 2  # one for each run, never two for one
    finally:
        await runner.cleanup()


async def _results(rows, wanted: set[str]) -> bool:
    return {r.result for r in await rows if r.action == "replay"} >= wanted
