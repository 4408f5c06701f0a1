"""Two replicas on PostgreSQL (`make bench BENCH_ARGS=--postgres`): the ingest load split over two `runbot serve`
on one database. What it shows: nothing lost (every acknowledged webhook stored and processed), nothing doubled
(each stored event processed by exactly one replica, each failure alerted once even when its webhook reached both
replicas), each replica's share of the acknowledgements and of the processing, and its CPU seconds per 1,000
events (from /proc, user + system). This machine has 2 cores, so no speed-up is expected here: the figures are
what `docs/deployment.md` argues scaling past one machine from."""

from __future__ import annotations

import asyncio
import os
import re
import time
from functools import partial
from pathlib import Path

import aiohttp

from benchmarks.common import ALERT_CHANNEL, Row, bot_env, free_port, ms, start_bot
from benchmarks.figures import failed_run_webhook
from benchmarks.load import Result, client_session, drive, ingest_events, post_webhook, sign_webhook

FAILURES = 20  # failed runs whose webhook is sent to both replicas (a redelivery that lands on the other one)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def processed_count(http: aiohttp.ClientSession, bot_url: str) -> int:
    async with http.get(f"{bot_url}/metrics") as resp:
        found = re.search(r"^runbot_events_processed_total ([0-9.e+]+)$", await resp.text(), re.M)
    return int(float(found.group(1))) if found else 0


async def _send_failures(urls: list[str], run_ids: list[str]) -> int:
    """Each failure's one signed webhook to every replica; how many answers were not 200."""
    bad = 0
    async with aiohttp.ClientSession() as http:
        for i, run_id in enumerate(run_ids):
            body = failed_run_webhook(run_id, i)
            headers = sign_webhook(body)
            for url in urls:
                async with http.post(f"{url}/webhooks/platform", data=body.encode(), headers=headers) as resp:
                    await resp.read()
                    bad += resp.status != 200
            await asyncio.sleep(0.05)
    return bad


def _alert_posts(slack, run_id: str) -> int:
    return sum(
        1
        for c in slack.calls_to("chat.postMessage")
        if c.ok and c.args.get("channel") == ALERT_CHANNEL and not c.args.get("thread_ts") and run_id in str(c.args)
    )


async def bench_replicas(env, report, *, database, stored_count, wait_processed) -> None:
    """The figure; `database`, `stored_count` and `wait_processed` are the suite's own helpers."""
    cfg = env.cfg
    db_url, _, _ = await database(env, "bench_replicas", 0)
    # An incident card would name the failures too; this figure counts alerts, one per failed run.
    overrides = {"INCIDENT_WORKFLOWS": "100000", "LOG_LEVEL": "WARNING"}
    bots = []
    try:
        for name in ("replica-a", "replica-b"):
            settings = bot_env(
                database_url=db_url,
                port=free_port(),
                platform_url=env.platform.url,
                slack_api_url=env.slack.api_url,
                **overrides,
            )
            bots.append(await start_bot(settings, name=name))
        senders = cfg.ingest_senders // 2
        size = int(cfg.ingest_seconds * cfg.ingest_pool_rate / 2)
        print(f"two replicas: {senders} senders each for {cfg.ingest_seconds:g} s, {FAILURES} failures to both")
        cpu_before = [cpu_seconds(b.pid) for b in bots]
        acked: list[list[str]] = [[], []]
        run_ids = [f"run_rep{os.getpid()}x{i:04d}" for i in range(FAILURES)]

        async def burst(i: int) -> Result:
            async with client_session(senders) as http:
                target = f"{bots[i].url}/webhooks/platform"
                send = partial(post_webhook, http, target, acked=acked[i])
                events = ingest_events(size, failed_every=0)
                return await drive(send, events, concurrency=senders, duration=cfg.ingest_seconds)

        results = await asyncio.gather(burst(0), burst(1), _send_failures([b.url for b in bots], run_ids))
        _, _, pending = await stored_count(db_url, [])
        drain, still = await wait_processed(db_url, timeout=max(120.0, cfg.ingest_seconds * 8))
        deadline = time.monotonic() + 60 + FAILURES * 2
        while time.monotonic() < deadline and any(_alert_posts(env.slack, r) == 0 for r in run_ids):
            await asyncio.sleep(0.5)
        await asyncio.sleep(2.0)  # a doubled alert would come right behind the first
        cpu = [cpu_seconds(b.pid) - before for b, before in zip(bots, cpu_before)]
        async with aiohttp.ClientSession() as http:
            processed = [await processed_count(http, b.url) for b in bots]
        everything = [m for a in acked for m in a]
        found, stored, _ = await stored_count(db_url, everything)
        stored_total = stored  # rows in webhook_deliveries: the burst's events and the failures (once each)
        alerts = [_alert_posts(env.slack, r) for r in run_ids]
        lost = len(everything) - found + sum(1 for a in alerts if a == 0)
        doubled = sum(processed) - stored_total + sum(1 for a in alerts if a > 1)
        ok = lost == 0 and doubled == 0 and still == 0
        total_acked = len(everything) or 1
        for i, (bot, result) in enumerate(zip(bots, results[:2])):
            events = len(acked[i]) + processed[i]
            report.add(
                Row(
                    f"two replicas: {bot.name}",
                    f"{senders} senders, {cfg.ingest_seconds:g} s, PostgreSQL shared with the other replica",
                    ms(result.p(50)),
                    ms(result.p(99)),
                    f"{result.throughput:,.0f}/s",
                    "",
                    "",
                    "",
                    f"acknowledged {len(acked[i]):,} ({len(acked[i]) / total_acked:.0%}), processed {processed[i]:,} "
                    f"({processed[i] / max(1, sum(processed)):.0%}); {cpu[i]:.1f} CPU s, "
                    f"{1000 * cpu[i] / max(1, events):.2f} CPU s per 1,000 events (acknowledged + processed)",
                )
            )
        report.add(
            Row(
                "two replicas: together",
                f"{len(everything):,} acknowledged, {FAILURES} failures sent to both replicas",
                "",
                "",
                f"{len(everything) / cfg.ingest_seconds:,.0f}/s",
                "",
                "nothing lost, nothing doubled",
                "ok" if ok else "MISS",
                f"{found:,} of {len(everything):,} acknowledged stored, {sum(processed):,} processed of "
                f"{stored_total:,} stored (backlog {pending:,} at the end, drained in {drain:.1f} s"
                f"{f', {still:,} left' if still else ''}); alerts per failed run: "
                f"{sorted(set(alerts))} (want [1]); errors {results[0].errors + results[1].errors}, "
                f"non-200 failure webhooks {results[2]}",
            )
        )
    finally:
        for bot in bots:
            await bot.stop()
