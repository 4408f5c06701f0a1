"""`make run` without a platform: the reference platform running sample workflows, wired to the real bot,
and either the Slack stand-in with its browser sandbox (no Slack settings) or the team's own Slack.

Ports: the bot on PORT (3000, or `--port`), the Slack stand-in and its sandbox page on PORT+1, the
reference platform on PORT+2. A port that is taken is replaced by a free one; the line printed at
start-up always names the right URL. The sandbox listens on loopback unless HOST is set; with real
Slack the bot listens on HOST (Slack must reach it in HTTP mode) and the platform on loopback.

The demo bot keeps its store in `./demo.db` (started afresh each time: the platform's runs live in
memory), unless DATABASE_URL is set. Secrets and tokens are generated at each start.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.app import create_app
from bot.config import Settings, SettingsError, load_settings
from bot.manifest import unfurl_domain
from reference import sandbox
from reference.platform import ReferencePlatform
from reference.slack import SANDBOX_USER_ID, SlackStandIn

log = logging.getLogger("runbot.demo")

DEMO_DATABASE_URL = "sqlite+aiosqlite:///./demo.db"
ALERT_CHANNEL = "C0ALERTS"
APPROVAL_CHANNEL = "C0APPROVALS"
# A pace a person can follow: steps of ~2 s, the sample story (reference/platform/samples.py: DEMO_STORY) one
# beat every 15 s, then a calm run a minute; approvals open for 5 minutes.
DEMO_INTERVAL_SECONDS = 15.0
APPROVAL_TTL_SECONDS = 300.0
APPROVAL_REMINDER_SECONDS = 60.0


@dataclass
class DemoPieces:
    """The running demo: what `start_demo` started; `stop()` stops the bot first, then what it talks to."""

    settings: Settings
    platform: ReferencePlatform
    runner: web.AppRunner
    bot_url: str
    slack: SlackStandIn | None = None  # None when the bot talks to real Slack

    @property
    def app(self) -> web.Application:
        return self.runner.app

    @property
    def sandbox_url(self) -> str | None:
        return f"{self.slack.base_url}/sandbox/" if self.slack is not None else None

    def banner(self) -> str:
        """The one line printed at start-up."""
        if self.slack is not None:
            return f"runbot sandbox ready: open {self.sandbox_url}  (Ctrl-C to stop)"
        return (
            f"runbot connected to your Slack ({self.settings.mode} mode), with the reference platform "
            f"running sample workflows at {self.platform.base_url}/  (Ctrl-C to stop)"
        )

    async def stop(self) -> None:
        await self.runner.cleanup()  # first: the bot finishes its work against a platform and a Slack still up
        await self.platform.stop()
        if self.slack is not None:
            await self.slack.stop()


def _webhook_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _shown(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def _port(host: str, port: int, what: str, *, avoid: tuple[int, ...] = ()) -> int:
    """`port` when it is free on `host`, else a free port (0 asks for one) other than `avoid`."""
    if port and port not in avoid:
        try:
            with socket.socket() as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind((host, port))
            return port
        except OSError:
            log.warning("port %s is taken: %s uses a free port instead", port, what)
    while True:
        with socket.socket() as probe:
            probe.bind((host, 0))
            free = probe.getsockname()[1]
        if free not in avoid:
            return free


def _remove_demo_database(url: str) -> None:
    path = Path(url.removeprefix("sqlite+aiosqlite:///"))
    for suffix in ("", "-wal", "-shm", "-journal"):
        candidate = path.with_name(path.name + suffix)
        if candidate.exists():
            candidate.unlink()


async def start_demo(
    settings: Settings,
    *,
    port: int | None = None,
    speed: float = 1.0,
    seed: int | None = None,
    database_url: str | None = None,
    demo_interval_seconds: float = DEMO_INTERVAL_SECONDS,
    approval_ttl_seconds: float = APPROVAL_TTL_SECONDS,
    fixed_ports: bool = True,
    **overrides: Any,
) -> DemoPieces:
    """Start the demo pieces without blocking and return them (`run_demo` and the tests use this).

    `fixed_ports=False` puts every piece on a free port; `overrides` are settings for the bot."""
    real_slack = bool(settings.SLACK_BOT_TOKEN)
    if real_slack and not (settings.SLACK_APP_TOKEN or settings.SLACK_SIGNING_SECRET):
        raise SettingsError(
            "SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET (HTTP mode) is required with SLACK_BOT_TOKEN"
        )
    explicit = settings.model_fields_set
    host = settings.HOST if real_slack or "HOST" in explicit else "127.0.0.1"
    bot_port = (port or settings.PORT) if fixed_ports else 0
    if database_url is None:
        if "DATABASE_URL" in explicit:
            database_url = settings.DATABASE_URL
        else:
            database_url = DEMO_DATABASE_URL
            _remove_demo_database(database_url)

    # Ports are chosen first: each piece is told where the others are before it starts.
    platform_host = "127.0.0.1" if real_slack else host
    bot_port = _port(host, bot_port, "the bot")
    platform_port = _port(
        platform_host, bot_port + 2 if fixed_ports else 0, "the reference platform", avoid=(bot_port,)
    )
    platform_url = f"http://{_shown(platform_host)}:{platform_port}"
    webhook_secret = _webhook_secret()
    platform_token = "demo-" + secrets.token_urlsafe(24)
    platform = ReferencePlatform(
        api_token=platform_token,
        webhook_secret=webhook_secret,
        webhook_url=f"http://{_shown(host)}:{bot_port}/webhooks/platform",
        seed=secrets.randbelow(2**31) if seed is None else seed,
        speed=speed,
        workspace=settings.PLATFORM_WORKSPACE,
        demo=True,
        approval_ttl_seconds=approval_ttl_seconds,
        demo_interval_seconds=demo_interval_seconds,
    )
    slack: SlackStandIn | None = None
    started: list[Any] = []
    try:
        values = settings.model_dump()
        values.update(
            PLATFORM_API_URL=platform_url,
            PLATFORM_UI_URL=platform_url,
            PLATFORM_API_TOKEN=platform_token,
            PLATFORM_WEBHOOK_SECRET=webhook_secret,
            DATABASE_URL=database_url,
            HOST=host,
        )
        if real_slack:
            values.update(overrides)
        else:
            signing_secret = secrets.token_hex(16)
            bot_token = "xoxb-demo-" + secrets.token_hex(12)
            slack = SlackStandIn(bot_token=bot_token, signing_secret=signing_secret)
            # A private channel runbot is not in: `/runs subscribe` there says so; `/invite @runbot` fixes it.
            slack.add_channel("G0PAYOUTS", "payouts", private=True)
            slack_app = slack.make_app()
            sandbox.attach(slack, slack_app)
            await slack.start(
                host,
                _port(host, bot_port + 1 if fixed_ports else 0, "the sandbox", avoid=(bot_port, platform_port)),
                app=slack_app,
            )
            started.append(slack)
            values.update(
                SLACK_BOT_TOKEN=bot_token,
                SLACK_SIGNING_SECRET=signing_secret,
                SLACK_APP_TOKEN=None,
                SLACK_TEAM_ID=None,
                SLACK_API_URL=slack.api_url,
                ALERT_CHANNEL=ALERT_CHANNEL,
                APPROVAL_CHANNEL=APPROVAL_CHANNEL,
                OPERATORS=[SANDBOX_USER_ID],
                APPROVERS=[SANDBOX_USER_ID],
                APPROVAL_REMINDER_SECONDS=APPROVAL_REMINDER_SECONDS,
                # As the sample configuration advises: approving spend (the $18,250 payout) asks once more.
                APPROVAL_CONFIRM_KINDS=settings.APPROVAL_CONFIRM_KINDS or ["spend"],
            )
            values.update(overrides)
        bot_settings = load_settings(_env_file=None, **values)
        # The platform is up before the bot's first sync; its first webhooks are retried until the bot listens.
        await platform.start(platform_host, platform_port)
        started.append(platform)

        runner = web.AppRunner(create_app(bot_settings), handle_signals=False, access_log=None)
        await runner.setup()
        started.append(runner)
        await web.TCPSite(runner, host, bot_port).start()
        bot_url = f"http://{_shown(host)}:{bot_port}"
        if slack is not None:
            slack.bot_url = f"http://{_shown(host)}:{bot_port}"
            # As the manifest's unfurl_domains do in Slack: reference-console run links unfurl in the sandbox.
            slack.set_unfurl_domains([d for d in [unfurl_domain(bot_settings)] if d])
    except BaseException:
        for piece in reversed(started):
            await (piece.cleanup() if isinstance(piece, web.AppRunner) else piece.stop())
        raise
    return DemoPieces(settings=bot_settings, platform=platform, runner=runner, bot_url=bot_url, slack=slack)


async def run_demo(settings: Settings, port: int | None = None) -> None:
    """What `runbot demo` (and `make run` without a platform) runs until Ctrl-C or SIGTERM."""
    try:
        pieces = await start_demo(settings, port=port)
    except SettingsError as exc:
        print(f"runbot: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # not the main thread, or no signals here
            pass
    print(pieces.banner(), flush=True)
    try:
        await stop.wait()
    finally:
        log.info("stopping the demo")
        await pieces.stop()
