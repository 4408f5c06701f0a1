"""Reach: the bot is a member of every channel it posts to, and what Slack refuses for a cause a person must
fix is held, reported once with what to do, and delivered when the cause is fixed.

- At start and when a channel is subscribed, `ensure` joins public channels (`conversations.join`, scope
  `channels:join`) and records a channel it cannot reach (`channel_not_found`: private and not invited, or
  gone; `is_archived`) with a hint ("invite @runbot to <#C0PAYOUTS>").
- Permanent refusals of a delivery (`channel_not_found`, `is_archived`, `not_in_channel` for a channel;
  `missing_scope`, `token_revoked`, `invalid_auth`, `account_inactive` for the token) hold the outbox row
  (store/held.py) instead of giving it up; later rows of that channel (or, for the token, every row) are held
  without calling Slack. The deliverer calls `intercept` before a delivery and `refused` on a Slack error.
- Held rows go out again when the bot hears `member_joined_channel` for the channel, when a probe every
  SLACK_REACH_PROBE_SECONDS finds the channel (or the token and its scopes) working again, and at start:
  a new token or scope takes a restart, after which the held posts go out.
- `status()` is shown in /readyz, the gauges in /metrics, `check_rows()` in `runbot check`.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import Gauge
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.metrics import Metrics
from bot.render.common import code_span
from bot.render.lists import _channel
from bot.render.mrkdwn import Mrkdwn, mrkdwn
from store import held
from store import subscriptions as follows

log = logging.getLogger(__name__)

CHANNEL_ERRORS = {"channel_not_found", "is_archived", "not_in_channel"}
TOKEN_ERRORS = {"missing_scope", "token_revoked", "invalid_auth", "account_inactive"}
CHANNEL_METHODS = {"post", "thread", "update"}  # what a channel's refusal holds (ephemerals are not kept)
TOKEN_METHODS = {"post", "thread", "update", "dm", "publish"}
CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]{2,63}$")  # public or private channels; DMs need no joining
TOKEN = "token"  # the key of a token-wide problem


@dataclass
class Problem:
    error: str
    hint: str
    since: float
    needed: str | None = None

    def to_dict(self) -> dict:
        out = {"error": self.error, "hint": self.hint, "since": round(self.since, 3)}
        if self.needed:
            out["needed"] = self.needed
        return out


def hint(error: str, channel: str | None = None, needed: str | None = None) -> str:
    """What a person does about a refusal, in words for the log, /readyz, `runbot check` and replies."""
    where = f"<#{channel}>" if channel else "the channel"
    if error == "channel_not_found":
        return f"invite @runbot to {where} (a private channel it is not in), or check that the channel still exists"
    if error == "not_in_channel":
        return f"invite @runbot to {where} (or give the app the chat:write.public scope)"
    if error == "is_archived":
        return f"{where} is archived: unarchive it, or point runbot at another channel"
    if error == "missing_scope":
        scope = needed or "the scope Slack names"
        return f"add {scope} to the app's scopes (manifest.yml), reinstall the app and restart runbot with its token"
    return f"the bot token was refused ({error}): reinstall the app and restart runbot with the new SLACK_BOT_TOKEN"


def _error_of(exc: SlackApiError) -> tuple[str, str | None]:
    response = exc.response
    needed = response.get("needed") if hasattr(response, "get") else None
    return str(response.get("error") or response.status_code), (str(needed) if needed else None)


class Reach:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        client: AsyncWebClient,
        metrics: Metrics,
        *,
        probe_seconds: float = 300.0,
        kick=None,
    ) -> None:
        self.sessions = sessions
        self.client = client
        self.probe_seconds = probe_seconds
        self.kick = kick or (lambda: None)
        self.problems: dict[str, Problem] = {}  # channel id (or TOKEN) -> why it cannot be reached
        self.unchecked: set[str] = set()  # channels whose check failed for a passing reason: probed again
        self._reported: set[tuple[str, str]] = set()  # (channel or TOKEN, error) already logged at ERROR
        self._task: asyncio.Task | None = None
        self._wake = asyncio.Event()
        self.gauge = Gauge(
            "runbot_slack_unreachable",
            "Channels (and the token) Slack refuses for a cause a person must fix, by error",
            ["error"],
            registry=metrics.registry,
        )
        self.held_gauge = Gauge(
            "runbot_outbox_held", "Slack posts held until a refusal is fixed", registry=metrics.registry
        )

    # -- recording -------------------------------------------------------------

    def _record(self, key: str, error: str, needed: str | None = None) -> Problem:
        known = self.problems.get(key)
        if known is not None and known.error == error:
            return known
        problem = Problem(error, hint(error, None if key == TOKEN else key, needed), time.time(), needed)
        self.problems[key] = problem
        what = "the bot token" if key == TOKEN else f"channel {key}"
        if (key, error) in self._reported:
            log.info("Slack still refuses %s: %s; held until fixed", what, error)
        else:
            self._reported.add((key, error))
            log.error(
                "Slack refuses %s: %s. What to do: %s. Posts for it are held until then.", what, error, problem.hint
            )
        self._refresh_gauge()
        self._wake.set()
        return problem

    def _clear(self, key: str) -> bool:
        problem = self.problems.pop(key, None)
        if problem is not None:
            what = "the bot token" if key == TOKEN else f"channel {key}"
            log.info("Slack accepts %s again (was %s); delivering what was held", what, problem.error)
            self._refresh_gauge()
        return problem is not None

    def _refresh_gauge(self) -> None:
        counts: dict[str, int] = {}
        for problem in self.problems.values():
            counts[problem.error] = counts.get(problem.error, 0) + 1
        for error in CHANNEL_ERRORS | TOKEN_ERRORS:
            self.gauge.labels(error).set(counts.get(error, 0))

    # -- the deliverer's hooks ---------------------------------------------------

    def _holds(self, method: str, channel: str | None) -> Problem | None:
        token = self.problems.get(TOKEN)
        if token is not None and method in TOKEN_METHODS:
            return token
        if channel and method in CHANNEL_METHODS:
            return self.problems.get(channel)
        return None

    async def intercept(self, item) -> bool:
        """Before a delivery: hold a row whose channel (or token) is known to be refused, without calling Slack."""
        problem = self._holds(item.method, item.channel)
        if problem is None:
            return False
        async with self.sessions.begin() as session:
            await held.hold(session, item.id, problem.error, posted_for_sure_not=False)
        return True

    async def refused(self, item, exc: SlackApiError) -> bool:
        """On a Slack error: hold the row if it is a refusal a person must fix (True), else leave it (False)."""
        error, needed = _error_of(exc)
        if error in TOKEN_ERRORS and item.method in TOKEN_METHODS:
            self._record(TOKEN, error, needed)
        elif error in CHANNEL_ERRORS and item.method in CHANNEL_METHODS and item.channel:
            self._record(item.channel, error)
            if error == "not_in_channel":
                self.unchecked.add(item.channel)  # joining may fix it: the probe tries at once
        else:
            return False
        api_url = str(getattr(exc.response, "api_url", ""))
        itself = api_url.endswith(("chat.postMessage", "chat.update")) or item.method == "update"
        async with self.sessions.begin() as session:
            await held.hold(session, item.id, error, posted_for_sure_not=itself)
        return True

    # -- channels --------------------------------------------------------------

    async def ensure(self, channel: str) -> Problem | None:
        """Join a public channel the bot is not in; record (and return) why a channel cannot be reached."""
        if not CHANNEL_ID.match(channel or ""):
            return None
        try:
            info = (await self.client.conversations_info(channel=channel))["channel"]
            if info.get("is_archived"):
                return self._record(channel, "is_archived")
            if not info.get("is_member"):
                await self.client.conversations_join(channel=channel)
                log.info("joined channel %s to post there", channel)
        except SlackApiError as exc:
            error, needed = _error_of(exc)
            if error == "missing_scope":  # a scope of this check (say channels:join), not of posting: say so
                log.warning("cannot check or join channel %s: %s", channel, hint(error, channel, needed))
                return None
            if error in TOKEN_ERRORS:
                self._record(TOKEN, error, needed)
                return self.problems[TOKEN]
            if error in CHANNEL_ERRORS or error == "method_not_supported_for_channel_type":
                return self._record(channel, "channel_not_found" if error.startswith("method_") else error)
            log.warning("could not check channel %s (%s); trying again later", channel, error)
            self.unchecked.add(channel)
            return None
        except Exception as exc:  # Slack unreachable: not the channel's fault
            log.warning("could not check channel %s (%s); trying again later", channel, type(exc).__name__)
            self.unchecked.add(channel)
            return None
        self.unchecked.discard(channel)
        if self._clear(channel):
            await self._release(channel)
        return None

    async def joined(self, channel: str) -> None:
        """The bot was invited to a channel (`member_joined_channel`): deliver what was held for it."""
        log.info("invited to channel %s", channel)
        await self.ensure(channel)

    async def _release(self, channel: str | None) -> None:
        async with self.sessions.begin() as session:
            count = await held.release(session, channel)
        if count:
            log.info("released %d held Slack post(s) for %s", count, channel or "every channel")
            self.kick()

    # -- probing ---------------------------------------------------------------

    async def probe_once(self) -> None:
        token = self.problems.get(TOKEN)
        if token is not None:
            try:
                resp = await self.client.auth_test()
                headers = {str(k).lower(): v for k, v in (resp.headers or {}).items()}
                scopes = str(headers.get("x-oauth-scopes") or "")
                granted = {s.strip() for s in scopes.split(",") if s.strip()}
                if token.error != "missing_scope" or not token.needed or not scopes or token.needed in granted:
                    self._clear(TOKEN)
                    await self._release(None)
            except SlackApiError:
                pass  # still refused
            except Exception as exc:
                log.warning("could not probe the bot token (%s)", type(exc).__name__)
        for channel in [c for c in self.problems if c != TOKEN] + sorted(self.unchecked):
            if TOKEN in self.problems:
                return
            await self.ensure(channel)
        # Rows held by another replica (or before a problem was forgotten): released once their channel works.
        async with self.sessions() as session:
            holding = await held.held_by_channel(session)
        for channel in holding:
            if TOKEN in self.problems:
                return
            if channel not in self.problems and CHANNEL_ID.match(channel) and await self.ensure(channel) is None:
                await self._release(channel)

    async def start(self, channels: list[str]) -> None:
        """At start: give every held row another chance (the token or scopes may be new), join the channels
        the bot posts to, then probe what is refused every SLACK_REACH_PROBE_SECONDS."""
        await self._release(None)
        for channel in dict.fromkeys(c for c in channels if c):
            await self.ensure(channel)
        self._task = asyncio.create_task(self._loop(), name="reach-probe")

    async def _loop(self) -> None:
        """Probe every SLACK_REACH_PROBE_SECONDS; between probes, a newly recorded refusal only retries the
        channels a join may fix at once (a refusal that a probe cannot see, as an injected one, never turns
        into a tight loop)."""
        loop = asyncio.get_running_loop()
        next_probe = loop.time() + self.probe_seconds
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=max(0.0, next_probe - loop.time()))
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            try:  # cheap when nothing is refused: one query for held rows
                if loop.time() >= next_probe:
                    next_probe = loop.time() + self.probe_seconds
                    await self.probe_once()
                else:
                    for channel in sorted(self.unchecked):
                        await self.ensure(channel)
            except Exception:
                log.exception("probing refused channels failed; trying again later")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    # -- reporting -------------------------------------------------------------

    async def status(self) -> dict:
        async with self.sessions() as session:
            rows = await held.held_by_channel(session)
        held_total = sum(count for count, _ in rows.values())
        self.held_gauge.set(held_total)
        return {
            "ok": not self.problems and not held_total,
            "refused": {key: p.to_dict() for key, p in self.problems.items()},
            "held": held_total,
            "held_by_channel": {channel: count for channel, (count, _) in rows.items()},
        }


def start_reach(svc) -> None:
    """At start, in the background: the configured channels and every subscribed one are joined or reported."""

    async def run() -> None:
        async with svc.sessions() as session:
            subscribed = await follows.subscribed_channels(session)
        settings = svc.settings
        await svc.reach.start([settings.ALERT_CHANNEL, settings.APPROVAL_CHANNEL, *subscribed])

    svc.spawn(run(), name="reach-start", cancel_on_stop=True)


async def subscribe_note(svc, channel: str, *, timeout: float = 2.5) -> Mrkdwn | None:
    """For `/runs subscribe`: join the channel, or say why runbot cannot post there and what to do."""
    if svc.reach is None:
        return None
    try:
        problem = await asyncio.wait_for(svc.reach.ensure(channel), timeout)
    except asyncio.TimeoutError:
        return None  # Slack is slow: the probe checks the channel later
    if problem is None:
        return None
    return mrkdwn(
        ":warning: runbot cannot post in {channel} yet: Slack answers {error}. What to do: {hint}. "
        "Its alerts are kept and posted once that is fixed.",
        channel=_channel(channel),
        error=code_span(problem.error),
        hint=hint(problem.error, None, problem.needed),
    )


async def check_rows(settings, client: AsyncWebClient) -> list[tuple[str, str, str]]:
    """`runbot check`: without changing anything, can the bot post to its channels, does its token carry
    chat:write, and what does the outbox hold back (and why)?"""
    from store.db import create_engine, sessionmaker

    problems: list[str] = []
    subscribed, holding = [], {}
    url = settings.DATABASE_URL
    path = url.split(":///", 1)[-1].split("?", 1)[0] if url.startswith("sqlite") else ""
    # Opening a SQLite file that is not there creates it: `runbot check` never does (its database row says so).
    if not (path and path != ":memory:" and not Path(path).exists()):
        engine = create_engine(url)
        try:
            async with sessionmaker(engine)() as session:
                subscribed = await follows.subscribed_channels(session)
                holding = await held.held_by_channel(session)
        except Exception:  # the database row of `runbot check` says what is wrong with it
            subscribed, holding = [], {}
        finally:
            await engine.dispose()
    try:
        resp = await client.auth_test()
        headers = {str(k).lower(): v for k, v in (resp.headers or {}).items()}
        scopes = {s.strip() for s in str(headers.get("x-oauth-scopes") or "").split(",") if s.strip()}
        if scopes and "chat:write" not in scopes:
            problems.append(f"the token lacks chat:write: {hint('missing_scope', needed='chat:write')}")
    except SlackApiError as exc:
        error, needed = _error_of(exc)
        return [("slack reach", "FAIL", f"auth.test refused ({error}): {hint(error, needed=needed)}")]
    except Exception as exc:
        return [("slack reach", "FAIL", f"cannot reach Slack: {type(exc).__name__}")]
    channels = [c for c in dict.fromkeys([settings.ALERT_CHANNEL, settings.APPROVAL_CHANNEL, *subscribed]) if c]
    for channel in channels:
        if not CHANNEL_ID.match(channel):
            continue
        try:
            info = (await client.conversations_info(channel=channel))["channel"]
            if info.get("is_archived"):
                problems.append(f"{channel}: is_archived: {hint('is_archived', channel)}")
        except SlackApiError as exc:
            error, needed = _error_of(exc)
            problems.append(f"{channel}: {error}: {hint(error, channel, needed)}")
        except Exception as exc:
            problems.append(f"{channel}: not checked ({type(exc).__name__})")
    for channel, (count, error) in sorted(holding.items()):
        problems.append(f"{count} post(s) held for {channel} ({error}): {hint(error or '', channel)}")
    if problems:
        return [("slack reach", "FAIL", "; ".join(problems))]
    return [("slack reach", "OK", f"{len(channels)} channel(s) reachable, nothing held")]
