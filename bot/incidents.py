"""Provider incidents (issue 16): when failures with a provider error (`provider_*` codes, or HTTP 429/5xx
from a provider) from one provider reach INCIDENT_WORKFLOWS distinct workflows within
INCIDENT_WINDOW_SECONDS, ALERT_CHANNEL gets one card, updated in place. A successful step carries no
provider, so recovery is read from the affected steps (workflow and step name): the first of them to complete
again, or INCIDENT_QUIET_SECONDS with no new failure, makes it "recovering"; INCIDENT_RECOVERY_SUCCESSES of
them, or twice the quiet period, "recovered"."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot import alert_cards, held_edits, outbox
from bot.alert_cards import lifecycle_of
from bot.render.incidents import incident_message, incident_note
from bot.render.mrkdwn import Mrkdwn
from bot.services import Services
from bot.views import view_of_run
from store import incidents as reads
from store import messages
from store.db import insert_for
from store.messages import fresh
from store.models import KeyValue, ProviderFailure, Run, SlackMessage, utcnow

log = logging.getLogger(__name__)

OPEN = "incidents.open"  # KeyValue: {"open": {message id: provider}}
RUNS_KEPT = 500  # affected runs remembered per incident (for Replay affected runs)


def provider_failure(run: Run) -> tuple[str, str, str] | None:
    """(provider, error code, step name) when the run failed with a provider error, else None."""
    view = view_of_run(run)
    error, step = view.error, view.failed_step
    status = error.provider_status
    if not error.provider or step is None:
        return None
    if not (
        (error.code or "").startswith("provider_") or status == 429 or (status is not None and 500 <= status < 600)
    ):
        return None
    return error.provider[:64], (error.code or f"http_{status}")[:64], (step.name or step.id)[:256]


async def _lock(session: AsyncSession, provider: str) -> None:
    """One transaction at a time decides about one provider's incident (a row lock; SQLite has one writer)."""
    key = f"incident:{provider}"[:64]
    await session.execute(
        insert_for(session)(KeyValue).values(key=key, value={}).on_conflict_do_nothing(index_elements=["key"])
    )
    await session.get(KeyValue, key, with_for_update=True, populate_existing=True)


async def _open_list(session: AsyncSession) -> dict[str, str]:
    row = await session.get(KeyValue, OPEN)
    return dict((row.value if row else {}).get("open") or {})


async def _set_open(session: AsyncSession, listed: dict[str, str]) -> None:
    row = await session.get(KeyValue, OPEN)
    if row is None:
        session.add(KeyValue(key=OPEN, value={"open": listed}))
    else:
        row.value = {"open": listed}


async def card(session: AsyncSession, svc: Services, state: dict) -> dict:
    """The card from its state and the store (how many affected runs may still be replayed: the button shows
    only once the provider is no longer failing, so while it is, the count is not read)."""
    runs = list(state.get("runs") or []) if state.get("phase") != "failing" else []
    count = len(await reads.replayable(session, runs))
    return incident_message(
        state, run_url_of=svc.settings.run_url, replayable=count, cards=await _cards_of(session, svc, state)
    )


async def _cards_of(session: AsyncSession, svc: Services, state: dict) -> dict[str, str]:
    """Per workflow, a link to the alert of its first failure in the incident (the newest may not be posted yet),
    or to its storm card, in ALERT_CHANNEL, once Slack posted it. Two statements: the card is rebuilt for
    every failure of an outage."""
    channel = svc.settings.ALERT_CHANNEL
    workflows = list((state.get("workflows") or {}).items())[:15]
    if not channel or not workflows:
        return {}
    firsts = {wf_id: wf.get("first") or "" for wf_id, wf in workflows}
    posted = await messages.posted_ts_of(session, "alert", channel, list(firsts.values()))
    links = {wf_id: _link(channel, posted[first]) for wf_id, first in firsts.items() if first in posted}
    rest = [f"{wf_id}|" for wf_id in firsts if wf_id not in links]
    storms = await messages.newest_posted_by_prefix(session, "storm", channel, rest)
    return links | {prefix[:-1]: _link(channel, ts) for prefix, ts in storms.items()}


def _add(state: dict, run: Run, code: str, step: str, names: dict[str, str] | None = None) -> None:
    workflows = state.setdefault("workflows", {})
    wf = workflows.setdefault(run.workflow_id, {"name": run.workflow_name, "count": 0, "newest": None, "first": run.id})
    wf["count"] += 1
    wf["newest"] = run.id
    codes = state.setdefault("codes", {})
    codes[code] = codes.get(code, 0) + 1
    state["count"] = int(state.get("count") or 0) + 1
    steps = state.setdefault("steps", [])
    if [run.workflow_id, step] not in steps:
        steps.append([run.workflow_id, step])
    runs = state.setdefault("runs", [])
    if run.id not in runs and len(runs) < RUNS_KEPT:
        runs.append(run.id)


async def on_failure(session: AsyncSession, svc: Services, run: Run) -> Mrkdwn | None:
    """Count a failure; post or update its provider's card. Returns the alert's line linking the card."""
    channel = svc.settings.ALERT_CHANNEL
    found = provider_failure(run)
    if not channel or found is None:
        return None
    provider, code, step = found
    now = utcnow()
    await _lock(session, provider)
    session.add(
        ProviderFailure(
            provider=provider, workflow_id=run.workflow_id, step_name=step, run_id=run.id, error_code=code, at=now
        )
    )
    incident = await messages.newest_with_prefix(session, "incident", channel, f"{provider}|")
    if incident is not None:
        await fresh(session, incident)
        if (incident.state or {}).get("phase") == "recovered":
            incident = None
    if incident is not None:
        state = dict(incident.state)
        _add(state, run, code, step)
        state["last_failure_at"] = now.isoformat()
        if state.get("phase") == "recovering":
            state.update(phase="failing", successes=0, recovering_why=None)
        incident.state = state
        await held_edits.update_later(session, incident, lambda: card(session, svc, state))
        return incident_note(provider, _permalink(incident))
    await session.flush()
    window = timedelta(seconds=svc.settings.INCIDENT_WINDOW_SECONDS)
    recent = await reads.failures_since(session, provider, now - window)
    if len({f.workflow_id for f in recent}) < svc.settings.INCIDENT_WORKFLOWS:
        return None
    runs = {r.id: r for r in await _runs(session, [f.run_id for f in recent])}
    state: dict = {
        "provider": provider,
        "started_at": recent[0].at.isoformat(),
        "last_failure_at": now.isoformat(),
        "phase": "failing",
        "successes": 0,
    }
    for f in recent:
        if f.run_id in runs:
            _add(state, runs[f.run_id], f.error_code, f.step_name)
    incident = await outbox.post(
        session,
        channel=channel,
        kind="incident",
        subject=f"{provider}|{int(now.timestamp() * 1000)}"[:256],
        payload=incident_message(state, run_url_of=svc.settings.run_url, replayable=0, cards={}),
        state=state,
    )
    state = {**state, "message_id": incident.id}
    incident.state = state
    await outbox.update_message(session, incident, await card(session, svc, state))
    listed = await _open_list(session)
    listed[str(incident.id)] = provider
    await _set_open(session, listed)
    await _link_alerts(session, svc, [rid for rid in state["runs"] if rid != run.id], incident_note(provider, None))
    svc.metrics.alerts.labels("incident").inc()
    log.info("incident: %s failing across %d workflows", provider, len(state["workflows"]))
    return incident_note(provider, None)


async def _link_alerts(session: AsyncSession, svc: Services, run_ids: list[str], note: Mrkdwn) -> None:
    """The alerts posted before the card existed say they are part of it too (rebuilt whole)."""
    for run_id in run_ids:
        cards = await messages.messages_of(session, "alert", run_id)
        if not cards:
            continue
        for message in cards:
            await fresh(session, message)
            notes = list((message.state or {}).get("notes") or [])
            if note not in notes:
                message.state = {**(message.state or {}), "notes": notes + [note]}
        await alert_cards.rebuild(session, svc, run_id, await lifecycle_of(session, run_id))


async def _runs(session: AsyncSession, run_ids: list[str]) -> list[Run]:
    from store.runs import runs_by_id

    return await runs_by_id(session, run_ids)


def _permalink(message: SlackMessage) -> str | None:
    return _link(message.channel, message.ts) if message.ts else None


def _link(channel: str, ts: str) -> str:
    return f"https://slack.com/archives/{channel}/p{ts.replace('.', '')}"


async def on_success(session: AsyncSession, svc: Services, run: Run) -> None:
    """A run completed: when it ran an affected step again, its incidents move toward recovered."""
    listed = await _open_list(session)
    if not listed:
        return
    done = {
        (run.workflow_id, s.get("name")) for s in (run.data or {}).get("steps") or [] if s.get("status") == "completed"
    }
    for message in await messages.messages_by_id(session, [int(m) for m in listed]):
        await fresh(session, message)
        state = dict(message.state or {})
        if state.get("phase") == "recovered" or not any(tuple(s) in done for s in state.get("steps") or []):
            continue
        state["successes"] = int(state.get("successes") or 0) + 1
        n = state["successes"]
        if n >= svc.settings.INCIDENT_RECOVERY_SUCCESSES:
            await _recovered(session, svc, message, state, f"{n} affected steps completed again")
            continue
        state.update(phase="recovering", recovering_why=f"{n} affected step{'s' if n != 1 else ''} completed again")
        message.state = state
        await outbox.update_message(session, message, await card(session, svc, state))


async def _recovered(session: AsyncSession, svc: Services, message: SlackMessage, state: dict, why: str) -> None:
    now = utcnow()
    state.update(phase="recovered", recovered_at=now.isoformat(), recovered_why=why)
    message.state = state
    await outbox.update_message(session, message, await card(session, svc, state))
    await outbox.thread_reply(session, message, {"text": f"✅ {state['provider']} recovered: {why}."})
    listed = await _open_list(session)
    listed.pop(str(message.id), None)
    await _set_open(session, listed)
    log.info("incident: %s recovered (%s)", state["provider"], why)


async def check_quiet(svc: Services) -> None:
    """The scheduler's job: incidents with no new failure for the quiet period recover."""
    quiet = svc.settings.INCIDENT_QUIET_SECONDS
    async with svc.sessions.begin() as session:
        listed = await _open_list(session)
        for message in await messages.messages_by_id(session, [int(m) for m in listed]):
            await fresh(session, message)
            state = dict(message.state or {})
            if state.get("phase") == "recovered":
                continue
            silent = (utcnow() - datetime.fromisoformat(state["last_failure_at"])).total_seconds()
            if silent >= 2 * quiet:
                await _recovered(session, svc, message, state, f"no new failure for {int(silent // 60)} min")
            elif silent >= quiet and state.get("phase") == "failing":
                state.update(phase="recovering", recovering_why=f"no new failure for {int(silent)} s")
                message.state = state
                await outbox.update_message(session, message, await card(session, svc, state))
