"""App assembly: `create_app(settings)` builds the aiohttp application that serves Slack (Bolt's AsyncApp,
mounted with its aiohttp adapter functions, or Socket Mode), the platform's webhooks, health and metrics.

Resources are opened and closed in `cleanup_ctx` generators: the database (migrated at start), one HTTP
session, the platform client, the Slack clients, the outbox deliverer, the ingest processor, the
scheduler and, with SLACK_APP_TOKEN, the Socket Mode connection.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time

import aiohttp
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.request.internals import parse_body
from slack_bolt.response import BoltResponse
from slack_sdk.http_retry.builtin_async_handlers import AsyncConnectionErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.actors import actor_middleware
from bot.approvals.reactions import republish_on_conflict
from bot.config import Settings
from bot.ingest import Ingest
from bot.keys import INGEST, SERVICES
from bot.logs import Summarized
from bot.metrics import Metrics
from bot.outbox import Deliverer
from bot.pacing import EPHEMERALS, Pacer
from bot.people import People
from bot.platform import PlatformClient
from bot.reach import Reach, start_reach
from bot.render.mrkdwn import mrkdwn, single_line
from bot.scheduler import Scheduler
from bot.services import Services
from bot.slack_retry import BoundedRateLimitRetry
from bot.sync import start_first_sync
from handlers import register_listeners
from handlers.middleware import Plain
from handlers.modals import open_modals_first
from handlers.once import register as register_once
from handlers.shape import PayloadShape, problem_of
from handlers.webhooks import VERIFIER, WebhookVerifier
from handlers.webhooks import register as register_webhooks
from store.db import create_engine, ping, sessionmaker, upgrade
from store.reads import Reader

log = logging.getLogger(__name__)

BOLT = web.AppKey("bolt", AsyncApp)
SCHEDULER = web.AppKey("scheduler", Scheduler)
STARTED = web.AppKey("started", float)
SETTINGS = web.AppKey("settings", Settings)
ENGINE = web.AppKey("engine", AsyncEngine)


def slack_client(
    settings: Settings, *, interactive: bool, session: aiohttp.ClientSession | None = None
) -> AsyncWebClient:
    """The Web API client. Interactive calls (listeners) retry briefly; the outbox does its own backoff."""
    handlers = [AsyncConnectionErrorRetryHandler(max_retry_count=1)]
    if interactive:
        handlers.append(
            BoundedRateLimitRetry(
                max_retry_count=settings.SLACK_RATE_LIMIT_RETRIES, max_wait=settings.SLACK_RETRY_AFTER_MAX_SECONDS
            )
        )
    return AsyncWebClient(
        token=settings.SLACK_BOT_TOKEN,
        base_url=settings.slack_api_url,
        timeout=10,
        retry_handlers=handlers,
        session=session,
    )


OTHER_WORKSPACE = "this app serves another workspace"
# Slack's own tolerance for X-Slack-Request-Timestamp (slack_sdk's SignatureVerifier uses the same).
SLACK_CLOCK_SKEW_SECONDS = 300


def _teams_of(body: dict) -> list[str]:
    """Every workspace a request names: `team_id` (commands, events), `team.id` (interactivity) and
    `user.team_id`; all must be ours."""
    team, user = body.get("team"), body.get("user")
    named = [
        body.get("team_id"),
        team.get("id") if isinstance(team, dict) else team,
        user.get("team_id") if isinstance(user, dict) else None,
    ]
    return [str(t) for t in named if t not in (None, "")]


PERSON_ID = re.compile(r"^[UW][A-Z0-9]{2,63}$")
INTERACTIVE = {
    "block_actions",
    "view_submission",
    "view_closed",
    "shortcut",
    "message_action",
    "interactive_message",
    "block_suggestion",
}


def _person_problem(body: dict) -> str | None:
    """Why the person a request comes from is not a Slack user (only `U…`/`W…` ids are people), or None."""
    kind = body.get("type") if isinstance(body.get("type"), str) else None
    if "command" in body and "user_id" in body:
        user_id = body.get("user_id")
    elif kind in INTERACTIVE:
        user = body.get("user")
        if not isinstance(user, dict):
            return f"{kind} without a user object"
        user_id = user.get("id")
    elif kind == "event_callback":
        event = body.get("event")
        if not isinstance(event, dict):
            return "event_callback without an event"
        user_id = event.get("user")
        if user_id is None or isinstance(user_id, dict):
            return None  # events without a person (or with a user object, as user_change) are not checked here
    else:
        return None
    if not isinstance(user_id, str) or not PERSON_ID.match(user_id):
        return f"user id {str(user_id)[:40]!r} is not a Slack user id (U… or W…)"
    return None


def unverified_reason(headers, now: float | None = None) -> str:
    """Why Bolt refused a request's signature, in words for the log (never the secret or the signature)."""
    timestamp = headers.get("X-Slack-Request-Timestamp")
    if not headers.get("X-Slack-Signature") or not timestamp:
        return "X-Slack-Signature or X-Slack-Request-Timestamp header missing"
    try:
        age = (time.time() if now is None else now) - int(timestamp)
    except ValueError:
        return "X-Slack-Request-Timestamp is not a Unix time"
    if age > SLACK_CLOCK_SKEW_SECONDS:
        return f"timestamp {int(age)} s old, more than 5 minutes"
    if age < -SLACK_CLOCK_SKEW_SECONDS:
        return f"timestamp {int(-age)} s ahead, more than 5 minutes"
    return "signature does not match the body (wrong secret, truncated signature, or body changed after signing)"


def create_bolt_app(settings: Settings, svc: Services) -> AsyncApp:
    """Bolt's AsyncApp from the settings (a factory, as Bolt's maintainers recommend)."""
    app = AsyncApp(
        signing_secret=settings.SLACK_SIGNING_SECRET or "socket-mode-only",
        client=svc.slack,
        process_before_response=True,
        # `slack_events` verifies every HTTP request's signature on its raw bytes before Bolt sees it (and before
        # anything parses it); Bolt's own check would do the same work again. Socket Mode requests carry none.
        request_verification_enabled=False,
        raise_error_for_unhandled_request=False,
        ignoring_self_events_enabled=True,
    )

    app.use(PayloadShape(svc.refusals))  # first: later middleware and Bolt's own routing read these fields

    if settings.SLACK_TEAM_ID:

        @app.middleware
        async def only_our_workspace(body, next, logger):  # noqa: A002 - Bolt's argument name
            teams = _teams_of(body)
            if not teams or any(team != settings.SLACK_TEAM_ID for team in teams):
                svc.refusals.warning(
                    "team:" + ",".join(teams)[:100],
                    "Slack request refused (401, ignored over Socket Mode): from workspace %s, not SLACK_TEAM_ID",
                    ",".join(t[:32] for t in teams) or "none",
                )
                return BoltResponse(status=401, body=OTHER_WORKSPACE)
            await next()

    async def only_people(req, next):  # noqa: A002 - Bolt's argument name
        problem = _person_problem(req.body)
        if problem:
            svc.refusals.warning("person", "Slack request acknowledged and not acted on: %s", problem)
            return BoltResponse(status=200, body="")
        return await next()

    # Class middlewares (handlers/middleware.py): no keyword injection on every request.
    app.use(Plain(only_people))
    app.use(Plain(open_modals_first(svc)))  # before any I/O: a click's trigger dies 3 s after the click
    register_once(app, svc)
    app.use(Plain(actor_middleware(svc)))  # after the workspace check: a foreign user is nobody here
    register_listeners(app, svc)
    return app


async def _database(app: web.Application):
    settings: Settings = app[SETTINGS]
    engine = create_engine(settings.DATABASE_URL)
    await upgrade(engine)
    app[ENGINE] = engine
    yield
    await engine.dispose()


async def _services(app: web.Application):
    settings: Settings = app[SETTINGS]
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64))
    metrics = Metrics()
    engine = app[ENGINE]
    sessions = sessionmaker(engine)
    slack = slack_client(settings, interactive=True)
    deliverer = Deliverer(
        sessions,
        slack_client(settings, interactive=False),
        metrics,
        backoff_max=settings.OUTBOX_BACKOFF_MAX_SECONDS,
        edit_interval=settings.MESSAGE_EDIT_INTERVAL_SECONDS,
        claim_seconds=settings.OUTBOX_CLAIM_SECONDS,
        pacer=Pacer(
            channel_rate_per_second=settings.OUTBOX_CHANNEL_RATE_PER_SECOND,
            channel_burst=settings.OUTBOX_CHANNEL_BURST,
            update_rate_per_minute=settings.OUTBOX_UPDATE_RATE_PER_MINUTE,
            update_burst=settings.OUTBOX_UPDATE_BURST,
            ephemeral_rate_per_minute=settings.OUTBOX_EPHEMERAL_RATE_PER_MINUTE,
            ephemeral_burst=settings.OUTBOX_EPHEMERAL_BURST,
        ),
    )
    reach = Reach(
        sessions, deliverer.client, metrics, probe_seconds=settings.SLACK_REACH_PROBE_SECONDS, kick=deliverer.kick
    )
    deliverer.reach = reach
    svc = Services(
        settings=settings,
        engine=engine,
        sessions=sessions,
        platform=PlatformClient(
            settings.PLATFORM_API_URL or "http://127.0.0.1:9", settings.PLATFORM_API_TOKEN or "", session=http
        ),
        slack=slack,
        deliverer=deliverer,
        metrics=metrics,
        people=People(slack, cache_seconds=settings.USERGROUP_CACHE_SECONDS),
        refusals=Summarized(logging.getLogger("bot.refusals"), settings.DEDUPE_LOG_INTERVAL_SECONDS),
        reach=reach,
        reader=Reader(engine),
    )
    app[SERVICES] = svc
    deliverer.on_home_conflict = republish_on_conflict(svc)
    app[VERIFIER] = WebhookVerifier(settings.webhook_secrets)
    ingest = Ingest(svc)
    app[INGEST] = ingest
    app[BOLT] = create_bolt_app(settings, svc)
    deliverer.start()
    ingest.start()
    start_first_sync(svc)
    start_reach(svc)
    yield
    await reach.stop()
    await svc.drain()
    await ingest.stop()
    await deliverer.stop()
    await svc.reader.close()
    for client in (svc.slack, deliverer.client):
        if client.session is not None and not client.session.closed:
            await client.session.close()
    await http.close()


async def _scheduler(app: web.Application):
    scheduler = Scheduler(app[SERVICES])
    app[SCHEDULER] = scheduler
    scheduler.start()
    yield
    await scheduler.shutdown()


async def _socket_mode(app: web.Application):
    settings: Settings = app[SETTINGS]
    if not settings.SLACK_APP_TOKEN:
        yield
        return
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    handler = AsyncSocketModeHandler(app[BOLT], settings.SLACK_APP_TOKEN)
    await handler.connect_async()
    log.info("connected to Slack over Socket Mode")
    yield
    await handler.close_async()


CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,63}$")


def _tell_about_malformed(svc: Services, body: object, problem: str) -> None:
    """Where a person is waiting (a well-formed user and conversation can be read), tell them in words that
    the request could not be read, by an ephemeral message; never through the payload's own response_url."""
    if not isinstance(body, dict):
        return
    user, channel, container = body.get("user"), body.get("channel"), body.get("container")
    user_id = user.get("id") if isinstance(user, dict) else body.get("user_id")
    channel_id = (channel.get("id") if isinstance(channel, dict) else body.get("channel_id")) or (
        container.get("channel_id") if isinstance(container, dict) else None
    )
    if not (isinstance(user_id, str) and PERSON_ID.match(user_id)):
        return
    if not (isinstance(channel_id, str) and CHANNEL_ID.match(channel_id)):
        return
    text = mrkdwn(
        ":warning: runbot could not read that request ({problem}), so nothing was done. Try again, or type "
        "`/runs help`.",
        problem=single_line(problem, 200),
    )

    async def tell() -> None:
        try:
            await svc.deliverer.pacer.turn(EPHEMERALS)  # a flood of bad requests waits its turn like answers do
            await svc.slack.chat_postEphemeral(channel=channel_id, user=user_id, text=text)
        except Exception as exc:  # the person is not in that conversation, say: the log line above remains
            log.info("could not tell %s that a request was unreadable: %s", user_id, type(exc).__name__)

    svc.spawn(tell(), name="tell-malformed")


async def slack_events(request: web.Request) -> web.Response:
    """Slack's requests: the size checked, then the signature verified on the raw bytes, before anything
    parses the body (a forged body, however deep or large, is never parsed); then Bolt."""
    settings: Settings = request.app[SETTINGS]
    refusals = request.app[SERVICES].refusals
    limit = settings.WEBHOOK_MAX_BYTES
    if request.content_length is not None and request.content_length > limit:
        refusals.warning(
            "slack-413", "Slack request refused (413): body of %d bytes over WEBHOOK_MAX_BYTES", request.content_length
        )
        return web.json_response({"ok": False, "error": "body_too_large"}, status=413)
    try:
        raw = await request.content.read(limit + 1)
    except (aiohttp.ClientError, ValueError):
        return web.json_response({"ok": False, "error": "unreadable_body"}, status=400)
    if len(raw) > limit:
        refusals.warning("slack-413", "Slack request refused (413): body over WEBHOOK_MAX_BYTES")
        return web.json_response({"ok": False, "error": "body_too_large"}, status=413)
    verifier = SignatureVerifier(settings.SLACK_SIGNING_SECRET or "")
    if not verifier.is_valid(
        body=raw,
        timestamp=request.headers.get("X-Slack-Request-Timestamp"),
        signature=request.headers.get("X-Slack-Signature"),
    ):
        reason = unverified_reason(request.headers)
        refusals.warning("slack-401:" + reason[:40], "Slack request refused (401): %s", reason)
        return web.json_response({"ok": False, "error": "invalid_signature"}, status=401)
    text = raw.decode("utf-8", errors="replace")
    # Bolt reads routing fields while it builds its request object, before any middleware: the payload's
    # shape is checked first (handlers/shape.py), so a malformed signed payload is acknowledged, not a 500.
    try:
        parsed = parse_body(text, request.headers.get("Content-Type"))
    except ValueError:
        parsed = None
    problem = problem_of(parsed)
    if problem:
        refusals.warning("shape:" + problem[:60], "Slack request acknowledged and not acted on: %s", problem)
        _tell_about_malformed(request.app[SERVICES], parsed, problem)
        return web.Response(status=200)
    try:
        bolt_req = AsyncBoltRequest(body=text, query=request.query_string, headers=request.headers)  # type: ignore[arg-type]
    except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:  # Bolt reading its routing fields
        refusals.warning(
            "shape:bolt", "Slack request acknowledged and not acted on: Bolt cannot read it (%s)", type(exc).__name__
        )
        return web.Response(status=200)
    return await to_aiohttp_response(await request.app[BOLT].async_dispatch(bolt_req))


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True, "uptime_seconds": round(time.monotonic() - request.app[STARTED], 1)})


async def readyz(request: web.Request) -> web.Response:
    svc: Services = request.app[SERVICES]
    checks: dict[str, dict] = {}
    ready = True
    try:
        await asyncio.wait_for(ping(svc.engine), timeout=3)
        checks["database"] = {"ok": True, "dialect": svc.engine.dialect.name}
    except Exception as exc:
        ready = False
        checks["database"] = {"ok": False, "error": type(exc).__name__}
    scheduler = request.app.get(SCHEDULER)
    running = scheduler is not None and scheduler.running
    ready = ready and running
    checks["scheduler"] = {"ok": running, **(scheduler.status() if scheduler else {})}
    try:
        counts = await svc.deliverer.counts()
    except Exception:
        counts = {}
    checks["slack_delivery"] = {
        "ok": not svc.deliverer.failed,
        "pending": counts.get("pending"),
        "failed": counts.get("failed"),
        "refused_channels": svc.deliverer.failed,
        "last_error": svc.deliverer.last_error,
    }
    try:
        checks["slack_reach"] = await svc.reach.status()  # not part of `ready`: a channel to fix, not a dead bot
    except Exception as exc:
        checks["slack_reach"] = {"ok": False, "error": type(exc).__name__}
    checks["tracker"] = scheduler.tracker_health() if scheduler else {"ok": False}
    return web.json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    svc: Services = request.app[SERVICES]
    scheduler = request.app.get(SCHEDULER)
    if scheduler:
        scheduler.tracker_health()  # refreshes the lag gauge
    try:
        await svc.reach.status()  # refreshes the held gauge
    except Exception:
        log.warning("could not count held Slack posts for /metrics", exc_info=True)
    return web.Response(body=generate_latest(svc.metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


def create_app(settings: Settings) -> web.Application:
    app = web.Application(client_max_size=max(settings.WEBHOOK_MAX_BYTES, 1024**2) + 1024)
    app[SETTINGS] = settings
    app[STARTED] = time.monotonic()
    app.cleanup_ctx.extend([_database, _services, _scheduler, _socket_mode])
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    if settings.SLACK_SIGNING_SECRET:
        app.router.add_post("/slack/events", slack_events)
    register_webhooks(app)
    return app
