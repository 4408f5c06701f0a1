"""`make soak`: a bounded soak on loopback. The bot (`runbot serve`, its own process) takes webhooks from the
reference platform (runs that fail or succeed) and from a sender of its own, slash commands and button clicks
through the Slack stand-in, while the stand-in answers 429s and 5xx for a while now and then and the platform
stalls. At the end: every acknowledged webhook is stored, every failure alert was delivered exactly once, memory
did not grow, and the bot is still ready.

    python -m benchmarks.soak                  # 10 minutes
    python -m benchmarks.soak --seconds 20     # shorter, for development

Storm grouping is set out of reach (`STORM_THRESHOLD`) so that "one alert per failed run" is the rule checked.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from benchmarks import dataset
from benchmarks.common import (
    ALERT_CHANNEL,
    OUT,
    RESULTS,
    Server,
    bot_env,
    free_port,
    machine,
    start_bot,
    utc_stamp,
    versions,
    write_section,
)
from benchmarks.load import sign_webhook, webhook_body
from benchmarks.suite import Config, Env, bot_settled, start_env, stop_env, stored_count

SETTLE_STALL_SECONDS = 120  # after the load: how long the bot may go without a new alert before the checks

SOAK_SETTINGS = {
    "STORM_THRESHOLD": "1000000",
    "OUTBOX_BACKOFF_MAX_SECONDS": "4",
    "TRACK_INTERVAL_SECONDS": "2",
    "TRACK_BACKOFF_MAX_SECONDS": "6",
    "MESSAGE_EDIT_INTERVAL_SECONDS": "1",
}


@dataclass
class Tally:
    platform_runs: dict[str, str] = field(default_factory=dict)  # run id -> intended outcome
    sent_ids: list[str] = field(default_factory=list)
    acked_ids: list[str] = field(default_factory=list)
    webhook_errors: int = 0
    failed_runs: set[str] = field(default_factory=set)  # runs whose failure must be alerted once
    commands: int = 0
    command_errors: list[str] = field(default_factory=list)
    clicks: int = 0
    click_errors: list[str] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)
    memory: list[tuple[float, int]] = field(default_factory=list)  # (seconds since start, VmRSS kB)


async def platform_runs(env: Env, tally: Tally, deadline: float, rng: random.Random) -> None:
    """Runs on the platform, half of them failing; the platform sends their webhooks to the bot."""
    flows = [w for w, _ in dataset.workflows()[:6] if w not in ("wf_refunds", "wf_publish", "wf_payouts", "wf_tools")]
    while time.monotonic() < deadline:
        outcome = "fail" if rng.random() < 0.5 else "succeed"
        try:
            run = await env.sim(
                "POST",
                "/sim/runs",
                {"workflow": rng.choice(flows), "outcome": outcome, "error_code": rng.choice(dataset.CODES[:4])},
            )
            tally.platform_runs[run["id"]] = outcome
        except (RuntimeError, aiohttp.ClientError) as exc:
            tally.faults.append(f"platform refused a new run: {exc}"[:120])
        await asyncio.sleep(0.5)


async def own_webhooks(bot: Server, tally: Tally, deadline: float) -> None:
    """Signed webhooks of runs the platform does not know, a few a second; every fifth run fails."""
    async with aiohttp.ClientSession() as http:
        for n in itertools.count():
            if time.monotonic() >= deadline:
                return
            run_id = f"run_soak{n // 5:07d}"
            failed = n % 25 == 24
            now = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{n % 5 + 1:03d}Z"
            step = {
                "id": f"step_{n % 5 + 1}",
                "index": n % 5,
                "name": "Summarise",
                "type": "llm",
                "status": "failed" if failed else "completed",
                "started_at": now,
                "completed_at": now,
                "error": {
                    "code": "provider_timeout",
                    "message": "Upstream request timed out",
                    "provider": "openai",
                    "provider_status": 504,
                    "retryable": True,
                }
                if failed
                else None,
            }
            run = {
                "id": run_id,
                "workflow": {"id": "wf_summaries", "name": "Daily summaries"},
                "status": "failed" if failed else "running",
                "created_at": now,
                "started_at": now,
                "completed_at": now if failed else None,
                "updated_at": now,
                "duration_ms": 1 if failed else None,
                "trigger": {"type": "api", "payload": {}},
                "progress": {"total_steps": 5, "completed_steps": n % 5},
                "model": "gpt-4.1-mini",
                "failed_step_id": step["id"] if failed else None,
                "replay_of": None,
            }
            body = (
                webhook_body("run.failed", {"run": {**run, "steps": [step]}})
                if failed
                else webhook_body("run.step.updated", {"run": run, "step": step})
            )
            headers = sign_webhook(body)
            tally.sent_ids.append(headers["webhook-id"])
            try:
                async with http.post(
                    f"{bot.url}/webhooks/platform",
                    data=body.encode(),
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=10),
                ) as resp:
                    await resp.read()
                    if resp.status == 200:
                        tally.acked_ids.append(headers["webhook-id"])
                        if failed:
                            tally.failed_runs.add(run_id)
                    else:
                        tally.webhook_errors += 1
            except (aiohttp.ClientError, asyncio.TimeoutError):
                tally.webhook_errors += 1
            await asyncio.sleep(0.1)


async def slash_commands(env: Env, tally: Tally, deadline: float, rng: random.Random) -> None:
    texts = ["failed", "list running", "failed --since 1h", "help"]
    while time.monotonic() < deadline:
        known = list(tally.platform_runs)
        text = rng.choice(texts + ([f"show {rng.choice(known)}"] if known else []))
        result = await env.slack.send_command(text, user_id="U0SANDBOX", channel_id=ALERT_CHANNEL)
        tally.commands += 1
        if not result.ok:
            tally.command_errors.append(f"/runs {text}: {result.status} {result.error}"[:160])
        await asyncio.sleep(1.0)


def _buttons(message) -> list[str]:
    found = []
    for block in message.blocks or []:
        for el in block.get("elements") or ([block["accessory"]] if block.get("accessory") else []):
            if isinstance(el, dict) and el.get("type") == "button" and not el.get("url") and el.get("action_id"):
                found.append(el["action_id"])
    return found


async def button_clicks(env: Env, tally: Tally, deadline: float, rng: random.Random) -> None:
    """Clicks on the alerts' buttons (`run_show` first: it changes nothing on the platform)."""
    while time.monotonic() < deadline:
        await asyncio.sleep(2.0)
        candidates = [(m, _buttons(m)) for m in env.slack.messages(ALERT_CHANNEL)[-20:]]
        candidates = [(m, b) for m, b in candidates if b]
        if not candidates:
            continue
        message, buttons = rng.choice(candidates)
        action = "run_show" if "run_show" in buttons else rng.choice(buttons)
        result = await env.slack.click(message, action, user_id="U0SANDBOX")
        tally.clicks += 1
        if not result.ok:
            tally.click_errors.append(f"{action}: {result.status} {result.error}"[:160])


async def faults(env: Env, tally: Tally, deadline: float, started: float) -> None:
    """Every 15 s: the stand-in answers 429 (Retry-After 1) or 503 for 3 s, or the platform stalls for 3 s."""
    for n in itertools.count():
        if deadline - time.monotonic() < 20:
            return
        await asyncio.sleep(15.0)
        kind = n % 3
        at = f"{time.monotonic() - started:.0f}s"
        if kind == 0:
            env.slack.fail_for(429, 3.0, retry_after=1)
            tally.faults.append(f"{at}: Slack 429 for 3 s")
        elif kind == 1:
            env.slack.fail_for(503, 3.0)
            tally.faults.append(f"{at}: Slack 503 for 3 s")
        else:
            await env.sim("POST", "/sim/stall", {"seconds": 3})
            tally.faults.append(f"{at}: platform stalled 3 s")


async def memory(bot: Server, tally: Tally, deadline: float, started: float) -> None:
    while time.monotonic() < deadline:
        tally.memory.append((time.monotonic() - started, bot.memory().get("VmRSS", 0)))
        await asyncio.sleep(2.0)


def alert_posts(env: Env) -> dict[str, int]:
    """Top-level alert posts delivered (ok) per run id."""
    counts: dict[str, int] = {}
    for call in env.slack.calls_to("chat.postMessage"):
        if not call.ok or call.args.get("thread_ts") or call.args.get("channel") != ALERT_CHANNEL:
            continue
        blob = json.dumps(call.args)
        for run_id in set(_run_ids(blob)):
            counts[run_id] = counts.get(run_id, 0) + 1
    return counts


def _run_ids(blob: str) -> list[str]:
    import re

    return re.findall(r"run_[A-Za-z0-9]+", blob)


async def platform_failures(env: Env, tally: Tally) -> tuple[list[str], int]:
    """The platform's webhook log: ids it saw acknowledged (200), and how many it gave up on."""
    log = await env.sim("GET", "/sim/webhooks/log")
    acked = [e["id"] for e in log if e.get("status_code") == 200]
    for e in log:
        if e.get("type") == "run.failed" and e.get("status_code") == 200 and e.get("run_id"):
            tally.failed_runs.add(e["run_id"])
    return acked, sum(1 for e in log if e.get("status_code") != 200 and not e.get("suppressed"))


async def soak(seconds: float, results: Path, argv: list[str]) -> str:
    cfg = Config.quick_sizes()
    port = free_port()
    env = await start_env(cfg, webhook_url=f"http://127.0.0.1:{port}/webhooks/platform")
    rng = random.Random(11)
    tally = Tally()
    bot = None
    lines: list[str] = []
    try:
        await env.sim("POST", "/sim/config", {"speed": 10})
        cached, _, _ = await dataset.sqlite_store(10_000)
        db_url = f"sqlite+aiosqlite:///{dataset.working_copy(cached, 'soak.db')}"
        bot = await start_bot(
            bot_env(
                database_url=db_url,
                port=port,
                platform_url=env.platform.url,
                slack_api_url=env.slack.api_url,
                **SOAK_SETTINGS,
            ),
            name="bot-soak",
        )
        env.slack.bot_url = bot.url
        await bot_settled(bot)
        print(f"soak: {seconds:g} s of webhooks, slash commands and clicks under injected faults", flush=True)
        started = time.monotonic()
        deadline = started + seconds
        await asyncio.gather(
            platform_runs(env, tally, deadline, rng),
            own_webhooks(bot, tally, deadline),
            slash_commands(env, tally, deadline, rng),
            button_clicks(env, tally, deadline, rng),
            faults(env, tally, deadline, started),
            memory(bot, tally, deadline, started),
        )
        env.slack.clear_faults()
        print("soak: load stopped; waiting for the bot to catch up", flush=True)

        # Runs still going on the platform finish; their webhooks arrive; the outbox drains its retries and its
        # backlog, paced at Slack's per-channel rate (about one post a second: a soak that fails runs faster than
        # that leaves alerts queued at the end). The wait lasts while alerts keep coming, and ends after
        # SETTLE_STALL_SECONDS without a new one: a stalled outbox still fails the check.
        settle_deadline = time.monotonic() + SETTLE_STALL_SECONDS
        counts: dict[str, int] = {}
        while time.monotonic() < settle_deadline:
            await asyncio.sleep(2.0)
            platform_acked, platform_gave_up = await platform_failures(env, tally)
            before, counts = sum(counts.values()), alert_posts(env)
            if sum(counts.values()) > before:
                settle_deadline = time.monotonic() + SETTLE_STALL_SECONDS
            if all(counts.get(r, 0) >= 1 for r in tally.failed_runs) and time.monotonic() - deadline > min(10, seconds):
                break
        found_own, _, _ = await stored_count(db_url, tally.acked_ids)
        found_platform, _, unprocessed = await stored_count(db_url, platform_acked)
        missing_alerts = sorted(r for r in tally.failed_runs if counts.get(r, 0) == 0)
        duplicates = sorted(r for r in tally.failed_runs if counts.get(r, 0) > 1)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{bot.url}/readyz") as resp:
                ready_status, ready = resp.status, await resp.json(content_type=None)
        mem = tally.memory
        warm = [kb for t, kb in mem if 0.2 * seconds <= t <= 0.4 * seconds] or [kb for _, kb in mem[:3]]
        end = [kb for t, kb in mem if t >= 0.8 * seconds] or [kb for _, kb in mem[-3:]]
        warm_mb, end_mb = statistics.median(warm) / 1024, statistics.median(end) / 1024
        peak_mb = bot.memory().get("VmHWM", 0) / 1024
        grew = end_mb - warm_mb > max(20.0, 0.2 * warm_mb)
        failed_calls = sum(1 for c in env.slack.calls if not c.ok)
        checks = [
            (
                "every acknowledged webhook is stored",
                found_own == len(tally.acked_ids) and found_platform == len(platform_acked),
                f"own sender: {found_own:,} of {len(tally.acked_ids):,} acknowledged stored "
                f"({len(tally.sent_ids):,} sent, {tally.webhook_errors} not acknowledged); platform: {found_platform:,} "
                f"of {len(platform_acked):,} stored ({platform_gave_up} deliveries the platform gave up on); "
                f"{unprocessed} stored but not yet processed",
            ),
            (
                "every alert delivered exactly once",
                not missing_alerts and not duplicates,
                f"{len(tally.failed_runs):,} failed runs, {len(missing_alerts)} without an alert"
                + (f" (e.g. {', '.join(missing_alerts[:3])})" if missing_alerts else "")
                + f", {len(duplicates)} alerted more than once"
                + (f" (e.g. {', '.join(duplicates[:3])})" if duplicates else "")
                + f"; the stand-in refused {failed_calls:,} Web API calls on purpose",
            ),
            (
                "memory did not grow",
                not grew,
                f"RSS {warm_mb:.0f} MB after warm-up (20-40% of the soak), {end_mb:.0f} MB at the end (last 20%), "
                f"peak {peak_mb:.0f} MB",
            ),
            (
                "the bot is still ready",
                ready_status == 200,
                f"/readyz {ready_status}: "
                + ", ".join(f"{k} {'ok' if v.get('ok') else 'not ok'}" for k, v in (ready.get("checks") or {}).items()),
            ),
        ]
        lines = [
            f"## Soak: {seconds / 60:.1f} min",
            "",
            f"- date: {utc_stamp()}",
            f"- machine: {machine()}",
            f"- versions: {versions()}",
            f"- command: `python -m benchmarks.soak {' '.join(argv)}`",
            f"- load: {len(tally.platform_runs):,} platform runs (half failing, platform speed x10), "
            f"{len(tally.sent_ids):,} webhooks of our own (~10/s), {tally.commands} slash commands "
            f"({len(tally.command_errors)} failed), {tally.clicks} button clicks ({len(tally.click_errors)} "
            "failed)",
            f"- faults injected: {len(tally.faults)}: "
            + "; ".join(tally.faults[:12])
            + (" ..." if len(tally.faults) > 12 else ""),
            f"- settings: {', '.join(f'{k}={v}' for k, v in SOAK_SETTINGS.items())}",
            "",
            "| check | verdict | detail |",
            "|---|---|---|",
        ]
        lines += [f"| {name} | {'ok' if ok else 'FAIL'} | {detail} |" for name, ok, detail in checks]
        for label, errors in (("slash command errors", tally.command_errors), ("click errors", tally.click_errors)):
            if errors:
                lines += ["", f"{label} (first 5): " + "; ".join(errors[:5])]
    finally:
        if bot is not None:
            await bot.stop()
        await stop_env(env)
    text = "\n".join(lines)
    if text:
        write_section(results, "soak", text)
    return text


def main(argv: list[str] | None = None) -> str:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.soak", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--seconds", type=float, help="duration in seconds (overrides --minutes)")
    p.add_argument(
        "--results",
        type=Path,
        help="results file (default benchmarks/RESULTS.md, or benchmarks/out/ for runs under a minute)",
    )
    args = p.parse_args(argv)
    seconds = args.seconds if args.seconds is not None else args.minutes * 60
    results = args.results or (RESULTS if seconds >= 60 else OUT / "RESULTS.quick.md")
    text = asyncio.run(soak(seconds, results, argv))
    print(text)
    print(f"\nresults written to {results}")
    return text


if __name__ == "__main__":
    main()
