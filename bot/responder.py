"""How a person hears back after Slack's acknowledgement: one place that knows Slack's rules for answers.

An answer goes through the request's `response_url` only when that URL is Slack's own (`https://hooks.slack.com/`)
or on the origin of `SLACK_API_URL` (the stand-in in tests and the sandbox), and only while Slack still
accepts it (at most `SLACK_RESPONSE_URL_MAX_USES` uses within `SLACK_RESPONSE_URL_SECONDS` of the request).
Uses are counted per URL, whichever Responder made them, and a URL Slack refused (404 `used_url`/`expired_url`)
is not tried again, so no answer ever goes through a `response_url` a sixth time. Otherwise, or when Slack
refuses it, the answer is an ephemeral message by the Web API in the conversation (waiting its turn with the
outbox's posts, bot/pacing.py, so a burst of answers draws no 429), and where that is refused too
(`user_not_in_channel`, say), a direct message through the outbox. Answers after a modal submission have no
`response_url` (the form never carries the click's) and always go by the Web API."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from slack_sdk.errors import SlackApiError
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot import outbox
from bot.pacing import EPHEMERALS, channel_key
from bot.services import Services

log = logging.getLogger(__name__)

SLACK_RESPONSE_HOST = "https://hooks.slack.com/"


def response_url_allowed(url: object, slack_api_url: str) -> bool:
    """Whether answers may be POSTed to `url`: Slack's response host, or the Web API's own origin."""
    if not isinstance(url, str) or not url or any(c.isspace() for c in url):
        return False
    if url.startswith(SLACK_RESPONSE_HOST):
        return True
    api, target = urlsplit(slack_api_url), urlsplit(url)
    return bool(api.netloc) and (target.scheme, target.netloc) == (api.scheme, api.netloc)


@dataclass
class _Uses:
    first: float
    count: int = 0


# Uses of each response_url in this process, whichever Responder made them (a listener's and the error
# handler's answer the same request): Slack takes 5 in all, so the count belongs to the URL.
_USES: OrderedDict[str, _Uses] = OrderedDict()
_USES_KEPT = 10_000


def _uses_of(url: str, received: float) -> _Uses:
    uses = _USES.get(url)
    if uses is None:
        uses = _USES[url] = _Uses(first=received)
        while len(_USES) > _USES_KEPT:
            _USES.popitem(last=False)
    else:
        _USES.move_to_end(url)
        uses.first = min(uses.first, received)
    return uses


@dataclass
class Responder:
    """Answers one person about one request. Build it when the request arrives (`for_request`), so the age of
    its `response_url` counts from then."""

    svc: Services
    user: str
    channel: str | None = None
    response_url: str | None = None
    received: float = field(default_factory=time.monotonic)

    @classmethod
    def for_request(cls, svc: Services, body: dict, *, response_url: str | None = None) -> "Responder":
        user = body.get("user") if isinstance(body.get("user"), dict) else {}
        channel = body.get("channel") if isinstance(body.get("channel"), dict) else {}
        url = response_url if response_url is not None else body.get("response_url")
        return cls(
            svc=svc,
            user=str(body.get("user_id") or user.get("id") or ""),
            channel=str(body.get("channel_id") or channel.get("id") or "") or None,
            response_url=url if isinstance(url, str) else None,
        )

    def _usable_url(self) -> str | None:
        url = self.response_url
        if not url:
            return None
        settings = self.svc.settings
        if not response_url_allowed(url, settings.slack_api_url):
            self.svc.refusals.warning(
                "response_url",
                "not answering through a response_url outside Slack (%s); answering by the Web API instead",
                urlsplit(url).netloc[:80] or "no host",
            )
            return None
        uses = _uses_of(url, self.received)
        if uses.count >= settings.SLACK_RESPONSE_URL_MAX_USES:
            log.info("response_url used %s times already; answering %s by the Web API", uses.count, self.user)
            return None
        if time.monotonic() - uses.first > settings.SLACK_RESPONSE_URL_SECONDS:
            log.info("response_url is past Slack's lifetime; answering %s by the Web API", self.user)
            return None
        uses.count += 1  # counted before the post: an answer that never came may still have been taken
        return url

    async def __call__(
        self,
        *,
        text: str = "",
        blocks: list | None = None,
        replace_original: bool = False,
        response_type: str = "ephemeral",
        **_ignored,
    ) -> None:
        """Answer like Bolt's `respond`, under the rules above."""
        await self.send(text=text, blocks=blocks, replace_original=replace_original, response_type=response_type)

    async def send(
        self, *, text: str, blocks: list | None = None, replace_original: bool = False, response_type: str = "ephemeral"
    ) -> None:
        url = self._usable_url()
        if url:
            try:
                resp = await AsyncWebhookClient(url).send(
                    text=text, blocks=blocks, response_type=response_type, replace_original=replace_original
                )
                if resp.status_code < 300:
                    return
                if resp.status_code == 404:  # used_url or expired_url: Slack takes no more through it
                    _uses_of(url, self.received).count = self.svc.settings.SLACK_RESPONSE_URL_MAX_USES
                log.info("response_url answered %s; answering %s by the Web API", resp.status_code, self.user)
            except Exception as exc:
                log.info(
                    "response_url could not be reached (%s); answering %s by the Web API", type(exc).__name__, self.user
                )
        await self._by_web_api(text=text, blocks=blocks, in_channel=response_type == "in_channel")

    async def delete_original(self) -> None:
        """Remove the ephemeral message this request's response_url answered before (best effort: a leftover
        notice is untidy, not wrong)."""
        url = self._usable_url()  # counts the use
        if not url:
            return
        try:
            await AsyncWebhookClient(url).send_dict({"delete_original": True})
        except Exception as exc:
            log.info("response_url could not delete the notice (%s)", type(exc).__name__)

    async def _by_web_api(self, *, text: str, blocks: list | None, in_channel: bool) -> None:
        if self.channel:
            pacer = self.svc.deliverer.pacer  # the outbox's cells: a burst of answers waits its turn, as posts do
            try:
                if in_channel:
                    await pacer.turn(channel_key(self.channel))
                    await self.svc.slack.chat_postMessage(channel=self.channel, text=text, blocks=blocks)
                else:
                    await pacer.turn(EPHEMERALS)
                    await self.svc.slack.chat_postEphemeral(
                        channel=self.channel, user=self.user, text=text, blocks=blocks
                    )
                return
            except SlackApiError as exc:
                log.info(
                    "Slack refused an answer in %s (%s); telling %s by direct message",
                    self.channel,
                    exc.response.get("error"),
                    self.user,
                )
        if not self.user:
            return
        payload: dict = {"text": text or "runbot"}
        if blocks:
            payload["blocks"] = blocks
        async with self.svc.sessions.begin() as session:
            await outbox.direct_message(session, user=self.user, payload=payload)
