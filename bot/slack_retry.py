"""Retries of the listeners' own Web API calls (`chat.unfurl`, answers, `views.*`) after Slack's 429.

slack_sdk's `AsyncRateLimitErrorRetryHandler` sleeps whatever `Retry-After` says and reads it as a whole number.
This one reads it as Slack sends it (seconds; fractions too, as a stand-in with a faster clock sends them),
waits at most SLACK_RETRY_AFTER_MAX_SECONDS (a longer wait is not worth a person's attention: the call fails
and is logged) and tries SLACK_RATE_LIMIT_RETRIES times at most. The outbox does its own retries
(bot/outbox.py)."""

from __future__ import annotations

import asyncio
import logging

from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

log = logging.getLogger(__name__)


def retry_after_seconds(response: HttpResponse | None) -> float | None:
    """The `Retry-After` of a 429, in seconds (None: absent or unreadable)."""
    if response is None:
        return None
    for name, values in (response.headers or {}).items():
        if name.lower() == "retry-after":
            value = values[0] if isinstance(values, list) and values else values
            try:
                seconds = float(value)
            except (TypeError, ValueError):
                return None
            return seconds if seconds >= 0 else None
    return None


class BoundedRateLimitRetry(AsyncRetryHandler):
    """After a 429, wait `Retry-After` (1 s when absent) and try again, when that wait is at most `max_wait`."""

    def __init__(self, *, max_retry_count: int = 2, max_wait: float = 30.0):
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait = max_wait

    def _wait(self, response: HttpResponse | None) -> float:
        seconds = retry_after_seconds(response)
        return 1.0 if seconds is None else seconds

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        wait = self._wait(response)
        if wait > self.max_wait:
            log.warning(
                "Slack rate-limited %s for %.0f s, longer than SLACK_RETRY_AFTER_MAX_SECONDS (%g); not retrying",
                request.url.rsplit("/", 1)[-1],
                wait,
                self.max_wait,
            )
            return False
        return True

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        if response is None:
            raise error  # type: ignore[misc]
        state.next_attempt_requested = True
        wait = self._wait(response)
        log.info("Slack rate-limited %s; trying again in %.2f s", request.url.rsplit("/", 1)[-1], wait)
        await asyncio.sleep(wait)
        state.increment_current_attempt()
