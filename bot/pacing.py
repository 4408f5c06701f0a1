"""Pacing of the outbox within Slack's rate limits, so posts go out without 429s in normal operation.

Slack allows chat.postMessage about once a second per channel after a short burst, and chat.update at Tier 3
(50 a minute per workspace). Each limit is kept as a generic cell rate: every call reserves the earliest time
it may go, so posts of one channel leave in order, a steady second apart once the burst is spent. The bot's
burst stays below Slack's so jitter on the wire never tips a call over. The limits are per process: replicas
share Slack's allowance (docs/configuration.md)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

UPDATES = "chat.update"
EARLY = 0.02  # a reserved slot this close is taken at once


@dataclass
class _Cell:
    interval: float
    burst: int
    tat: float = 0.0  # the theoretical arrival time of the next call

    def reserve(self, now: float) -> float:
        at = max(now, self.tat - (self.burst - 1) * self.interval)
        self.tat = max(self.tat, at) + self.interval
        return at


class Pacer:
    def __init__(
        self,
        *,
        channel_rate_per_second: float = 1.0,
        channel_burst: int = 3,
        update_rate_per_minute: float = 50.0,
        update_burst: int = 8,
        clock=time.monotonic,
    ):
        self.channel_interval = 1.0 / channel_rate_per_second
        self.channel_burst = channel_burst
        self.update_interval = 60.0 / update_rate_per_minute
        self.update_burst = update_burst
        self.clock = clock
        self._cells: dict[str, _Cell] = {}
        self._reserved: dict[int, float] = {}  # outbox id -> its reserved slot, while it waits for it

    def _cell(self, key: str) -> _Cell:
        cell = self._cells.get(key)
        if cell is None:
            if key == UPDATES:
                cell = _Cell(self.update_interval, self.update_burst)
            else:
                cell = _Cell(self.channel_interval, self.channel_burst)
            self._cells[key] = cell
        return cell

    def delay(self, item_id: int, key: str) -> float:
        """Seconds the outbox row must wait for its slot (0: send now). A row told to wait keeps its slot and
        is not charged again when it comes back."""
        now = self.clock()
        at = self._reserved.pop(item_id, None)
        if at is None:
            at = self._cell(key).reserve(now)
        if at - now <= EARLY:
            return 0.0
        self._reserved[item_id] = at
        self._forget_old(now)
        return at - now

    async def turn(self, key: str) -> None:
        """Wait for a slot: for the calls a delivery makes beyond its first (a plain-text retry, a thread
        continuation)."""
        now = self.clock()
        wait = self._cell(key).reserve(now) - now
        if wait > EARLY:
            await asyncio.sleep(wait)

    def _forget_old(self, now: float) -> None:
        # Slots of rows delivered by another replica or given up are never claimed: drop them once long past.
        if len(self._reserved) > 1000:
            self._reserved = {i: at for i, at in self._reserved.items() if at > now - 600}


def channel_key(channel: str) -> str:
    return f"post:{channel}"
