"""What the failure context line costs (issue 16): failure-to-alert on the full store, timed per alert at the
Slack stand-in (the signed `run.failed` webhook sent to its `chat.postMessage` received), over interleaved
rounds of a bot with the context line and a bot started with `ALERT_CONTEXT_LINE=false` (the bench-only
switch that leaves it out). Target: the p99 with the line within 1.2x of the p99 without it.

The failures go to the store's own workflows, whose history (a million runs) the line's queries read; storms
and incident cards are turned off for these bots so every failure is alerted on its own and only the line
differs between the two."""

from __future__ import annotations

import asyncio
import os
import time

import aiohttp
from sqlalchemy import text

from benchmarks import dataset
from benchmarks.common import Row, bot_env, free_port, ms, percentile, start_bot
from benchmarks.figures import alert_time, failed_run
from benchmarks.load import sign_webhook, webhook_body
from store.db import create_engine

TARGET_RATIO = 1.2
# Slack posts about one message a second per channel (the stand-in enforces it and the bot paces to it): the
# timed failures are spaced so, so none waits behind another's slot and only the line differs.
SPACING_SECONDS = 1.05


async def set_aside_backlog(db_url: str) -> int:
    """Posts the earlier figures left undelivered (the ingest burst's alerts, paced at Slack's rate) would make
    the first timed alert wait minutes: they are set aside (marked failed) before the rounds, and counted, with
    the earlier figures' webhooks still unprocessed (marked processed)."""
    engine = create_engine(db_url)
    try:
        async with engine.begin() as conn:
            result = await conn.execute(text("UPDATE outbox SET status = 'failed' WHERE status IN ('pending', 'held')"))
            # And the ingest figure's events not processed yet (when it missed its target): the timed failures
            # would be processed behind them.
            events = await conn.execute(
                text("UPDATE webhook_deliveries SET processed_at = received_at WHERE processed_at IS NULL")
            )
            return int(result.rowcount or 0) + int(events.rowcount or 0)
    finally:
        await engine.dispose()


async def time_alerts(env, bot, count: int, tag: str, offset: int) -> tuple[list[float], int]:
    """Send `count` failures one at a time; the latency of each alert and how many never came."""
    flows = dataset.workflows()
    latencies, missing = [], 0
    async with aiohttp.ClientSession() as http:
        for i in range(count):
            n = offset + i
            wf_id, wf_name = flows[n % len(flows)]
            code = dataset.CODES[(n // len(flows)) % len(dataset.CODES)]
            run_id = f"run_ctx{os.getpid()}{tag}{n:05d}"
            body = webhook_body("run.failed", {"run": failed_run(run_id, wf_id, wf_name, code)})
            start = len(env.slack.calls)
            sent = time.time()
            async with http.post(f"{bot.url}/webhooks/platform", data=body.encode(), headers=sign_webhook(body)) as r:
                await r.read()
            deadline = time.monotonic() + 5.0
            at = None
            while time.monotonic() < deadline and at is None:
                await asyncio.sleep(0.002)
                at = alert_time(env.slack, start, run_id)
            if at is None:
                missing += 1
            else:
                latencies.append(at - sent)
            await asyncio.sleep(SPACING_SECONDS)
    return latencies, missing


async def bench_context(env, db_url: str, report, *, rounds: int, alerts: int, settled) -> None:
    """Interleaved rounds (with, without, with, …), one fresh bot each, on the same store."""
    print(f"context line: {rounds} interleaved rounds of {alerts} alerts", flush=True)
    with_line: list[float] = []
    without: list[float] = []
    missing = 0
    offset = 0
    set_aside = await set_aside_backlog(db_url)
    # An untimed round first: the first bot after the earlier figures inherits their aftermath (thousands of runs
    # they left active for its tracking to poll, a cold page cache); whichever round came first paid for it.
    for r in range(-1, rounds):
        on = r % 2 == 0
        bot = await start_bot(
            bot_env(
                database_url=db_url,
                port=free_port(),
                platform_url=env.platform.url,
                slack_api_url=env.slack.api_url,
                ALERT_CONTEXT_LINE="true" if on else "false",
                STORM_THRESHOLD="1000000",
                INCIDENT_WORKFLOWS="1000000",
            ),
            name=f"bot-context-{'on' if on else 'off'}-{r}",
        )
        try:
            await settled(bot)
            # Untimed warm-up, as in the failure-to-alert figure: a fresh process's first alerts take cold paths.
            await time_alerts(env, bot, 2, f"w{r + 1}", 10_000 + offset)
            if r < 0:
                await time_alerts(env, bot, alerts, "s", 20_000)
                print(f"  settling round (untimed, {alerts} alerts)", flush=True)
                continue
            latencies, lost = await time_alerts(env, bot, alerts, "a" if on else "b", offset)
            print(
                f"  round {r} ({'with' if on else 'without'} the line): p50 {ms(percentile(latencies, 50))}, "
                f"p99 {ms(percentile(latencies, 99))}, {lost} missing",
                flush=True,
            )
        finally:
            await bot.stop()
        offset += alerts
        missing += lost
        (with_line if on else without).extend(latencies)
    if not with_line or not without:
        report.add(
            Row(
                "failure to alert, context line",
                "interleaved rounds with and without the line",
                target=f"p99 with ≤ {TARGET_RATIO}x p99 without",
                verdict="n/a",
                note=f"no alerts timed ({missing} missing; {set_aside} earlier posts set aside)",
            )
        )
        return
    p99_on, p99_off = percentile(with_line, 99), percentile(without, 99)
    ratio = p99_on / p99_off if p99_off else float("inf")
    report.add(
        Row(
            "failure to alert, context line",
            f"{rounds} interleaved rounds, {len(with_line)} alerts with the line, {len(without)} without "
            "(`ALERT_CONTEXT_LINE=false`)",
            ms(percentile(with_line, 50)),
            ms(p99_on),
            "",
            f"without: p50 {ms(percentile(without, 50))}, p99 {ms(p99_off)}",
            f"p99 with ≤ {TARGET_RATIO}x p99 without",
            "ok" if ratio <= TARGET_RATIO and not missing else "MISS",
            f"ratio {ratio:.2f}x"
            + (f"; {missing} alert(s) not seen within 5 s" if missing else "")
            + f"; failures spaced {SPACING_SECONDS} s; {set_aside} undelivered posts and unprocessed webhooks of earlier figures set aside",
        )
    )
