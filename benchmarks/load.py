"""Load generators: closed-loop workers over requests prepared (and signed) before the clock starts.

- `drive(call, items, concurrency=, duration=)`: N workers take the next prepared item and time `call(item)`;
- `SlashClient`: slash commands signed as Slack signs them (`SignatureVerifier.generate_signature`), timed to
  the answer the user sees: the ack body when it carries text or blocks, else the response_url post the
  Slack stand-in records;
- `signed_webhooks(...)`: Standard Webhooks requests for the ingest benchmark.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Iterable
from urllib.parse import urlencode

import aiohttp
from slack_sdk.signature import SignatureVerifier
from standardwebhooks.webhooks import Webhook

from benchmarks.common import SIGNING_SECRET, WEBHOOK_SECRET, percentile
from reference.slack import Origin, SlackStandIn


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed: float = 0.0
    error_samples: list[str] = field(default_factory=list)
    exhausted: bool = False

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def throughput(self) -> float:
        return self.count / self.elapsed if self.elapsed else 0.0

    def p(self, q: float) -> float:
        return percentile(self.latencies, q)

    def merge(self, other: "Result") -> "Result":
        self.latencies += other.latencies
        self.errors += other.errors
        self.elapsed += other.elapsed
        self.error_samples += other.error_samples[:3]
        self.exhausted = self.exhausted or other.exhausted
        return self


async def drive(
    call: Callable[[Any], Awaitable[float | None]],
    items: Iterable[Any],
    *,
    concurrency: int,
    duration: float | None = None,
    call_timeout: float | None = None,
) -> Result:
    """Run `call` over `items` with `concurrency` workers (for `duration` seconds when given).
    `call` returns its own latency (seconds) or None to have it timed here; raising counts an error, and so
    does a call that takes longer than `call_timeout` (a stuck request cannot hold a worker, or the suite)."""
    result = Result()
    source = iter(items)
    deadline = None if duration is None else time.perf_counter() + duration
    drained = False

    async def worker() -> None:
        nonlocal drained
        while deadline is None or time.perf_counter() < deadline:
            try:
                item = next(source)
            except StopIteration:
                drained = True
                return
            start = time.perf_counter()
            try:
                own = await (call(item) if call_timeout is None else asyncio.wait_for(call(item), call_timeout))
            except Exception as exc:  # counted and shown, never hidden
                result.errors += 1
                if len(result.error_samples) < 5:
                    result.error_samples.append(f"{type(exc).__name__}: {exc}"[:200])
                continue
            result.latencies.append(own if own is not None else time.perf_counter() - start)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.elapsed = time.perf_counter() - started
    result.exhausted = drained and duration is not None
    return result


def client_session(concurrency: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency),
        timeout=aiohttp.ClientTimeout(total=30),
    )


NOTICE_PREFIX = "Working on it"  # the bot's acks that say the answer follows through response_url


@dataclass
class Answer:
    via: str  # "ack" or "response_url"
    text: str
    status: int


class SlashClient:
    """Slash commands to a server's `/slack/events`, as Slack sends them."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        url: str,
        slack: SlackStandIn,
        *,
        channel: str = "C0ALERTS",
        user: str = "U0SANDBOX",
        answer_timeout: float = 5.0,
    ):
        self.http = http
        self.url = url.rstrip("/") + "/slack/events"
        self.slack = slack
        self.channel = channel
        self.user = user
        self.answer_timeout = answer_timeout
        self._verifier = SignatureVerifier(SIGNING_SECRET)
        self._waiting: dict[str, asyncio.Future] = {}
        self._seen = 0
        self._queue = slack.subscribe()
        self._dispatcher = asyncio.create_task(self._dispatch())
        self.last_answers: dict[str, Answer] = {}
        self.followed: set[str] = set()  # commands answered at least once by a notice, then a response_url post

    async def close(self) -> None:
        self._dispatcher.cancel()
        self.slack.unsubscribe(self._queue)

    async def _dispatch(self) -> None:
        while True:
            event = await self._queue.get()
            if event.get("type") != "response":
                continue
            posts = self.slack.response_posts
            for post in posts[self._seen :]:
                fut = self._waiting.pop(post.response_url, None)
                if fut is not None and not fut.done():
                    fut.set_result(post)
            self._seen = len(posts)

    def prepare(self, text: str) -> tuple[str, bytes, dict[str, str], str]:
        """A signed request (signature timestamp now: prepare shortly before sending)."""
        response_url = self.slack._new_response_url(Origin("slash_command", self.channel, self.user))
        fields = {
            "token": "bench",
            "team_id": self.slack.team_id,
            "team_domain": self.slack.team_domain,
            "channel_id": self.channel,
            "channel_name": "alerts",
            "user_id": self.user,
            "user_name": "sam",
            "command": "/runs",
            "text": text,
            "api_app_id": self.slack.app_id,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": self.slack.issue_trigger(self.user),
        }
        body = urlencode(fields)
        ts = str(int(time.time()))
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": self._verifier.generate_signature(timestamp=ts, body=body),
        }
        return text, body.encode(), headers, response_url

    async def probe(self, text: str) -> Answer:
        """Send once and learn how the answer comes (in the ack, or a notice then a response_url post)."""
        await self.send(self.prepare(text))
        return self.last_answers[text]

    @staticmethod
    def is_notice(ack: dict) -> bool:
        """An ack that only says the answer follows ("Working on it…", also the bot's busy notice): decided per
        request, never per command, since one command may be answered either way (a run the store does not hold
        yet, or a busy bot, defers it; the next time it is answered in the ack)."""
        return not ack.get("blocks") and (ack.get("text") or "").startswith(NOTICE_PREFIX)

    async def send(self, prepared: tuple[str, bytes, dict[str, str], str]) -> float:
        """Send one command; the seconds until the user sees the answer: the ack when it is the answer, else the
        response_url post that follows (a notice, or an empty ack, with no post within `answer_timeout` raises)."""
        text, body, headers, response_url = prepared
        fut = asyncio.get_running_loop().create_future()
        self._waiting[response_url] = fut
        wall = time.time()
        start = time.perf_counter()
        try:
            async with self.http.post(self.url, data=body, headers=headers) as resp:
                raw = await resp.read()
                acked = time.perf_counter() - start
                if resp.status != 200:
                    raise RuntimeError(f"/runs {text!r}: HTTP {resp.status} {raw[:200]!r}")
            ack = json.loads(raw) if raw.strip().startswith(b"{") else ({"text": raw.decode()} if raw.strip() else {})
            if (ack.get("text") or ack.get("blocks")) and not self.is_notice(ack):
                self.last_answers[text] = Answer("ack", _answer_text(ack), 200)
                return acked
            post = await asyncio.wait_for(fut, self.answer_timeout)
        except asyncio.TimeoutError:
            raise RuntimeError(
                f"/runs {text!r}: acknowledged without the answer, and no response_url post within "
                f"{self.answer_timeout}s"
            ) from None
        finally:
            self._waiting.pop(response_url, None)
        if ack.get("text"):
            self.followed.add(text)
        via = "ack, then response_url" if ack.get("text") else "response_url"
        self.last_answers[text] = Answer(via, _answer_text(post.body), post.status)
        if post.status != 200:
            raise RuntimeError(f"/runs {text!r}: response_url post refused by Slack ({post.error})")
        return max(post.at - wall, acked)

    async def ack_only(self, prepared: tuple[str, bytes, dict[str, str], str]) -> float:
        """For the floors: the time to the acknowledgement (a no-op command has nothing more to show)."""
        _, body, headers, _ = prepared
        start = time.perf_counter()
        async with self.http.post(self.url, data=body, headers=headers) as resp:
            await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"HTTP {resp.status}")
        return time.perf_counter() - start


def _answer_text(body: dict) -> str:
    parts = [body.get("text") or ""]
    for block in body.get("blocks") or []:
        text = block.get("text")
        if isinstance(text, dict):
            parts.append(text.get("text", ""))
    return " ".join(p for p in parts if p).strip()


def webhook_body(event_type: str, data: dict) -> str:
    return json.dumps(
        {"type": event_type, "timestamp": datetime.now(timezone.utc).isoformat(), "data": data}, separators=(",", ":")
    )


def sign_webhook(body: str, *, msg_id: str | None = None, hook: Webhook | None = None) -> dict[str, str]:
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    now = datetime.now(timezone.utc)
    signature = (hook or Webhook(WEBHOOK_SECRET)).sign(msg_id, now, body)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


def ingest_events(count: int, *, failed_every: int = 2) -> list[tuple[str, bytes, dict]]:
    """`count` signed webhooks over count/5 runs: four `run.step.updated`, then a fifth one, or `run.failed` for
    every `failed_every`-th run (10% of the events by default; 0: none). Ids are unique per call."""
    hook = Webhook(WEBHOOK_SECRET)
    batch = uuid.uuid4().hex[:8]
    started = datetime.now(timezone.utc)
    events: list[tuple[str, bytes, dict]] = []
    for i in range(count):
        run_no = i // 5
        run_id = f"run_ing{batch}{run_no:07d}"
        wf = f"wf_bench_{7 + run_no % 44:02d}"
        failed = bool(failed_every) and i % 5 == 4 and run_no % failed_every == 0
        ms = i % 5
        updated = started.replace(microsecond=0).isoformat().replace("+00:00", "") + f".{ms + 1:03d}Z"
        step = {
            "id": f"step_{ms + 1}",
            "index": ms,
            "name": f"Step {ms + 1}",
            "type": "llm" if ms == 2 else "code",
            "status": "failed" if failed else "completed",
            "started_at": updated,
            "completed_at": updated,
            "error": (
                {
                    "code": "provider_rate_limited",
                    "message": "Rate limit reached for requests",
                    "provider": "openai",
                    "provider_status": 429,
                    "retryable": True,
                }
                if failed
                else None
            ),
        }
        run = {
            "id": run_id,
            "workflow": {"id": wf, "name": f"Bench workflow {wf[-2:]}"},
            "status": "failed" if failed else "running",
            "created_at": updated,
            "started_at": updated,
            "completed_at": updated if failed else None,
            "updated_at": updated,
            "duration_ms": 1000 if failed else None,
            "trigger": {"type": "api", "payload": {"n": i}},
            "progress": {"total_steps": 5, "completed_steps": ms},
            "model": "gpt-4.1-mini",
            "failed_step_id": step["id"] if failed else None,
            "replay_of": None,
        }
        if failed:
            body = webhook_body("run.failed", {"run": {**run, "steps": [step]}})
        else:
            body = webhook_body("run.step.updated", {"run": run, "step": step})
        msg_id = f"msg_{batch}_{i:08d}"
        events.append((msg_id, body.encode(), sign_webhook(body, msg_id=msg_id, hook=hook)))
    return events


async def post_webhook(
    http: aiohttp.ClientSession, url: str, event: tuple[str, bytes, dict], acked: list[str] | None = None
) -> None:
    msg_id, body, headers = event
    async with http.post(url, data=body, headers=headers) as resp:
        await resp.read()
        if resp.status != 200:
            raise RuntimeError(f"webhook answered {resp.status}")
    if acked is not None:
        acked.append(msg_id)
