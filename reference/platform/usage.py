"""Usage and cost the reference platform reports (contract v1.1): tokens for `llm` steps simulated from the
run and step ids, priced from a table per model, summed per run. A workflow marked `"usage": False` in the
samples reports none, and a model missing from the table gets tokens without a cost (partial usage)."""

from __future__ import annotations

import zlib
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

# US dollars per million tokens: (input, output).
PRICES: dict[str, tuple[Decimal, Decimal]] = {
    "gpt-4.1-mini": (Decimal("0.40"), Decimal("1.60")),
    "gpt-4.1": (Decimal("2.00"), Decimal("8.00")),
    "gpt-4o": (Decimal("2.50"), Decimal("10.00")),
    "claude-sonnet-4-5": (Decimal("3.00"), Decimal("15.00")),
    "claude-haiku-4-5": (Decimal("1.00"), Decimal("5.00")),
}
MICRO = Decimal("0.000001")


def _tokens(run_id: str, step_id: str, status: str) -> tuple[int, int]:
    """The same counts the logs mention: a prompt of 800-1999 tokens, 200-799 completion tokens (none when
    the call failed)."""
    prompt = 800 + (zlib.crc32(step_id.encode() + run_id.encode()) % 1200)
    completion = 200 + (zlib.crc32(run_id.encode()) % 600) if status == "completed" else 0
    return prompt, completion


def step_usage(run_id: str, model: str | None, workflow: dict, step_id: str, step_type: str, status: str):
    """The usage of one step as the API reports it, or None (not an llm step, not run yet, or no usage)."""
    if workflow.get("usage") is False or step_type != "llm" or status not in ("completed", "failed"):
        return None
    prompt, completion = _tokens(run_id, step_id, status)
    usage: dict[str, Any] = {"input_tokens": prompt, "output_tokens": completion}
    price = PRICES.get(model or "")
    if price is not None:
        cost = (prompt * price[0] + completion * price[1]) / Decimal(1_000_000)
        usage["cost_usd"] = float(cost.quantize(MICRO, rounding=ROUND_HALF_UP))
    return usage


def run_usage(workflow: dict, steps: list[dict]) -> dict | None:
    """The run's totals over its steps so far; no `cost_usd` when one step's cost is unknown."""
    if workflow.get("usage") is False:
        return None
    used = [s["usage"] for s in steps if s.get("usage")]
    total: dict[str, Any] = {
        "input_tokens": sum(u.get("input_tokens", 0) for u in used),
        "output_tokens": sum(u.get("output_tokens", 0) for u in used),
    }
    if all("cost_usd" in u for u in used):
        total["cost_usd"] = float(sum((Decimal(str(u["cost_usd"])) for u in used), Decimal(0)).quantize(MICRO))
    return total
