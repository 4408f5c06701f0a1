"""Issue 17's part of the benchmark store and of the slash-command rows: usage on every generated run (10%
of unknown cost, one model without a price, a heavy-tailed cost so `--min-cost 0.5` matches about 2% of
runs), the daily cost rollups filled from the generated runs as the ingest path would have kept them, and
the `/runs cost --since 30d` and `/runs failed --min-cost 0.5` rows.

`/runs cost` is measured twice: as it runs in steady state (the sums of closed days kept by the bot while none
changed, today read from the rollups), and cold, with a closed day of the period marked changed before every
request, as a late event on a run created that day marks it (what a late event costs the next `/runs cost`:
that day read again from the rollups, with today, and replaced in the period's sums)."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from datetime import timedelta

from sqlalchemy.ext.asyncio import async_sessionmaker

from reference.platform.usage import PRICES
from store import rollups
from store.db import create_engine
from store.models import utcnow

USAGE_COLUMNS = ("cost_micros", "input_tokens", "output_tokens")

ROLLUP_SQL = """
INSERT INTO cost_rollups (day, workflow_id, model, status, runs, priced_runs, cost_micros, input_tokens, output_tokens)
SELECT {day}, workflow_id, COALESCE(model, ''), status, COUNT(*), COUNT(cost_micros), COALESCE(SUM(cost_micros), 0),
       COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0)
FROM runs GROUP BY {day}, workflow_id, COALESCE(model, ''), status
"""
SQLITE_ROLLUPS = ROLLUP_SQL.format(day="date(created_at)")
POSTGRES_ROLLUPS = ROLLUP_SQL.format(day="(created_at AT TIME ZONE 'UTC')::date")


COLD = "/runs cost --since 30d, cold: a closed day changed before each"


def cost_commands() -> list[tuple[str, str]]:
    return [
        ("/runs cost --since 30d", "cost --since 30d"),
        (COLD, "cost --since 30d"),
        ("/runs failed --min-cost 0.5", "failed --min-cost 0.5"),
    ]


def cost_call(label: str, call: Callable[..., Awaitable[float]], db_url: str | None) -> Callable[..., Awaitable[float]]:
    """The cold row's requests: each after a (untimed) change to a closed day of the period (a different one each
    time), written as the ingest path writes one, so the bot cannot use the sums it kept for that day."""
    if label != COLD or not db_url:
        return call
    sessions = async_sessionmaker(create_engine(db_url), expire_on_commit=False)

    changes = 0

    async def cold(item) -> float:
        nonlocal changes
        changes += 1
        day = utcnow().date() - timedelta(days=2 + changes % 20)
        async with sessions.begin() as session:
            await rollups.closed_days_changed(session, [day])
        return await call(item)

    return cold


def usage_of(run_id: str, model: str) -> tuple[tuple[int | None, int | None, int | None], dict | None]:
    """The run's (cost_micros, input_tokens, output_tokens) columns and its `usage` JSON; drawn from the run id,
    so the rest of the generated store does not change."""
    rng = random.Random(run_id)
    if rng.random() < 0.10:
        return (None, None, None), None
    scale = rng.paretovariate(1.2)
    tokens_in = int(800 * scale * 10)
    tokens_out = int(200 * scale * 10)
    usage: dict = {"input_tokens": tokens_in, "output_tokens": tokens_out}
    price = PRICES.get(model)
    if price is None:
        return (None, tokens_in, tokens_out), usage
    cost = round(float(tokens_in * price[0] + tokens_out * price[1]))  # dollars per million tokens = micro-dollars
    usage["cost_usd"] = cost / 1_000_000
    return (cost, tokens_in, tokens_out), usage
