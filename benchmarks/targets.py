"""The targets of issues 20 and 17, as ratios to floors measured in the same run (never absolute verdicts).

A figure that misses its target is reported as a MISS with its ratio; the bench never loosens a target."""

from __future__ import annotations

SLASH_P99_RATIO = 3.0  # one client: p99 at most 3x the bare Bolt floor's p99
COST_P99_RATIO = 5.0  # issue 17: `/runs cost --since 30d`, one client, p99 at most 5x the bare Bolt floor's p99
SLASH_CONCURRENT_SHARE = 0.25  # 16 concurrent: throughput at least 25% of the bare Bolt floor's
OVERLOAD_REQUESTS = 1000  # concurrent signed slash commands, all at once
OVERLOAD_ACK_SECONDS = 3.0  # Slack's acknowledgement deadline: every one acknowledged within it
INGEST_SHARE = 0.5  # acknowledged at least 50% of the sender ceiling
INGEST_P99_RATIO = 3.0  # p99 acknowledgement at most 3x the ceiling's p99
PROCESSING_SECONDS = 5.0  # what was acknowledged is processed within 5 s of the end of the burst
ALERT_RATIO = 2.0  # failure to alert during the burst: p99 at most 2x the same figure with the bot idle
ALERT_SPACING_SECONDS = 1.0  # timed failures are spaced to Slack's per-channel rate (about 1 message/s)
TRACKING_RATIO = 1.5  # a tracking cycle at most 1.5x a bare client fetching the same pages
RSS_MB = 150  # peak RSS with 1,000,000 runs


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISS"


def ratio(value: float, floor: float) -> float:
    return value / floor if floor else float("inf")
