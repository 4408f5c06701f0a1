"""Which run a token typed in Slack names, as git resolves commits: a unique prefix, case-sensitive, `run_`
optional; the store first, then the platform."""

from __future__ import annotations

from bot.errors import BadInput, NotFound, from_platform
from bot.platform import PlatformError, PlatformUnreachable
from bot.render.replay_modal import replay_changes_modal
from bot.services import Services
from bot.views import view_of_run
from store import queries, rollups
from store.models import Run


def _ambiguous(token: str, ids: list[str]) -> BadInput:
    shown = ", ".join(f"`{i}`" for i in ids[:5])
    more = " and more" if len(ids) > 5 else ""
    return BadInput(f"`{token}` matches several runs: {shown}{more}. Type more characters of the one you mean.")


def _pick(token: str, ids: list[str]) -> str | None:
    exact = [i for i in ids if i in (token, f"run_{token}")]
    if exact:
        return exact[0]
    if len(ids) > 1:
        raise _ambiguous(token, ids)
    return ids[0] if ids else None


async def stored_run(svc: Services, token: str, *, row: bool = False) -> Run | None:
    """The stored run a token names; None when the store has none; BadInput when ambiguous. `row`: a row of the
    runs table's columns read by a Core select on the read path (for an answer that only reads it), not a `Run`."""
    if row:
        rows = await queries.runs_by_prefix(svc.reader, token, limit=6, rows=True)
    else:
        async with svc.sessions() as session:
            rows = await queries.runs_by_prefix(session, token, limit=6)
    # A case-insensitive or linguistic collation may widen the range: git's rule is a plain prefix.
    rows = [r for r in rows if r.id.startswith(token) or r.id.startswith(f"run_{token}")]
    run_id = _pick(token, [r.id for r in rows])
    return next((r for r in rows if r.id == run_id), None)


async def platform_run(svc: Services, token: str) -> dict:
    """Ask the platform for a run the store does not know, by exact id or by prefix."""
    try:
        candidates = [token] if token.startswith("run_") else [f"run_{token}", token]
        for candidate in candidates:
            try:
                return await svc.platform.get_run(candidate)
            except PlatformError as exc:
                if exc.status != 404:
                    raise
        ids: list[str] = []
        for candidate in candidates:
            page = await svc.platform.list_runs(run_id=candidate, limit=6)
            ids.extend(r["id"] for r in page.get("data", []) if r["id"] not in ids)
        run_id = _pick(token, ids)
        if run_id is None:
            raise NotFound(
                f"No run `{token}` in the bot's store or on the platform. Check the ID, or find it with "
                "`/runs list` or `/runs failed`."
            )
        return await svc.platform.get_run(run_id)
    except (PlatformError, PlatformUnreachable) as exc:
        raise from_platform(exc, doing=f"the lookup of `{token}`") from None


async def replayable_run(svc: Services, token: str) -> tuple[str, dict]:
    """The run a token names with its prompt and model, for the replay form: the store's copy when it has
    them, otherwise the platform's."""
    run_id = await resolve_run_id(svc, token)
    async with svc.sessions() as session:
        run = await session.get(Run, run_id)
    return run_id, run.data if run is not None and "prompt" in (run.data or {}) else await platform_run(svc, run_id)


async def resolve_run_id(svc: Services, token: str) -> str:
    """The full id of the run a token names, wherever it is known."""
    run = await stored_run(svc, token)
    return run.id if run is not None else str((await platform_run(svc, token))["id"])


async def replay_form(svc: Services, run_id: str, data: dict, metadata: str) -> dict:
    """The Replay with changes modal for a run's JSON: its workflow, its error, and the models seen on the
    workflow's runs."""
    view = view_of_run(data)
    async with svc.sessions() as session:
        models = await rollups.models_of(session, view.workflow_id)
    failed = view.failed_step
    step_words = f"step {failed.index + 1} of {view.total_steps} ({failed.name})" if failed else None
    return replay_changes_modal(
        run_id,
        str(data.get("prompt") or ""),
        str(data.get("model") or ""),
        metadata,
        workflow=view.workflow_name,
        error_code=view.error_code,
        step_words=step_words,
        models=models,
    )
