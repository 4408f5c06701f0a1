"""`/runs diff A B` (and *Compare with original*, *Full diff*): two runs of one workflow side by side, read
from the store when it holds their steps and prompts, else from the platform."""

from __future__ import annotations

import json
import uuid

from bot import outbox
from bot.actors import Actor
from bot.commands.answers import Deferred, Reply
from bot.commands.grammar import Command, check_run_id
from bot.commands.lookup import platform_run, stored_run
from bot.errors import BadInput
from bot.render import replies
from bot.render.diff import diff_thread, full_diff_modal, prompt_diff, prompt_trimmed, run_diff
from bot.render.runs import message
from bot.services import Services
from bot.tail import out_of_reach
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
        a_view, b_view = view_of_run(a), view_of_run(b)
        thread = prompt_trimmed(prompt_diff(a_view.id, _prompt(a), b_view.id, _prompt(b)))
        if command.share and thread and channel and await out_of_reach(svc, channel) is None:
            payload = run_diff(a_view, b_view, _prompt(a), _prompt(b), svc.settings.run_url, whole_in_thread=True)
            await _post_with_thread(svc, actor, command, channel, payload, a, b)
            return Reply(message("Posted the comparison in the channel, with the whole prompt diff in its thread."))
        hint = f"{command.line} --share" if thread and channel and not command.share else None
        payload = run_diff(a_view, b_view, _prompt(a), _prompt(b), svc.settings.run_url, share_hint=hint)
        return Reply(payload, command.share)

    return Deferred(work, command.share)


async def _post_with_thread(
    svc: Services, actor: Actor, command: Command, channel: str, payload: dict, a: dict, b: dict
) -> None:
    """A shared comparison whose prompt diff is trimmed: posted by the bot (a response_url answer has no thread),
    the whole diff in its thread, all in one transaction through the outbox."""
    a_id, b_id = str(a.get("id")), str(b.get("id"))
    async with svc.sessions.begin() as session:
        posted = await outbox.post(
            session,
            channel=channel,
            payload=replies.shared_by(payload, actor.id, command.line),
            kind="diff",
            subject=f"{a_id} {b_id} {uuid.uuid4().hex[:12]}",  # every share is a message of its own
        )
        for part in diff_thread(a_id, _prompt(a), b_id, _prompt(b)):
            await outbox.thread_reply(session, posted, part)


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
