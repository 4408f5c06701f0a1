"""What the core needs, built once per app and handed around: settings, store, platform, Slack, outbox."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.logs import Summarized
from bot.metrics import Metrics
from bot.outbox import Deliverer
from bot.people import People
from bot.platform import PlatformClient
from store import db

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    platform: PlatformClient
    slack: AsyncWebClient
    deliverer: Deliverer
    metrics: Metrics
    people: People
    reach: Any = None  # bot.reach.Reach: channels joined, refusals held and reported
    reader: Any = None  # store.reads.Reader: the read path of the answers people wait for
    background: set[asyncio.Task] = field(default_factory=set)
    # Workflows this process has written to the store, so a run's event does not upsert its workflow again.
    known_workflows: set[str] = field(default_factory=set)
    # `/runs cost`: sums of each closed UTC day and of its period, kept while the day is unchanged
    # (bot/commands/cost.py).
    cost_cache: dict = field(default_factory=dict)
    _cancel_on_stop: set[asyncio.Task] = field(default_factory=set)
    # Refusals (forged requests, answers not sent where asked) logged once per interval with a count.
    refusals: Summarized = field(default_factory=lambda: Summarized(logging.getLogger("bot.refusals")))

    @property
    def is_postgres(self) -> bool:
        return db.is_postgres(self.engine)

    def spawn(self, coro, *, name: str | None = None, cancel_on_stop: bool = False) -> asyncio.Task:
        """Run work after Slack's acknowledgement; kept referenced and awaited at shutdown.
        `cancel_on_stop` work (a retrying first sync, say) is cancelled at shutdown instead."""
        task = asyncio.create_task(coro, name=name)
        self.background.add(task)
        if cancel_on_stop:
            self._cancel_on_stop.add(task)
            task.add_done_callback(self._cancel_on_stop.discard)

        def _done(t: asyncio.Task) -> None:
            self.background.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("background task %s failed", t.get_name(), exc_info=t.exception())

        task.add_done_callback(_done)
        return task

    async def drain(self, timeout: float = 10.0) -> None:
        """Finish in-flight work (answers owed to users), then cancel what is left."""
        for task in list(self._cancel_on_stop):
            task.cancel()
        if self.background:
            await asyncio.wait(list(self.background), timeout=timeout)
        for task in list(self.background):
            task.cancel()
