"""Shortcuts: *Show run* on a message finds the run ids and console run links in it; *Find a run* searches the
store with the modal's filters. Listeners (handlers/shortcuts.py) open modals first and call these after."""

from __future__ import annotations

import json
import math
import re
from datetime import timedelta

from bot.actors import Actor
from bot.errors import BadInput
from bot.render.finder import SINCE, Filters, finder_modal
from bot.services import Services
from bot.unfurl import run_links
from bot.views import view_of_run
from store import dashboard, queries
from store.models import utcnow

MAX_COST_USD = 1_000_000  # the largest *Cost at least* the finder takes
SHOW_RUN_MAX = 5  # runs answered for one message: each is a whole card
# In order of appearance: a URL (a run id inside one counts only if it is a console run link), or a bare run id.
TOKEN = re.compile(r"(?P<url>https?://[^\s<>|\"\\]+)|(?<![\w/.-])(?P<id>run_[A-Za-z0-9]{2,64})(?![\w-])")
SINCE_DELTA = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}


def runs_in_message(svc: Services, message: dict) -> list[str]:
    """Run ids a message names, in order, each once: run links to the console, then bare ids such as run_7Kq2x9
    (in its text, its blocks and its attachments, so a bot's alert works as well as a person's message)."""
    parts = [str(message.get("text") or "")]
    for key in ("blocks", "attachments"):
        if message.get(key):
            parts.append(json.dumps(message[key], ensure_ascii=False))
    text = "\n".join(parts)
    ids: list[str] = []
    for match in TOKEN.finditer(text):
        if match.group("url"):
            ids += [rid for _, rid in run_links(svc.settings, [match.group("url")])]
        else:
            ids.append(match.group("id"))
    return list(dict.fromkeys(ids))[:SHOW_RUN_MAX]


def _selected(values: dict, block_id: str) -> dict:
    return next(iter((values.get(block_id) or {}).values()), None) or {}


def filters_of(view: dict | None) -> Filters:
    """The filters a person chose in the modal (its `state.values`); anything malformed counts as not chosen."""
    values = ((view or {}).get("state") or {}).get("values") or {}
    statuses = tuple(
        o.get("value") for o in _selected(values, "status").get("selected_options") or [] if isinstance(o, dict)
    )
    workflow = (_selected(values, "workflow").get("selected_option") or {}).get("value")
    since = (_selected(values, "since").get("selected_option") or {}).get("value")

    def text(block_id: str) -> str | None:
        value = _selected(values, block_id).get("value")
        return str(value).strip()[:120] or None if value else None

    return Filters(
        statuses=tuple(s for s in statuses if isinstance(s, str)),
        workflow=workflow if isinstance(workflow, str) else None,
        since=since if since in SINCE else None,
        model=text("model"),
        error_code=text("error_code"),
        min_cost=text("min_cost"),
    )


def min_cost_micros(typed: str | None) -> int | None:
    """The *Cost at least* filter in micro-dollars ("0.50", "$2", "1,200"); None when empty; BadInput otherwise."""
    if not typed:
        return None
    cleaned = typed.strip().removeprefix("$").replace(",", "").strip()
    try:
        dollars = float(cleaned)
    except ValueError:
        dollars = -1.0
    if not math.isfinite(dollars) or dollars < 0 or dollars > MAX_COST_USD:
        raise BadInput(f"Cost at least takes dollars, such as 0.50 (from 0 to {MAX_COST_USD:,}).")
    return round(dollars * 1_000_000)


async def finder_view(svc: Services, actor: Actor, filters: Filters) -> dict:
    """The modal with the newest runs in the store matching the filters."""
    since = utcnow() - SINCE_DELTA[filters.since] if filters.since else None
    async with svc.sessions() as session:
        workflows = [(w.id, w.name or w.id) for w in await queries.known_workflows(session, limit=100)]
        cost_known = await dashboard.usage_known(session)
        try:
            min_cost = min_cost_micros(filters.min_cost) if cost_known else None
        except BadInput as exc:
            return finder_modal(
                filters, workflows, [], svc.settings.run_url, may_operate=False, cost_known=True, problem=exc.message
            )
        if filters.error_code:
            rows = await queries.failed_runs(
                session, since=since, workflow=filters.workflow, code=filters.error_code, limit=40
            )
            rows = [
                r
                for r in rows
                if (not filters.statuses or "failed" in filters.statuses)
                and (not filters.model or r.model == filters.model)
                and (min_cost is None or (r.cost_micros is not None and r.cost_micros >= min_cost))
            ][:10]
        else:
            rows = await queries.list_runs(
                session,
                statuses=list(filters.statuses) or None,
                since=since,
                workflow=filters.workflow,
                model=filters.model,
                min_cost=min_cost,
                limit=10,
            )
    return finder_modal(
        filters,
        workflows,
        [view_of_run(r) for r in rows],
        svc.settings.run_url,
        may_operate=await actor.is_operator(),
        cost_known=cost_known,
    )
