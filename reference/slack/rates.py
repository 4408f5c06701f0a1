"""Slack's rate limits as the stand-in enforces them, answered as Slack does: HTTP 429, `ratelimited` and a
`Retry-After` header in seconds.

- `chat.postMessage`: "generally allows posting one message per second per channel" with "short bursts >1
  allowed" (Slack's rate-limits page, Special Tier), thread replies included;
- `chat.update`: Web API Tier 3, "50+ per minute" per app and workspace, "sporadic bursts are welcome".

Each limit is a generic cell rate (a token bucket that counts time, not tokens). The clocks are options with
Slack's values by default; a test may run them faster (`RateRules.scaled`), never switch a rule off.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class RateRules:
    post_per_second: float = 1.0  # chat.postMessage, per channel
    post_burst: int = 4
    update_per_minute: float = 50.0  # chat.update (Tier 3), per workspace
    update_burst: int = 10
    scale: float = 1.0  # how much faster than Slack's clock the windows run (Retry-After is scaled too)

    def __post_init__(self) -> None:
        for name in ("post_per_second", "post_burst", "update_per_minute", "update_burst", "scale"):
            if not getattr(self, name) > 0:
                raise ValueError(f"RateRules.{name} must be positive: a rule can be scaled, never switched off")

    def scaled(self, factor: float) -> "RateRules":
        return replace(self, scale=self.scale * factor)


@dataclass
class Cell:
    """One limit: `interval` seconds per call, `burst` calls at once; `tat` is the theoretical arrival time."""

    interval: float
    burst: int
    tat: float = field(default=0.0)

    def take(self, now: float) -> float:
        """0 when the call conforms (and is counted), else the seconds until it would."""
        allowed_at = self.tat - (self.burst - 1) * self.interval
        if now < allowed_at:
            return allowed_at - now
        self.tat = max(self.tat, now) + self.interval
        return 0.0


class RateLimits:
    """Part of ``SlackStandIn``: the per-channel and per-workspace limits of the posting methods."""

    rates: RateRules
    _rate_taken: tuple[Cell, float] | None = None

    def _rate_cell(self, key: tuple) -> Cell:
        key = (*key, self.rates)  # rules changed by a test start new cells
        cell = self._cells.get(key)
        if cell is None:
            r = self.rates
            if key[0] == "chat.update":
                cell = Cell(60.0 / (r.update_per_minute * r.scale), r.update_burst)
            else:
                cell = Cell(1.0 / (r.post_per_second * r.scale), r.post_burst)
            self._cells[key] = cell
        return cell

    def _rate_wait(self, method: str, args: dict) -> str | None:
        """The Retry-After of a call over its limit (None: within it)."""
        if method == "chat.postMessage":
            ch = self._resolve_channel(args.get("channel"))
            if ch is None:
                return None  # answered channel_not_found by the method itself
            key: tuple = (method, ch.id)
        elif method == "chat.update":
            key = (method,)
        else:
            return None
        cell = self._rate_cell(key)
        before = cell.tat
        wait = cell.take(time.monotonic())
        if wait <= 0:
            self._rate_taken = (cell, before)
            return None
        unit = 1.0 / self.rates.scale  # Slack answers whole seconds; a scaled clock, scaled seconds
        return f"{math.ceil(wait / unit) * unit:g}"

    def _rate_refund(self) -> None:
        """A call the method refused posted nothing: it does not count against the limit."""
        if self._rate_taken is not None:
            cell, before = self._rate_taken
            cell.tat = before
            self._rate_taken = None

    def rate_limited(self, method: str | None = None) -> list:
        """Calls answered 429 by a rate limit (not by an injected fault), optionally only to `method`."""
        return [c for c in self.throttled if method is None or c.method == method]
