"""`/runs diff A B` (and *Compare with original*, *Full diff*): two runs of one workflow side by side, read
from the store when it holds their steps and prompts, else from the platform."""

from __future__ import annotations

import json

from bot.actors import Actor
from bot.commands.answers import Deferred, Reply
from bot.commands.grammar import Command, check_run_id
from bot.commands.lookup import platform_run, stored_run
from bot.errors import BadInput
from bot.render.diff import full_diff_modal, run_diff
from bot.services import Services
from bot.views import view_of_run


async def _run_data(svc: Services, token: str) -> dict:
    run = await stored_run(svc, token)
    if run is not None and "steps" in (run.data or {}) and "prompt" in (run.data or {}):
        return run.data
    return await platform_run(svc, run.id if run is not None else token)


async def two_runs(svc: Services, a_token: str, b_token: str) -> tuple[dict, dict]:
    a, b = await _run_data(svc, a_token), await _run_data(svc, b_token)
    a_view, b_view = view_of_run(a), view_of_run(b)
    if a_view.id == b_view.id:
        raise BadInput(f"`{a_view.id}` is the same run twice; give two runs, e.g. a run and its replay.")
    if a_view.workflow_id != b_view.workflow_id:
        raise BadInput(
            f"`{a_view.id}` is a run of {a_view.workflow_name} and `{b_view.id}` of {b_view.workflow_name}: "
            "`/runs diff` compares two runs of one workflow."
        )
    return a, b


def _prompt(data: dict) -> str | None:
    prompt = data.get("prompt")
    return prompt if isinstance(prompt, str) else None


async def do_diff(svc: Services, actor: Actor, command: Command, channel: str) -> Deferred:
    async def work() -> Reply:
        a, b = await two_runs(svc, command.args[0], command.args[1])
        payload = run_diff(view_of_run(a), view_of_run(b), _prompt(a), _prompt(b), svc.settings.run_url)
        return Reply(payload, command.share)

    return Deferred(work, command.share)


def diff_request(value: str) -> tuple[str, str]:
    try:
        data = json.loads(value)
        return check_run_id(str(data["a"])), check_run_id(str(data["b"]))
    except (ValueError, TypeError, KeyError, BadInput):
        raise BadInput("That button has lost its runs; type `/runs diff RUN_A RUN_B`.") from None


async def full_diff_view(svc: Services, value: str) -> dict:
    a_id, b_id = diff_request(value)
    a, b = await two_runs(svc, a_id, b_id)
    return full_diff_modal(str(a.get("id")), _prompt(a), str(b.get("id")), _prompt(b))
