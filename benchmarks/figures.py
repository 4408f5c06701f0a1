"""Figures of `make bench` beside the slash-command and ingest ones: failure to alert (idle and during a burst),
overload (1,000 concurrent slash commands) and the tracking cycle's floor (a bare client fetching its pages)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from datetime import datetime, timezone

import aiohttp

from benchmarks import dataset
from benchmarks.common import PLATFORM_TOKEN, Row, ms, percentile
from benchmarks.load import Result, SlashClient, client_session, ingest_events, sign_webhook, webhook_body
from benchmarks.targets import (
    ALERT_RATIO,
    ALERT_SPACING_SECONDS,
    OVERLOAD_ACK_SECONDS,
    ratio,
    verdict,
)

# Failure to alert


def failed_run(run_id: str, wf_id: str, wf_name: str, code: str) -> dict:
    """The platform's payload of a run that failed now at its LLM step with `code` (a provider 429): the failure
    every failure-to-alert figure sends."""
    now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    step = {
        "id": "step_3",
        "index": 2,
        "name": "Summarise with LLM",
        "type": "llm",
        "status": "failed",
        "started_at": now,
        "completed_at": now,
        "error": {"code": code, "message": "bench", "provider": "openai", "provider_status": 429, "retryable": True},
    }
    return {
        "id": run_id,
        "workflow": {"id": wf_id, "name": wf_name},
        "status": "failed",
        "created_at": now,
        "started_at": now,
        "completed_at": now,
        "updated_at": now,
        "duration_ms": 1000,
        "trigger": {"type": "api", "payload": {}},
        "progress": {"total_steps": 5, "completed_steps": 2},
        "model": "gpt-4.1-mini",
        "failed_step_id": "step_3",
        "replay_of": None,
        "steps": [step],
    }


def failed_run_webhook(run_id: str, i: int) -> str:
    flows = dataset.workflows()
    # Workflows of their own: the ingest burst's failures may still be grouped into storms
    # (STORM_WINDOW_SECONDS), and a failure joining a storm is listed in its thread, not alerted alone.
    wf_id, wf_name = f"wf_alert_{i % len(flows)}", f"Alert bench {i % len(flows)}"
    code = dataset.CODES[(i // len(flows)) % len(dataset.CODES)]
    return webhook_body("run.failed", {"run": failed_run(run_id, wf_id, wf_name, code)})


def alert_time(slack, start: int, run_id: str) -> float | None:
    for call in slack.calls[start:]:
        if call.method == "chat.postMessage" and call.ok and run_id in json.dumps(call.args):
            return call.at
    return None


class AlertTimer:
    """Sends `run.failed` webhooks one at a time, spaced to Slack's per-channel rate, and times each from the
    webhook's send to the `chat.postMessage` the Slack stand-in receives (per alert, not a histogram)."""

    def __init__(self, slack, bot_url: str):
        self.slack = slack
        self.url = f"{bot_url}/webhooks/platform"
        self.serial = 0

    async def run(self, count: int, result: Result, *, timeout: float = 10.0) -> None:
        async with aiohttp.ClientSession() as http:
            for _ in range(count):
                self.serial += 1
                run_id = f"run_alert{os.getpid()}x{self.serial:05d}"
                body = failed_run_webhook(run_id, self.serial)
                headers = sign_webhook(body)
                start_index = len(self.slack.calls)
                began = time.monotonic()
                sent = time.time()
                async with http.post(self.url, data=body.encode(), headers=headers) as resp:
                    await resp.read()
                at = None
                while time.monotonic() - began < timeout and at is None:
                    await asyncio.sleep(0.002)
                    at = alert_time(self.slack, start_index, run_id)
                if at is None:
                    result.errors += 1
                    result.error_samples.append(f"no alert for {run_id} within {timeout:g} s")
                else:
                    result.latencies.append(at - sent)
                await asyncio.sleep(max(0.0, ALERT_SPACING_SECONDS - (time.monotonic() - began)))


async def outbox_drained(bot_url: str, timeout: float) -> int | None:
    """Wait until the outbox has nothing pending (the alerts of an earlier burst); what is left."""
    deadline = time.monotonic() + timeout
    pending = None
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            async with http.get(f"{bot_url}/readyz") as resp:
                checks = (await resp.json(content_type=None)).get("checks", {})
                pending = (checks.get("slack_delivery") or {}).get("pending")
            if not pending:
                return pending
            await asyncio.sleep(0.5)
    return pending


async def bench_alerts(env, bot, report, *, run_ingest, settle) -> None:
    """Failure to alert with the bot idle, then during a burst of step updates from 64 senders, interleaved
    over the rounds; the target is the burst's p99 at most ALERT_RATIO x the idle p99 of the same run."""
    cfg = env.cfg
    left = await outbox_drained(bot.url, timeout=180)
    if left:
        report.notes.append(f"Failure to alert was measured with {left} Slack posts still queued (180 s).")
    per_round = max(1, cfg.alerts // cfg.rounds)
    print(f"failure to alert: {cfg.rounds} round(s) of {per_round} idle and {per_round} during a burst", flush=True)
    timer = AlertTimer(env.slack, bot.url)
    await timer.run(2, Result())  # warm-up, not timed: the first alert of a process takes the cold paths
    idle, burst, load = Result(), Result(), Result()
    for _ in range(cfg.rounds):
        await settle()  # idle means idle: the previous burst's step updates are all processed
        started = time.perf_counter()
        await timer.run(per_round, idle)
        idle.elapsed += time.perf_counter() - started
        seconds = per_round * ALERT_SPACING_SECONDS + 1.0
        # Step updates only: the timed failures are the burst's only failures, so they cannot queue behind
        # thousands of other alerts on the same channel; what they can wait behind is the burst's processing.
        events = ingest_events(int(seconds * cfg.ingest_pool_rate), failed_every=0)
        started = time.perf_counter()
        sending = asyncio.create_task(
            run_ingest(bot.url, events, senders=cfg.ingest_senders, seconds=seconds, acked=None)
        )
        await asyncio.sleep(0.3)  # the burst is under way
        await timer.run(per_round, burst)
        load.merge(await sending)
        burst.elapsed += time.perf_counter() - started
    await settle()
    idle_p99, burst_p99 = idle.p(99), burst.p(99)
    report.add(
        Row(
            "failure to alert: idle",
            f"`run.failed` webhook to `chat.postMessage` at the stand-in, {idle.count} alerts 1/s, bot idle",
            ms(idle.p(50)),
            ms(idle_p99),
            f"mean {ms(sum(idle.latencies) / idle.count) if idle.count else 'n/a'}",
            "",
            "floor of the figure below",
            "",
            _errors(idle),
        )
    )
    ok = burst.count > 0 and not burst.errors and not idle.errors and burst_p99 <= ALERT_RATIO * idle_p99
    report.add(
        Row(
            "failure to alert: during a burst",
            f"the same, {burst.count} alerts 1/s while {cfg.ingest_senders} senders send step updates "
            f"({load.throughput:,.0f}/s acknowledged)",
            ms(burst.p(50)),
            ms(burst_p99),
            f"mean {ms(sum(burst.latencies) / burst.count) if burst.count else 'n/a'}",
            f"idle p99 {ms(idle_p99)}",
            f"p99 <= {ALERT_RATIO:g}x idle p99",
            verdict(ok),
            f"p99 = {ratio(burst_p99, idle_p99):.1f}x idle p99; per alert, timed at the stand-in " + _errors(burst),
        )
    )


def _errors(r: Result) -> str:
    if not r.errors:
        return ""
    return f"{r.errors} error(s), e.g. {r.error_samples[0] if r.error_samples else '?'}"


# Overload: 1,000 concurrent signed slash commands


def _kind(ack: dict) -> str:
    """What kind of message an acknowledgement is: its first words and whether it has blocks."""
    return f"{(ack.get('text') or '')[:12]}|{bool(ack.get('blocks'))}"


async def overload(url: str, slack, cmd: str, count: int, *, answer_in_ack: str | None, answers: bool = True) -> dict:
    """Send `count` signed `/runs cmd` at once; each one's acknowledgement time from the common start, and
    whether its answer arrived (in the ack, when the ack is the command's real answer `answer_in_ack`, or by a
    post to its response_url)."""
    async with client_session(count) as http:
        client = SlashClient(http, url, slack)
        prepared = [client.prepare(cmd) for _ in range(count)]
        acks: list[float] = []
        in_ack: set[str] = set()
        errors: list[str] = []
        t0 = time.perf_counter()

        async def one(item) -> None:
            _, body, headers, response_url = item
            try:
                async with http.post(client.url, data=body, headers=headers) as resp:
                    raw = await resp.read()
                    acks.append(time.perf_counter() - t0)
                    if resp.status != 200:
                        errors.append(f"HTTP {resp.status}")
                        return
            except Exception as exc:  # counted and shown
                errors.append(f"{type(exc).__name__}: {exc}"[:200])
                return
            if answer_in_ack is not None and raw.strip().startswith(b"{"):
                # The same kind of message as the idle answer (its data may have moved on since): the answer.
                if _kind(json.loads(raw)) == answer_in_ack:
                    in_ack.add(response_url)

        await asyncio.gather(*(one(p) for p in prepared))
        urls = {p[3] for p in prepared}
        deadline = time.monotonic() + (60 if answers else 0)
        posted: set[str] = set()
        while time.monotonic() < deadline:
            posted = {p.response_url for p in slack.response_posts if p.response_url in urls and p.status == 200}
            if len(posted | in_ack) >= count - len(errors):
                break
            await asyncio.sleep(0.2)
        answered_at = time.perf_counter() - t0
        await client.close()
    return {
        "acks": acks,
        "errors": errors,
        "answered": len(posted | in_ack),
        "in_ack": len(in_ack),
        "by_url": len(posted - in_ack),
        "all_answered_s": answered_at,
    }


async def bench_overload(env, bot, bolt, report) -> None:
    count = env.cfg.overload_requests
    cmd = "failed"
    print(f"overload: {count} concurrent signed `/runs {cmd}` against the Bolt floor, then the bot", flush=True)
    # Idle, once: is the acknowledgement itself the answer (no response_url post follows it)?
    answer_in_ack = None
    async with aiohttp.ClientSession() as http:
        client = SlashClient(http, bot.url, env.slack)
        _, body, headers, response_url = client.prepare(cmd)
        async with http.post(client.url, data=body, headers=headers) as resp:
            raw = await resp.read()
        await client.close()
    await asyncio.sleep(1.5)
    if raw.strip().startswith(b"{") and not any(p.response_url == response_url for p in env.slack.response_posts):
        answer_in_ack = _kind(json.loads(raw))
    floor = await overload(bolt.url, env.slack, "noop", count, answer_in_ack=None, answers=False)  # acks only
    got = await overload(bot.url, env.slack, cmd, count, answer_in_ack=answer_in_ack)
    acks = got["acks"]
    late = sum(1 for a in acks if a > OVERLOAD_ACK_SECONDS)
    ok = not got["errors"] and len(acks) == count and late == 0 and got["answered"] == count
    report.add(
        Row(
            "overload",
            f"{count:,} concurrent signed `/runs {cmd}`, loopback",
            ms(percentile(acks, 50)),
            ms(percentile(acks, 99)),
            f"max ack {ms(max(acks)) if acks else 'n/a'}",
            f"Bolt floor: max ack {ms(max(floor['acks'])) if floor['acks'] else 'n/a'}",
            f"every ack within {OVERLOAD_ACK_SECONDS:g} s; every answer follows",
            verdict(ok),
            f"{len(acks):,} acknowledged, {late:,} after {OVERLOAD_ACK_SECONDS:g} s; {got['answered']:,} answered "
            f"({got['in_ack']:,} in the ack, {got['by_url']:,} through response_url, all within "
            f"{got['all_answered_s']:.1f} s)"
            + (f"; {len(got['errors'])} error(s): {got['errors'][0]}" if got["errors"] else ""),
        )
    )


# Tracking cycle's floor


async def bare_tracking_fetch(platform_url: str, ids: list[str]) -> float:
    """Seconds a bare aiohttp client takes to fetch the pages a tracking cycle fetches: the active runs by id,
    100 a request with their steps, one page of recently updated runs, and the pending approvals."""
    headers = {"Authorization": f"Bearer {PLATFORM_TOKEN}"}
    base = platform_url.rstrip("/") + "/v1"
    started = time.perf_counter()
    async with aiohttp.ClientSession(headers=headers) as http:
        for start in range(0, len(ids), 100):
            params = [("id", i) for i in ids[start : start + 100]] + [("include", "steps"), ("limit", "200")]
            async with http.get(f"{base}/runs", params=params) as resp:
                await resp.json(content_type=None)
        recent = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
        params = [("updated_after", recent), ("include", "steps"), ("limit", "200")]
        async with http.get(f"{base}/runs", params=params) as resp:
            await resp.json(content_type=None)
        async with http.get(f"{base}/approvals", params={"status": "pending", "limit": "200"}) as resp:
            await resp.json(content_type=None)
    return time.perf_counter() - started
