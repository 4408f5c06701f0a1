"""The whole system on loopback for one test: reference platform, Slack stand-in, and the bot's real
aiohttp app, wired together as in production."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable

import aiohttp
from aiohttp import web
from standardwebhooks.webhooks import Webhook

from bot.app import SCHEDULER, create_app
from bot.config import load_settings
from bot.keys import INGEST, SERVICES
from bot.manifest import unfurl_domain
from bot.services import Services
from reference.platform import ReferencePlatform
from reference.slack import RateRules, SlackStandIn

WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"runbot-test-webhook-secret-0123456789").decode()
SIGNING_SECRET = "test-signing-secret-0123456789abcdef"
BOT_TOKEN = "xoxb-test-bot-token"
APP_TOKEN = "xapp-test-app-token"
PLATFORM_TOKEN = "platform-test-token"
RATE_SCALE = 10  # tests run Slack's rate-limit clocks this much faster (the rules stay on)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sign_webhook(
    body: str, *, secret: str = WEBHOOK_SECRET, msg_id: str | None = None, timestamp: datetime | None = None
) -> dict[str, str]:
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    timestamp = timestamp or datetime.now(timezone.utc)
    signature = Webhook(secret).sign(msg_id, timestamp, body)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


async def wait_for(
    predicate: Callable[[], Awaitable[Any] | Any],
    *,
    timeout: float = 10.0,
    interval: float = 0.05,
    what: str = "condition",
) -> Any:
    """Wait for an outcome with a generous deadline (never asserts speed)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last value: {last!r})")


@dataclass
class Harness:
    platform: ReferencePlatform
    slack: SlackStandIn
    app: web.Application
    runner: web.AppRunner
    bot_url: str
    settings: Any
    http: aiohttp.ClientSession
    extra: dict = field(default_factory=dict)

    @property
    def svc(self) -> Services:
        return self.app[SERVICES]

    @property
    def ingest(self):
        return self.app[INGEST]

    @property
    def scheduler(self):
        return self.app[SCHEDULER]

    async def post_webhook(
        self,
        event_type: str,
        data: dict,
        *,
        msg_id: str | None = None,
        secret: str = WEBHOOK_SECRET,
        body: str | None = None,
        headers: dict | None = None,
    ) -> aiohttp.ClientResponse:
        body = (
            body
            if body is not None
            else json.dumps({"type": event_type, "timestamp": datetime.now(timezone.utc).isoformat(), "data": data})
        )
        hdrs = sign_webhook(body, secret=secret, msg_id=msg_id)
        hdrs.update(headers or {})
        async with self.http.post(f"{self.bot_url}/webhooks/platform", data=body.encode(), headers=hdrs) as resp:
            await resp.read()
            return resp

    async def sim(self, method: str, path: str, body: dict | None = None) -> Any:
        async with self.http.request(method, f"{self.platform.base_url}{path}", json=body) as resp:
            data = await resp.json(content_type=None)
            assert resp.status < 400, f"{method} {path} -> {resp.status}: {data}"
            return data

    async def start_run(self, workflow: str = "wf_invoices", outcome: str = "fail", **kw) -> dict:
        return await self.sim("POST", "/sim/runs", {"workflow": workflow, "outcome": outcome, **kw})

    async def api(self, method: str, path: str, body: dict | None = None) -> tuple[int, Any]:
        async with self.http.request(
            method,
            f"{self.platform.base_url}/v1{path}",
            json=body,
            headers={"Authorization": f"Bearer {PLATFORM_TOKEN}"},
        ) as resp:
            return resp.status, await resp.json(content_type=None)

    async def wait_for(self, predicate, *, timeout: float = 10.0, what: str = "condition") -> Any:
        return await wait_for(predicate, timeout=timeout, what=what)

    async def settled(self, timeout: float = 60.0) -> None:
        """The platform has delivered every webhook it emitted (retries included), the bot has processed every
        stored webhook, and the outbox holds nothing due."""
        from sqlalchemy import func, select

        from store.models import OutboxItem, WebhookDelivery

        async def quiet():
            if self.platform.webhooks_in_flight:
                return False
            async with self.svc.sessions() as s:
                unprocessed = await s.scalar(
                    select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.processed_at.is_(None))
                )
                pending = await s.scalar(
                    select(func.count()).select_from(OutboxItem).where(OutboxItem.status == "pending")
                )
            return unprocessed == 0 and pending == 0 and not self.platform.webhooks_in_flight

        await wait_for(quiet, timeout=timeout, what="webhooks delivered and processed, and the outbox empty")

    async def stop(self) -> None:
        await self.runner.cleanup()
        await self.slack.stop()
        await self.platform.stop()
        await self.http.close()


def make_settings(*, database_url: str, platform_url: str, slack_api_url: str, port: int, **overrides: Any):
    values: dict[str, Any] = dict(
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=slack_api_url,
        PLATFORM_API_URL=platform_url,
        PLATFORM_API_TOKEN=PLATFORM_TOKEN,
        PLATFORM_WEBHOOK_SECRET=WEBHOOK_SECRET,
        ALERT_CHANNEL="C0ALERTS",
        APPROVAL_CHANNEL="C0APPROVALS",
        OPERATORS=["U0SANDBOX", "U0ANA"],
        APPROVERS=["U0SANDBOX", "U0ANA", "U0BEN"],
        TRACK_INTERVAL_SECONDS=1.0,
        MESSAGE_EDIT_INTERVAL_SECONDS=0.2,
        OUTBOX_BACKOFF_MAX_SECONDS=1.0,
        # Slack's posting limits, enforced by the stand-in, on a clock RATE_SCALE times faster (and paced so).
        OUTBOX_CHANNEL_RATE_PER_SECOND=1.0 * RATE_SCALE,
        OUTBOX_UPDATE_RATE_PER_MINUTE=50.0 * RATE_SCALE,
        OUTBOX_EPHEMERAL_RATE_PER_MINUTE=100.0 * RATE_SCALE,
        TRACK_BACKOFF_MAX_SECONDS=2.0,
        LEASE_SECONDS=2.0,
        STORM_WINDOW_SECONDS=30.0,
        DATABASE_URL=database_url,
        HOST="127.0.0.1",
        PORT=port,
        LOG_LEVEL="INFO",
    )
    values.update(overrides)
    return load_settings(_env_file=None, **values)


async def start_harness(
    *,
    database_url: str,
    speed: float = 40.0,
    platform_kwargs: dict | None = None,
    slack_kwargs: dict | None = None,
    **overrides: Any,
) -> Harness:
    platform = ReferencePlatform(
        api_token=PLATFORM_TOKEN, webhook_secret=WEBHOOK_SECRET, seed=7, speed=speed, **(platform_kwargs or {})
    )
    await platform.start()
    slack = SlackStandIn(
        bot_token=BOT_TOKEN,
        signing_secret=SIGNING_SECRET,
        app_token=APP_TOKEN,
        **{"rates": RateRules().scaled(RATE_SCALE), **(slack_kwargs or {})},
    )
    await slack.start()
    port = free_port()
    settings = make_settings(
        database_url=database_url, platform_url=platform.base_url, slack_api_url=slack.api_url, port=port, **overrides
    )
    app = create_app(settings)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    bot_url = f"http://127.0.0.1:{port}"
    platform.webhook_url = f"{bot_url}/webhooks/platform"
    slack.bot_url = bot_url
    slack.set_unfurl_domains([unfurl_domain(settings)])  # the manifest's unfurl_domains, as Slack has them
    return Harness(
        platform=platform,
        slack=slack,
        app=app,
        runner=runner,
        bot_url=bot_url,
        settings=settings,
        http=aiohttp.ClientSession(),
    )
