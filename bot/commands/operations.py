"""`/runs` write operations: pause, resume, cancel and replay (through `bot/control.py`), subscribe and
unsubscribe a channel, watch and unwatch a run. Each takes the `Actor` and is audited."""

from __future__ import annotations

from bot import audit, control
from bot.actors import OPERATE, Actor, require
from bot.commands.answers import Deferred, Reply, text_reply
from bot.commands.grammar import Command, clip
from bot.commands.lookup import platform_run, resolve_run_id, stored_run
from bot.contract import ALLOWED_FROM, TERMINAL, status_refusal
from bot.errors import BadInput, WrongStatus, from_platform
from bot.platform import PlatformError, PlatformUnreachable
from bot.reach import subscribe_note
from bot.render import prompts, replies
from bot.render import runs as render
from bot.render.mrkdwn import mrkdwn
from bot.services import Services
from bot.views import view_of_run
from store import queries
from store import subscriptions as follows


async def do_control(svc: Services, actor: Actor, command: Command, channel: str) -> Reply | Deferred:
    """pause, resume: act after the ack; a terminal run is answered at once without the platform."""
    action, token = command.name, command.args[0]
    run = await stored_run(svc, token)
    if run is not None and run.status in TERMINAL and run.status not in ALLOWED_FROM[action]:
        await control.act(svc, actor, action, run.id)  # raises WrongStatus, audited, no platform call
    return Deferred(lambda: act_reply(svc, actor, action, run.id if run else token, share=command.share), command.share)


async def act_reply(
    svc: Services,
    actor: Actor,
    action: str,
    token: str,
    *,
    share: bool = False,
    prompt: str | None = None,
    model: str | None = None,
) -> Reply:
    """Pause, resume, cancel or replay the run a token names (buttons, the replay form, `/runs`)."""
    # The role first: a crafted button naming any run, real or not, gets no further than a refusal.
    await control.require_operator(svc, actor, action, token)
    run_id = await resolve_run_id(svc, token)
    result = await control.act(svc, actor, action, run_id, prompt=prompt, model=model)
    return Reply(replies.control_result(action, run_id, view_of_run(result), svc.settings.run_url, actor.id), share)


async def do_cancel(svc: Services, actor: Actor, command: Command, channel: str) -> Reply | Deferred:
    token = command.args[0]
    run = await stored_run(svc, token)
    if run is not None:
        if run.status in TERMINAL:
            await control.act(svc, actor, "cancel", run.id)  # raises WrongStatus without the platform
        return Reply(prompts.cancel_confirm(run.id, run.status, run.workflow_name), command.share)

    async def ask_platform() -> Reply:
        data = await platform_run(svc, token)
        if data["status"] in TERMINAL:
            await control.act(svc, actor, "cancel", data["id"])  # refused and audited, nothing sent
        return Reply(
            prompts.cancel_confirm(data["id"], data["status"], (data.get("workflow") or {}).get("name", "")),
            command.share,
        )

    return Deferred(ask_platform, command.share)


async def do_replay(svc: Services, actor: Actor, command: Command, channel: str) -> Reply | Deferred:
    token = command.args[0]
    prompt, model = command.flags.get("prompt"), command.flags.get("model")
    run = await stored_run(svc, token)

    def build(run_id: str, status: str, workflow: str) -> Reply:
        if status not in TERMINAL:
            raise WrongStatus(status_refusal(run_id, status, "replay") + ". Replay it once it has ended.")
        if not prompt and not model:
            return Reply(prompts.replay_choice(run_id, status, workflow), command.share)
        value = render.button_value({"run": run_id, "prompt": prompt, "model": model})
        if value is None:
            raise BadInput(
                "That prompt is too long to carry in a button. Type `/runs replay "
                f"{run_id}` and choose *Replay with changes…* to edit it in a form."
            )
        return Reply(prompts.replay_confirm(run_id, prompt, model, value), command.share)

    if run is not None and run.status in TERMINAL:
        return build(run.id, run.status, run.workflow_name)

    async def ask_platform() -> Reply:
        data = await platform_run(svc, run.id if run is not None else token)
        return build(str(data["id"]), str(data["status"]), (data.get("workflow") or {}).get("name", ""))

    return Deferred(ask_platform, command.share)


# Subscriptions: operators only, audited


async def do_subscribe(svc: Services, actor: Actor, command: Command, channel: str) -> Reply | Deferred:
    name = command.name
    target = command.args[0]
    await require(svc, actor, OPERATE, action=name, target=target, what=f"{name} channels", detail=f"channel {channel}")
    async with svc.sessions() as session:
        found = await queries.resolve_workflow(session, target)
    if len(found) > 1:
        raise BadInput(
            f"Several workflows are named `{clip(target)}`: "
            + replies.workflow_ids([w.id for w in found[:10]])
            + ". Give the id instead."
        )
    if found:
        return await _subscribe(svc, actor, channel, command, found[0].id, found[0].name)

    async def ask_platform() -> Reply:
        try:
            workflows = await svc.platform.workflows()
        except (PlatformError, PlatformUnreachable) as exc:
            raise from_platform(
                exc, doing=f"the list of workflows (no workflow `{clip(target)}` is in the store)"
            ) from None
        folded = target.casefold()
        match = [w for w in workflows if w.get("id") == target] or [
            w for w in workflows if str(w.get("name", "")).casefold() == folded
        ]
        if len(match) != 1:
            names = replies.workflow_names([(w.get("id"), w.get("name")) for w in workflows[:25]]) or "none"
            detail = "several match" if match else "none matches"
            await audit.record_now(
                svc.sessions,
                user_id=actor.id,
                action=name,
                target=target,
                detail=f"channel {channel}",
                result="not_found",
                message=detail,
            )
            raise BadInput(f"No single workflow is `{clip(target)}` ({detail}). Workflows: {names}.")
        async with svc.sessions.begin() as session:
            await follows.remember_workflow(session, match[0]["id"], match[0].get("name") or match[0]["id"])
        return await _subscribe(svc, actor, channel, command, match[0]["id"], match[0].get("name") or match[0]["id"])

    return Deferred(ask_platform, command.share)


async def _subscribe(
    svc: Services, actor: Actor, channel: str, command: Command, workflow_id: str, workflow_name: str
) -> Reply:
    failures, approvals = bool(command.flags.get("failures")), bool(command.flags.get("approvals"))
    subscribing = command.name == "subscribe"
    if not failures and not approvals:
        failures, approvals = (True, False) if subscribing else (True, True)
    async with svc.sessions.begin() as session:
        if subscribing:
            now = await follows.subscribe(
                session, channel, workflow_id, failures=failures, approvals=approvals, by=actor.id
            )
        else:
            now = await follows.unsubscribe(session, channel, workflow_id, failures=failures, approvals=approvals)
        receives = " and ".join(w for w, on in zip(("failure alerts", "approval cards"), now) if on)
        outcome = f"receives {receives}" if receives else "receives nothing"
        await audit.record(
            session,
            user_id=actor.id,
            action=command.name,
            target=workflow_id,
            detail=f"channel {channel} failures={failures} approvals={approvals}",
            result="ok",
            message=f"channel now {outcome}",
        )
    text = replies.subscription_changed(channel, outcome, workflow_name, workflow_id, receives=bool(receives))
    note = await subscribe_note(svc, channel) if subscribing else None
    if note is not None:
        text = mrkdwn("{text}\n{note}", text=text, note=note)
    return text_reply(text, share=command.share)


# Watches: direct messages on each status change (bot/watches.py sends them)


async def do_watch(svc: Services, actor: Actor, command: Command, channel: str) -> Reply | Deferred:
    token = command.args[0]
    run = await stored_run(svc, token)
    if run is not None:
        return await _watch(svc, actor, command, run.id, run.status)

    async def ask_platform() -> Reply:
        data = await platform_run(svc, token)
        return await _watch(svc, actor, command, str(data["id"]), str(data["status"]))

    return Deferred(ask_platform, command.share)


async def _watch(svc: Services, actor: Actor, command: Command, run_id: str, status: str) -> Reply:
    async with svc.sessions.begin() as session:
        if command.name == "watch":
            if status in TERMINAL:
                text = replies.watch_reply("ended", run_id, status)
                result = "refused"
            elif not await follows.watch(session, run_id, actor.id, status):
                text = replies.watch_reply("already", run_id, status)
                result = "ok"
            else:
                text = replies.watch_reply("started", run_id, status)
                result = "ok"
        elif await follows.unwatch(session, run_id, actor.id):
            text = replies.watch_reply("stopped", run_id, status)
            result = "ok"
        else:
            text = replies.watch_reply("not_following", run_id, status)
            result = "not_found"
        await audit.record(session, user_id=actor.id, action=command.name, target=run_id, result=result, message=text)
    return text_reply(text, share=command.share)
