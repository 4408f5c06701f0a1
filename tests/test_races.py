"""Requests that meet: a click on a run the bot has not heard of yet, arriving with the run's first webhook."""

from __future__ import annotations

import asyncio
import logging

from store.models import Run
from tests.test_security import answers_to, crafted_click, send_payload


async def test_a_click_that_arrives_with_the_runs_first_webhook_is_carried_out_once(any_harness, caplog):
    h = any_harness
    caplog.set_level(logging.WARNING)
    # The platform's own webhooks are lost: the test delivers each run's first webhook itself, with the click.
    await h.sim("POST", "/sim/webhooks", {"mode": "suppress", "count": -1})
    runs = [await h.start_run("wf_invoices", "succeed", frozen=True, status="running") for _ in range(6)]

    async def click_and_webhook(run: dict) -> tuple[int, int]:
        _, live = await h.api("GET", f"/runs/{run['id']}")
        click = send_payload(h, crafted_click(h, user_id="U0ANA", action_id="run_pause", value=run["id"]))
        webhook = h.post_webhook("run.started", {"run": live})
        status, resp = await asyncio.gather(click, webhook)
        return status, resp.status

    assert await asyncio.gather(*(click_and_webhook(r) for r in runs)) == [(200, 200)] * len(runs)

    async def all_paused():
        for run in runs:
            _, live = await h.api("GET", f"/runs/{run['id']}")
            if live["status"] != "paused":
                return False
            async with h.svc.sessions() as s:
                stored = await s.get(Run, run["id"])
                if stored is None or stored.status != "paused":
                    return False
        return True

    await h.wait_for(all_paused, timeout=30, what="every run paused on the platform and in the store")
    await h.settled()
    await h.svc.drain(timeout=30)
    told = answers_to(h, "U0ANA")
    assert "Something went wrong" not in told, told
    assert all(run["id"] in told for run in runs), told
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], errors
