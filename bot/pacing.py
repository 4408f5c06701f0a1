"""Pacing of the outbox within Slack's rate limits, so posts go out without 429s in normal operation.

Slack allows chat.postMessage about once a second per channel after a short burst, chat.update at Tier 3
(50 a minute per workspace) and chat.postEphemeral at Tier 4 (100 a minute). The outbox and the listeners'
answers (bot/responder.py) share these cells. Each limit is kept as a generic cell rate (a token bucket that counts time) over
the calls actually made; a row that must wait is told when its turn comes, behind the rows already waiting, so
posts of one channel leave in order, a steady second apart once the burst is spent. The bot's burst stays below
Slack's so jitter on the wire never tips a call over. The limits are per process: replicas
share Slack's allowance (docs/configuration.md)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

UPDATES = "chat.update"
EPHEMERALS = "chat.postEphemeral"  # Tier 4, per workspace
EARLY = 0.02  # a reserved slot this close is taken at once


@dataclass
class _Cell:
    interval: float
    burst: int
    tat: float = 0.0  # the theoretical arrival time of the next call, from the calls actually made

    def free_at(self) -> float:
        return self.tat - (self.burst - 1) * self.interval

    def take(self, now: float) -> None:
        self.tat = max(self.tat, now) + self.interval


class Pacer:
    """Counts the calls actually made (a row sent late is counted when it goes, so late rows never bunch up),
    and tells a row that must wait when to come back: rows already waiting keep their turn, new ones queue
    behind them."""

    def __init__(
        self,
        *,
        channel_rate_per_second: float = 1.0,
        channel_burst: int = 3,
        update_rate_per_minute: float = 50.0,
        update_burst: int = 8,
        ephemeral_rate_per_minute: float = 100.0,
        ephemeral_burst: int = 20,
        clock=time.monotonic,
    ):
        self.channel_interval = 1.0 / channel_rate_per_second
        self.channel_burst = channel_burst
        self.update_interval = 60.0 / update_rate_per_minute
        self.update_burst = update_burst
        self.ephemeral_interval = 60.0 / ephemeral_rate_per_minute
        self.ephemeral_burst = ephemeral_burst
        self.clock = clock
        self._cells: dict[str, _Cell] = {}
        self._waiting: set[int] = set()  # outbox ids told to come back later
        self._last_turn: dict[str, float] = {}  # key -> the latest time a waiting row was told

    def _cell(self, key: str) -> _Cell:
        cell = self._cells.get(key)
        if cell is None:
            if key == UPDATES:
                cell = _Cell(self.update_interval, self.update_burst)
            elif key == EPHEMERALS:
                cell = _Cell(self.ephemeral_interval, self.ephemeral_burst)
            else:
                cell = _Cell(self.channel_interval, self.channel_burst)
            self._cells[key] = cell
        return cell

    def delay(self, item_id: int, key: str) -> float:
        """Seconds the outbox row must wait (0: send it now, and it is counted)."""
        now = self.clock()
        cell = self._cell(key)
        at = cell.free_at()
        waiting = item_id in self._waiting
        last = self._last_turn.get(key)
        if not waiting and last is not None and last > now:
            at = max(at, last + cell.interval)  # behind the rows already waiting, so the channel keeps its order
        if at - now <= EARLY:
            cell.take(now)
            self._waiting.discard(item_id)
            return 0.0
        if len(self._waiting) > 10_000:  # rows delivered by another replica or given up never come back
            self._waiting.clear()
        self._waiting.add(item_id)
        self._last_turn[key] = max(at, last or at)
        return at - now

    async def turn(self, key: str) -> None:
        """Wait for a slot: for the calls a delivery makes beyond its first (a plain-text retry, a thread
        continuation) and for the listeners' own answers (bot/responder.py). The slot is taken before the wait,
        so callers waiting at once leave one slot apart, in the order they came."""
        cell = self._cell(key)
        now = self.clock()
        at = max(cell.free_at(), now)
        cell.take(at)
        if at - now > EARLY:
            await asyncio.sleep(at - now)


def channel_key(channel: str) -> str:
    return f"post:{channel}"
