"""`make bench`: the real bot (`runbot serve`, its own process) on loopback, its floors measured in the same run.

The bench process hosts the Slack stand-in (it records each response_url post and Web API call with its time)
and drives the load; the reference platform, the floors and the bot are subprocesses. Every figure is a median
and p99 over repeated requests, pooled over `--rounds` interleaved rounds (floor, bot, floor, bot...).

    python -m benchmarks                 # full size: 1,000,000 runs, 30 s of ingest (the lead runs this)
    python -m benchmarks --quick         # tiny sizes for development (results to benchmarks/out/)
    python -m benchmarks --postgres      # the same on a throwaway PostgreSQL cluster
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path

import aiohttp
from sqlalchemy import text

from benchmarks import dataset
from benchmarks.common import (
    ALERT_CHANNEL,
    BOT_TOKEN,
    OUT,
    PLATFORM_TOKEN,
    RESULTS,
    ROOT,
    SIGNING_SECRET,
    WEBHOOK_SECRET,
    Report,
    Row,
    Server,
    bot_env,
    free_port,
    machine,
    ms,
    percentile,
    spawn,
    start_bot,
    start_floor,
    utc_stamp,
    versions,
    wait_http,
    write_section,
)
from benchmarks.context import bench_context
from benchmarks.cost_rows import cost_call, cost_commands
from benchmarks.figures import bare_tracking_fetch, bench_alerts, bench_overload
from benchmarks.load import Result, SlashClient, client_session, drive, ingest_events, post_webhook
from benchmarks.replicas import bench_replicas
from benchmarks.targets import (
    COST_P99_RATIO,
    INGEST_P99_RATIO,
    INGEST_SHARE,
    OVERLOAD_REQUESTS,
    PROCESSING_SECONDS,
    RSS_MB,
    SLASH_CONCURRENT_SHARE,
    SLASH_P99_RATIO,
    TRACKING_RATIO,
    ratio,
    verdict,
)
from reference.slack import SlackStandIn
from store.db import create_engine

FIGURES = ("slash", "overload", "ingest", "alerts", "context", "tracking", "memory", "replicas")


@dataclass
class Config:
    quick: bool = False
    postgres: bool = False
    runs: int = 1_000_000
    rounds: int = 2
    seq_requests: int = 300  # per command per round, one client: p99 of 600 answers is the 6th slowest, not the 2nd
    concurrency: int = 16
    conc_requests: int = 400  # per command per round, 16 clients
    ingest_seconds: float = 30.0
    ingest_senders: int = 64
    ingest_pool_rate: int = 4000  # pre-signed webhooks per second of ingest
    alerts: int = 30  # timed failures in all, idle and during a burst each, spaced 1 s
    overload_requests: int = OVERLOAD_REQUESTS
    context_rounds: int = 6  # interleaved rounds with and without the alert's context line
    context_alerts: int = 50  # alerts per round
    tracking_runs: int = 10_000
    tracking_cycles: int = 3
    profile: bool = True  # profile the bot with pyinstrument when ingest misses its target
    only: set[str] = field(default_factory=lambda: set(FIGURES))
    results: Path = RESULTS
    argv: list[str] = field(default_factory=list)

    @classmethod
    def quick_sizes(cls, **kw) -> "Config":
        base = dict(
            quick=True,
            runs=10_000,
            rounds=1,
            seq_requests=20,
            conc_requests=160,
            ingest_seconds=2.0,
            alerts=4,
            overload_requests=200,
            context_rounds=2,
            context_alerts=3,
            tracking_runs=500,
            tracking_cycles=2,
            results=OUT / "RESULTS.quick.md",
        )
        base.update(kw)
        return cls(**base)


# The pieces on loopback


@dataclass
class Env:
    slack: SlackStandIn
    platform: Server
    cfg: Config
    pg_admin: str | None = None
    cluster: object = None

    async def sim(self, method: str, path: str, body: dict | None = None) -> dict:
        async with aiohttp.ClientSession() as http:
            async with http.request(method, f"{self.platform.url}{path}", json=body) as resp:
                data = await resp.json(content_type=None)
                if resp.status >= 400:
                    raise RuntimeError(f"{method} {path}: {resp.status} {data}")
                return data


async def start_platform(webhook_url: str | None = None) -> Server:
    """The reference platform in its own process; it sends webhooks only when given `webhook_url`."""

    port = free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT))
    args = [
        sys.executable,
        "-m",
        "reference.platform",
        "--port",
        str(port),
        "--api-token",
        PLATFORM_TOKEN,
        "--webhook-secret",
        WEBHOOK_SECRET,
        "--seed",
        "7",
    ]
    proc, log_path = spawn("platform", args + (["--webhook-url", webhook_url] if webhook_url else []), env)
    server = Server("platform", proc, f"http://127.0.0.1:{port}", log_path)
    await wait_http(f"{server.url}/sim/stats", proc=proc, timeout=60)
    return server


async def start_env(cfg: Config, *, webhook_url: str | None = None) -> Env:
    slack = SlackStandIn(bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET, ack_timeout=10.0)
    await slack.start()
    env = Env(slack=slack, platform=await start_platform(webhook_url), cfg=cfg)
    if cfg.postgres:
        from tests.support.postgres import Cluster

        env.cluster = Cluster()
        env.pg_admin = await asyncio.to_thread(env.cluster.start)
    return env


async def stop_env(env: Env) -> None:
    await env.platform.stop()
    await env.slack.stop()
    if env.cluster is not None:
        await asyncio.to_thread(env.cluster.stop)


async def database(env: Env, name: str, runs: int) -> tuple[str, dict | None, str]:
    """A database URL for the bot holding `runs` runs (0: empty), its targets, and how it was made."""
    if env.pg_admin:
        from tests.support.postgres import create_database

        url = await create_database(env.pg_admin, name)
        if not runs:
            return url, None, "empty"
        targets, seconds = await dataset.postgres_store(url, runs)
        return url, targets, f"{runs:,} runs generated by COPY in {seconds:.0f} s"
    if not runs:
        path = OUT / f"{name}.db"
        for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            p.unlink(missing_ok=True)
        return f"sqlite+aiosqlite:///{path}", None, "empty"
    cached, targets, seconds = await dataset.sqlite_store(runs)
    work = dataset.working_copy(cached, f"{name}.db")
    how = f"{runs:,} runs " + ("from the cache" if seconds is None else f"generated in {seconds:.0f} s")
    return f"sqlite+aiosqlite:///{work}", targets, how


async def bot_settled(bot: Server, timeout: float = 300) -> None:
    """Wait for the scheduler's first housekeeping pass (a scan of the runs table) so it is not measured."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            async with http.get(f"{bot.url}/metrics") as resp:
                if re.search(r'runbot_jobs_total\{job="housekeeping",outcome="[a-z_]+"\} [1-9]', await resp.text()):
                    return
            await asyncio.sleep(0.5)


# Slash commands


def slash_commands(targets: dict) -> list[tuple[str, str]]:
    return [
        ("/runs failed", "failed"),
        ("/runs failed --workflow W --since 7d", f"failed --workflow {targets['workflow']} --since 7d"),
        ("/runs list running", "list running"),
        ("/runs show PREFIX", f"show {targets['show_prefix']}"),
        *cost_commands(),
    ]


SLASH_MEASURE_SECONDS = 60.0
SLASH_SLICE = 20  # one-client requests per command in a row before the next command's
SLASH_CALL_TIMEOUT = 15.0  # one request that never ends is an error, not a stalled phase


async def bench_slash(env: Env, bot: Server, floors: dict[str, Server], targets: dict, report: Report) -> None:
    cfg = env.cfg
    print(
        f"slash commands: {cfg.rounds} round(s) of {cfg.seq_requests} sequential and {cfg.conc_requests} at "
        f"{cfg.concurrency} concurrent, per command",
        flush=True,
    )
    commands = slash_commands(targets)
    # `/runs show` reads the run's live state from the platform too: the platform must know that run.
    await env.sim(
        "POST",
        "/sim/runs",
        {"id": targets["show_id"], "workflow": "wf_invoices", "outcome": "fail", "status": "failed", "frozen": True},
    )
    async with client_session(cfg.concurrency) as http:
        clients = {
            "aiohttp": SlashClient(http, floors["aiohttp"].url, env.slack),
            "bolt": SlashClient(http, floors["bolt"].url, env.slack),
            "bot": SlashClient(http, bot.url, env.slack),
        }
        broken: dict[str, str] = {}
        for label, cmd in commands:  # warm up, find out what works and how each command answers
            try:
                await clients["bot"].probe(cmd)
                for _ in range(3):
                    await clients["bot"].send(clients["bot"].prepare(cmd))
            except Exception as exc:
                broken[label] = str(exc)[:300]
        for name in ("aiohttp", "bolt"):
            for _ in range(20):
                await clients[name].ack_only(clients[name].prepare("noop"))

        results: dict[tuple[str, int], Result] = {}

        async def measure(key: str, client: SlashClient, cmd: str, concurrency: int, count: int, ack_only: bool):
            items = [client.prepare(cmd) for _ in range(count)]
            call = cost_call(key, client.ack_only if ack_only else client.send, targets.get("db_url"))
            # Bounded: a run whose follow-up posts go missing (each then waits its answer timeout) cannot
            # hold the suite for long; the figure says how many requests it took.
            res = await drive(
                call, items, concurrency=concurrency, duration=SLASH_MEASURE_SECONDS, call_timeout=SLASH_CALL_TIMEOUT
            )
            results.setdefault((key, concurrency), Result()).merge(res)

        async def one_round(concurrency: int, count: int) -> None:
            await measure("aiohttp", clients["aiohttp"], "noop", concurrency, count, True)
            await measure("bolt", clients["bolt"], "noop", concurrency, count, True)
            for label, cmd in commands:
                if label not in broken:
                    await measure(label, clients["bot"], cmd, concurrency, count, False)

        for _ in range(cfg.rounds):
            # One client: the round's requests in slices of SLASH_SLICE, the floors and every command in turn, so
            # each is sampled all through the round and a burst of noise on the machine (a shared VM's: the same
            # code's p99 varies 2x between runs) lands on all of them alike, not on whichever ran at that moment.
            for _ in range(max(1, cfg.seq_requests // SLASH_SLICE)):
                await one_round(1, min(SLASH_SLICE, cfg.seq_requests))
            await one_round(cfg.concurrency, cfg.conc_requests)
        for c in clients.values():
            await c.close()

    for concurrency in (1, cfg.concurrency):
        who = "one client" if concurrency == 1 else f"{concurrency} concurrent"
        a, b = results[("aiohttp", concurrency)], results[("bolt", concurrency)]
        report.add(
            Row(
                "floor: bare aiohttp handler",
                f"POST /slack/events, {who}",
                ms(a.p(50)),
                ms(a.p(99)),
                f"{a.throughput:,.0f} req/s",
                note=_errors(a),
            )
        )
        report.add(
            Row(
                "floor: bare Bolt AsyncApp, no-op /runs",
                f"process_before_response=True, {who}",
                ms(b.p(50)),
                ms(b.p(99)),
                f"{b.throughput:,.0f} req/s",
                note=_errors(b),
            )
        )
        for label, cmd in commands:
            if label in broken:
                report.add(
                    Row(
                        "slash command to answer",
                        f"`{label}`, {who}",
                        verdict="n/a",
                        note=f"could not be measured: {broken[label]}",
                    )
                )
                continue
            r = results[(label, concurrency)]
            floor = f"Bolt p50 {ms(b.p(50))} / p99 {ms(b.p(99))}, {b.throughput:,.0f} req/s"
            if concurrency == 1:
                limit = COST_P99_RATIO if label.startswith("/runs cost") else SLASH_P99_RATIO
                ok = r.p(99) <= limit * b.p(99) and not r.errors
                target = f"p99 <= {limit:g}x Bolt p99"
                note = f"p99 = {ratio(r.p(99), b.p(99)):.1f}x Bolt p99"
            else:
                ok = r.throughput >= SLASH_CONCURRENT_SHARE * b.throughput and not r.errors
                target = f"throughput >= {SLASH_CONCURRENT_SHARE:.0%} of Bolt's"
                note = f"throughput = {r.throughput / b.throughput:.0%} of Bolt's" if b.throughput else ""
            answer = clients["bot"].last_answers.get(cmd)
            if answer:
                note = (note + "; " if note else "") + f"answer via {answer.via}"
            report.add(
                Row(
                    "slash command to answer",
                    f"`{label}`, {who}",
                    ms(r.p(50)),
                    ms(r.p(99)),
                    f"{r.throughput:,.0f} req/s",
                    floor,
                    target,
                    verdict(ok),
                    (note + " " + _errors(r)).strip(),
                )
            )
    for label, cmd in commands:
        answer = clients["bot"].last_answers.get(cmd)
        if answer:
            report.details.append(f"- `/runs {cmd}` answered via {answer.via}: {answer.text[:160]!r}")
    if broken:
        report.notes.append(
            "Some `/runs` commands could not be measured (the command module is being written by "
            "another engineer): " + "; ".join(f"`{k}`: {v}" for k, v in broken.items())
        )


def _errors(r: Result) -> str:
    if not r.errors:
        return ""
    return f"{r.errors} error(s), e.g. {r.error_samples[0] if r.error_samples else '?'}"


# Webhook ingest


async def stored_count(db_url: str, acked: list[str]) -> tuple[int, int, int]:
    """(acknowledged ids found in webhook_deliveries, rows in total, rows not yet processed)."""
    engine = create_engine(db_url)
    try:
        async with engine.connect() as conn:
            ids = set((await conn.execute(text("SELECT id FROM webhook_deliveries"))).scalars().all())
            pending = (
                await conn.execute(text("SELECT count(*) FROM webhook_deliveries WHERE processed_at IS NULL"))
            ).scalar_one()
    finally:
        await engine.dispose()
    return sum(1 for i in acked if i in ids), len(ids), pending


async def wait_processed(db_url: str, timeout: float) -> tuple[float, int]:
    """Seconds until every stored webhook is processed (or the timeout), and how many were still pending."""
    started = time.perf_counter()
    pending = -1
    while time.perf_counter() - started < timeout:
        _, _, pending = await stored_count(db_url, [])
        if pending == 0:
            break
        await asyncio.sleep(0.2)
    return time.perf_counter() - started, pending


async def run_ingest(url: str, events, *, senders: int, seconds: float, acked: list[str] | None) -> Result:
    async with client_session(senders) as http:
        target = f"{url}/webhooks/platform"
        return await drive(
            partial(post_webhook, http, target, acked=acked), events, concurrency=senders, duration=seconds
        )


async def bench_ingest(env: Env, bot: Server, floor: Server, db_url: str, report: Report) -> Result:
    """Interleaved rounds (ceiling, bot, ceiling, bot): 64 senders for `ingest_seconds` against the bare aiohttp
    handler, then against the bot; after each bot round, how long processing takes to catch up."""
    cfg = env.cfg
    size = int(cfg.ingest_seconds * cfg.ingest_pool_rate)
    print(
        f"webhook ingest: {cfg.rounds} round(s) of {cfg.ingest_senders} senders for {cfg.ingest_seconds:g} s "
        f"against the aiohttp floor, then the bot ({size:,} signed webhooks a round)",
        flush=True,
    )
    ceiling, result = Result(), Result()
    acked: list[str] = []
    drains: list[float] = []
    backlogs: list[int] = []
    still = 0
    await wait_processed(db_url, timeout=max(60.0, cfg.ingest_seconds * 4))  # from an empty backlog
    for _ in range(cfg.rounds):
        events = ingest_events(size)
        ceiling.merge(
            await run_ingest(
                floor.url, itertools.cycle(events), senders=cfg.ingest_senders, seconds=cfg.ingest_seconds, acked=None
            )
        )
        result.merge(
            await run_ingest(bot.url, events, senders=cfg.ingest_senders, seconds=cfg.ingest_seconds, acked=acked)
        )
        _, _, pending = await stored_count(db_url, [])
        drain, still = await wait_processed(db_url, timeout=max(60.0, cfg.ingest_seconds * 4))
        backlogs.append(pending)
        drains.append(drain if still == 0 else float("inf"))
    found, _, _ = await stored_count(db_url, acked)
    report.add(
        Row(
            "floor: sender ceiling",
            f"{cfg.ingest_senders} senders, bare aiohttp handler, {cfg.rounds} x {cfg.ingest_seconds:g} s",
            ms(ceiling.p(50)),
            ms(ceiling.p(99)),
            f"{ceiling.throughput:,.0f}/s",
            note=_errors(ceiling),
        )
    )
    share = ratio(result.throughput, ceiling.throughput) if ceiling.throughput else 0.0
    p99_ratio = ratio(result.p(99), ceiling.p(99))
    ok = (
        share >= INGEST_SHARE
        and p99_ratio <= INGEST_P99_RATIO
        and found == len(acked)
        and not result.errors
        and not result.exhausted
    )
    note = (
        f"{share:.0%} of the ceiling, p99 = {p99_ratio:.1f}x its p99; "
        f"{len(acked):,} acknowledged, {found:,} of them stored"
    )
    if result.exhausted:
        note += f"; the {size:,} pre-signed webhooks ran out before {cfg.ingest_seconds:g} s"
    report.add(
        Row(
            "webhook ingest",
            f"`run.step.updated` + `run.failed` (10%), {cfg.ingest_senders} senders, "
            f"{cfg.rounds} x {cfg.ingest_seconds:g} s",
            ms(result.p(50)),
            ms(result.p(99)),
            f"{result.throughput:,.0f}/s",
            f"ceiling {ceiling.throughput:,.0f}/s, p99 {ms(ceiling.p(99))}",
            f">= {INGEST_SHARE:.0%} of the ceiling, p99 <= {INGEST_P99_RATIO:g}x its p99, every ack stored",
            verdict(ok),
            (note + " " + _errors(result)).strip(),
        )
    )
    worst = max(drains)
    report.add(
        Row(
            "processing",
            "what each ingest round acknowledged, processed after the burst ends",
            "",
            f"max {worst:.1f} s" if worst != float("inf") else "not drained",
            "",
            "",
            f"processed within {PROCESSING_SECONDS:g} s of the end",
            verdict(worst <= PROCESSING_SECONDS),
            "backlog at the end of each round "
            + ", ".join(f"{b:,}" for b in backlogs)
            + "; drained in "
            + ", ".join(f"{d:.1f} s" for d in drains)
            + (f"; {still:,} still unprocessed" if still else ""),
        )
    )
    return result


async def profile_ingest(env: Env, db_url: str, report: Report) -> None:
    """Run a fresh bot under pyinstrument through a short ingest, and keep what bounds it."""
    session_path = OUT / "profile-ingest.pyisession"
    session_path.unlink(missing_ok=True)
    port = free_port()
    benv = bot_env(database_url=db_url, port=port, platform_url=env.platform.url, slack_api_url=env.slack.api_url)
    runbot = Path(sys.executable).parent / "runbot"

    args = [sys.executable, "-m", "pyinstrument", "-r", "pyisession", "-o", str(session_path), str(runbot), "serve"]
    proc, log_path = spawn("bot-profiled", args, benv)
    bot = Server("bot-profiled", proc, f"http://127.0.0.1:{port}", log_path)
    seconds = min(10.0, env.cfg.ingest_seconds)
    try:
        await wait_http(f"{bot.url}/readyz", proc=proc, timeout=300)
        events = ingest_events(int(seconds * env.cfg.ingest_pool_rate))
        result = await run_ingest(bot.url, events, senders=env.cfg.ingest_senders, seconds=seconds, acked=None)
    finally:
        await bot.stop()
    for _ in range(100):  # pyinstrument writes its session as the process exits
        if session_path.exists() and session_path.stat().st_size > 0:
            break
        await asyncio.sleep(0.1)
    try:
        summary, tree = render_profile(session_path)
    except (OSError, ValueError) as exc:
        report.details.append(
            f"\nThe profiled bot wrote no readable profile ({type(exc).__name__}; see "
            "`benchmarks/out/bot-profiled.log`)."
        )
        return
    (OUT / "profile-ingest.txt").write_text(tree)
    report.details.append(
        f"\nProfile of the bot (pyinstrument, main thread) through {seconds:g} s of ingest "
        f"({result.throughput:,.0f}/s with the profiler on), start-up included; frames over 1%. The roots "
        "`Session.execute`/`Session.get` are SQLAlchemy's greenlets (statement building and result processing); "
        f"`epoll.poll` is idle or waiting on the database thread (full tree: `benchmarks/out/profile-ingest.txt`):"
        f"\n\n```\n{summary}\n```"
    )


def render_profile(path: Path) -> tuple[str, str]:
    """(the call tree down to 1%, the whole call tree) of a pyinstrument session."""
    from pyinstrument.renderers import ConsoleRenderer
    from pyinstrument.session import Session

    session = Session.load(path)
    summary = ConsoleRenderer(time="percent_of_total", processor_options={"filter_threshold": 0.01}).render(session)
    lines = [line for line in summary.splitlines() if line.strip() and "<module>" not in line]
    tree = ConsoleRenderer(
        show_all=True, time="percent_of_total", processor_options={"filter_threshold": 0.002}
    ).render(session)
    return "\n".join(lines[:70]), tree


# Tracking cycle (in process: it times `bot.tracking.track_cycle(svc)` itself)


async def bench_tracking(env: Env, report: Report) -> None:
    from aiohttp import web

    from bot.app import create_app
    from bot.config import load_settings
    from bot.contract import run_of
    from bot.keys import SERVICES
    from bot.runs import merge_run
    from bot.tracking import track_cycle
    from store.db import upgrade

    cfg = env.cfg
    n = cfg.tracking_runs
    print(f"tracking cycle: {n:,} active runs on the platform and in the store", flush=True)
    created = time.monotonic()
    for start in range(0, n, 10_000):
        await env.sim("POST", "/sim/runs/bulk", {"count": min(10_000, n - start), "status": "running", "frozen": True})
    db_url, _, _ = await database(env, "bench_tracking", 0)
    engine = create_engine(db_url)
    await upgrade(engine)
    async with engine.begin() as conn:
        # The bench fills the store itself (no first sync racing it) and holds the scheduler's leases, so the
        # only tracking cycles are the ones it times.
        await conn.execute(
            text("INSERT INTO kv (key, value) VALUES ('sync.done', :v)"),
            {"v": json.dumps({"at": datetime.now(timezone.utc).isoformat(), "runs": 0})},
        )
        for job in ("track", "approvals", "housekeeping"):
            await conn.execute(
                text("INSERT INTO leases (name, holder, expires_at) VALUES (:n, 'benchmark', :e)"),
                {"n": job, "e": datetime.now(timezone.utc) + timedelta(hours=2)},
            )
    await engine.dispose()
    settings = load_settings(
        _env_file=None,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=env.slack.api_url,
        PLATFORM_API_URL=env.platform.url,
        PLATFORM_API_TOKEN=PLATFORM_TOKEN,
        PLATFORM_WEBHOOK_SECRET=WEBHOOK_SECRET,
        ALERT_CHANNEL=ALERT_CHANNEL,
        DATABASE_URL=db_url,
        HOST="127.0.0.1",
        PORT=free_port(),
        LOG_LEVEL="WARNING",
    )
    app = create_app(settings)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    try:
        svc = app[SERVICES]
        listed: dict[str, dict] = {}
        pages_seen = 0
        async for run in svc.platform.iter_runs(status=["running"], include_steps=True, limit=200):
            listed[run["id"]] = run
            pages_seen += 1
        if pages_seen != len(listed):
            report.notes.append(
                f"The platform's paginated run list returned {pages_seen - len(listed)} run(s) twice "
                f"while listing {len(listed):,} running runs."
            )
        runs = list(listed.values())
        for start in range(0, len(runs), 1000):
            async with svc.sessions.begin() as session:
                for data in runs[start : start + 1000]:
                    await merge_run(session, run_of(data))
        # Runs updated more than the tracker's 5 s margin before the cycles: a steady state, not a first sync.
        await asyncio.sleep(max(0.0, 6.0 - (time.monotonic() - created)))
        seconds: list[float] = []
        floor: list[float] = []
        requests: list[int] = []
        summary: dict = {}
        for _ in range(cfg.tracking_cycles):  # interleaved: the bare client's fetch, then a cycle
            floor.append(await bare_tracking_fetch(env.platform.url, list(listed)))
            await env.sim("POST", "/sim/stats/reset")
            started = time.perf_counter()
            summary = await track_cycle(svc)
            seconds.append(time.perf_counter() - started)
            requests.append((await env.sim("GET", "/sim/stats"))["total"])
    finally:
        await runner.cleanup()
    pages = -(-n // 100)
    cycle, bare = percentile(seconds, 50), percentile(floor, 50)
    ok = cycle <= TRACKING_RATIO * bare and max(requests) <= pages + 5
    report.add(
        Row(
            "tracking cycle",
            f"{n:,} active runs, {cfg.tracking_cycles} cycles",
            ms(cycle),
            f"max {ms(max(seconds))}",
            f"{max(requests)} requests/cycle",
            f"bare client fetching the same pages: p50 {ms(bare)}, max {ms(max(floor))}",
            f"p50 <= {TRACKING_RATIO:g}x the bare fetch; requests = pages",
            verdict(ok),
            f"{ratio(cycle, bare):.2f}x the bare fetch; {summary.get('tracked', 0):,} tracked, "
            f"{summary.get('polled', 0):,} polled; {pages} pages of 100 ids; the platform is its own process",
        )
    )


# The suite


async def run_suite(cfg: Config) -> Report:
    db_name = "postgres" if cfg.postgres else "sqlite"
    report = Report(f"bench:{db_name}")
    env = await start_env(cfg)
    servers: list[Server] = []
    try:
        floors = {
            "aiohttp": await start_floor("aiohttp", slack_api_url=env.slack.api_url),
            "bolt": await start_floor("bolt", slack_api_url=env.slack.api_url),
        }
        servers += floors.values()
        needs_bot = cfg.only & {"slash", "overload", "ingest", "alerts", "context", "memory"}
        if needs_bot:
            print(f"store: preparing {cfg.runs:,} runs on {db_name}", flush=True)
            db_url, targets, how = await database(env, "bench_store", cfg.runs)
            report.notes.append(f"Store: {how} ({db_name}); 10% failed, 50 workflows, failures with their steps.")
            bot = await start_bot(
                bot_env(
                    database_url=db_url,
                    port=free_port(),
                    platform_url=env.platform.url,
                    slack_api_url=env.slack.api_url,
                )
            )
            servers.append(bot)
            await bot_settled(bot)
            if "slash" in cfg.only:
                await bench_slash(env, bot, floors, {**targets, "db_url": db_url}, report)
            if "overload" in cfg.only:
                await bench_overload(env, bot, floors["bolt"], report)
            # Alerts before the ingest figure: its failures (10% of the events) fill the alert channel's
            # paced outbox, which the idle figure must not wait behind.
            if "alerts" in cfg.only:
                settle = partial(wait_processed, db_url, timeout=max(60.0, cfg.ingest_seconds * 4))
                await bench_alerts(env, bot, report, run_ingest=run_ingest, settle=settle)
            ingest = None
            if "ingest" in cfg.only:
                ingest = await bench_ingest(env, bot, floors["aiohttp"], db_url, report)
            if "memory" in cfg.only:
                mem = bot.memory()
                peak = mem.get("VmHWM", 0) / 1024
                report.add(
                    Row(
                        "memory",
                        f"bot process, {cfg.runs:,} runs stored, after the figures above",
                        f"now {mem.get('VmRSS', 0) / 1024:.0f} MB",
                        f"peak {peak:.0f} MB",
                        "",
                        "",
                        f"peak RSS <= {RSS_MB} MB",
                        verdict(peak <= RSS_MB),
                        "VmHWM of `runbot serve`",
                    )
                )
            await bot.stop()
            servers.remove(bot)
            if "context" in cfg.only:
                await bench_context(
                    env, db_url, report, rounds=cfg.context_rounds, alerts=cfg.context_alerts, settled=bot_settled
                )
            if (
                ingest is not None
                and cfg.profile
                and any(r.figure in ("webhook ingest", "processing") and r.verdict == "MISS" for r in report.rows)
            ):
                print("ingest missed its target: profiling the bot", flush=True)
                profile_url, _, _ = await database(env, "bench_profile", 0)
                await profile_ingest(env, profile_url, report)
        if "tracking" in cfg.only:
            await bench_tracking(env, report)
        if "replicas" in cfg.only and cfg.postgres:
            await bench_replicas(
                env,
                report,
                database=database,
                stored_count=stored_count,
                wait_processed=wait_processed,
            )
    finally:
        for server in servers:
            await server.stop()
        await stop_env(env)
    return report


def render(cfg: Config, report: Report, elapsed: float) -> str:
    size = "quick sizes" if cfg.quick else "full size"
    lines = [
        f"## {'PostgreSQL' if cfg.postgres else 'SQLite'}: {size}",
        "",
        f"- date: {utc_stamp()}; took {elapsed / 60:.1f} min",
        f"- machine: {machine()}",
        f"- versions: {versions()}",
        f"- command: `python -m benchmarks {' '.join(cfg.argv)}`",
        "- method: the bot is `runbot serve` in its own process, the reference platform and the floors too; "
        "the bench process drives the load and hosts the Slack stand-in. Latencies are median (p50) and p99 "
        f"over every request of {cfg.rounds} interleaved round(s); floors are measured in the same run.",
        "",
    ]
    lines += [f"- {n}" for n in report.notes]
    lines += ["", report.table(), ""]
    if report.details:
        lines += ["Details:", ""] + report.details
    return "\n".join(lines)


def parse(argv: list[str]) -> Config:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="tiny sizes and short durations (development)")
    p.add_argument("--postgres", action="store_true", help="run on a throwaway PostgreSQL cluster")
    p.add_argument("--runs", type=int, help="runs in the store (default 1,000,000; --quick 10,000)")
    p.add_argument("--rounds", type=int, help="interleaved rounds per slash-command figure")
    p.add_argument("--requests", type=int, help="sequential requests per command per round")
    p.add_argument("--ingest-seconds", type=float, help="how long the 64 senders send (default 30)")
    p.add_argument("--alerts", type=int, help="failed runs timed to their alert")
    p.add_argument("--tracking-runs", type=int, help="active runs for the tracking cycle (default 10,000)")
    p.add_argument("--context-rounds", type=int, help="interleaved rounds with and without the context line")
    p.add_argument("--context-alerts", type=int, help="alerts per context-line round")
    p.add_argument("--only", help="comma list of: " + ", ".join(FIGURES))
    p.add_argument("--overload", type=int, help="concurrent slash commands of the overload figure (default 1,000)")
    p.add_argument("--no-profile", action="store_true", help="do not profile the bot when ingest misses")
    p.add_argument("--results", type=Path, help="results file (default benchmarks/RESULTS.md; --quick: out/)")
    args = p.parse_args(argv)
    cfg = Config.quick_sizes() if args.quick else Config()
    cfg.postgres = args.postgres
    cfg.argv = list(argv)
    for name, attr in (
        ("runs", "runs"),
        ("rounds", "rounds"),
        ("requests", "seq_requests"),
        ("ingest_seconds", "ingest_seconds"),
        ("alerts", "alerts"),
        ("context_rounds", "context_rounds"),
        ("context_alerts", "context_alerts"),
        ("tracking_runs", "tracking_runs"),
        ("overload", "overload_requests"),
        ("results", "results"),
    ):
        if getattr(args, name) is not None:
            setattr(cfg, attr, getattr(args, name))
    if args.requests is not None:
        cfg.conc_requests = args.requests * 8
    if args.only:
        cfg.only = {s.strip() for s in args.only.split(",") if s.strip()}
        unknown = cfg.only - set(FIGURES)
        if unknown:
            p.error(f"unknown --only: {', '.join(sorted(unknown))}")
    cfg.profile = not args.no_profile
    return cfg


def main(argv: list[str] | None = None) -> Report:
    cfg = parse(sys.argv[1:] if argv is None else argv)
    started = time.perf_counter()
    report = asyncio.run(run_suite(cfg))
    text_ = render(cfg, report, time.perf_counter() - started)
    write_section(cfg.results, report.title, text_)
    print()
    print(text_)
    print(f"\nresults written to {cfg.results}")
    return report
