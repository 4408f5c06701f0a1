"""A structural fuzz of every kind of Slack request the bot registers: genuine payloads, captured from the
Slack stand-in while a person clicks every button and submits every modal, are sent again signed, each with
one field removed, retyped, emptied or made huge. None may answer 5xx or log an ERROR: a payload missing or
mistyping a field is acknowledged, and where a person is waiting, answered in words."""

from __future__ import annotations

import copy
import json
import logging
from urllib.parse import urlencode

from tests.test_alerts import wait_for_alert
from tests.test_approvals import card_of, gated_run
from tests.test_security import post_slack, slack_headers

FORM = "application/x-www-form-urlencoded"
HUGE = "x" * 20_000
# Subtrees that are the bot's own output echoed back (message and view blocks): not walked field by field.
SKIP = {"blocks", "message", "enterprise", "token", "is_enterprise_install", "api_app_id"}


def _mutants(value, path=()):
    """(path, mutated copy) pairs: each field removed, set to null, retyped, emptied, or made huge."""
    if isinstance(value, dict):
        for key, child in value.items():
            if key in SKIP:
                continue
            yield (*path, key), ("remove",)
            yield (*path, key), ("set", None)
            yield (*path, key), ("set", 12345 if isinstance(child, str) else "a string")
            yield (*path, key), ("set", [] if not isinstance(child, list) else {})
            if isinstance(child, str):
                yield (*path, key), ("set", HUGE)
            if len(path) < 4:
                yield from _mutants(child, (*path, key))
    elif isinstance(value, list) and value:
        yield path, ("set", [])
        if len(path) < 4:
            yield from _mutants(value[0], (*path, 0))


def _apply(payload: dict, path: tuple, op: tuple) -> dict:
    mutated = copy.deepcopy(payload)
    parent = mutated
    for key in path[:-1]:
        parent = parent[key]
    if op[0] == "remove":
        if isinstance(parent, dict):
            parent.pop(path[-1], None)
    else:
        parent[path[-1]] = op[1]
    return mutated


def _body(kind: str, payload: dict) -> tuple[str, str]:
    if kind == "slash_command":
        return urlencode({k: v if isinstance(v, str) else json.dumps(v) for k, v in payload.items()}), FORM
    if kind == "event":
        return json.dumps(payload), "application/json"
    return urlencode({"payload": json.dumps(payload)}), FORM


async def _capture(h) -> list:
    """Every kind of request, once each, as the stand-in sent it to the bot."""
    run = await h.start_run("wf_invoices", "fail")
    alert = await wait_for_alert(h, run["id"])
    await h.slack.click(alert, "run_show")
    await h.slack.click(alert, "run_jump")
    await h.slack.click(alert, "run_replay_changes")
    modal = await h.wait_for(
        lambda: next((v for v in h.slack.open_views("U0SANDBOX") if v.callback_id == "replay_modal"), None),
        what="the replay modal",
    )
    await h.slack.submit_view(modal, {"prompt": {"value": "Classify in one word"}})
    _, card = await card_of(h, (await gated_run(h))["id"])
    await h.slack.click(card, "approval_review", user_id="U0BEN")
    await h.slack.click(card, "approval_reject", user_id="U0BEN")
    reject = await h.wait_for(
        lambda: next((v for v in h.slack.open_views("U0BEN") if v.callback_id == "reject_modal"), None),
        what="the reject modal",
    )
    await h.slack.submit_view(reject, {"reason": {"reason_input": "not now"}})
    for _ in range(3):
        await h.start_run("wf_invoices", "fail")
    await h.settled()
    listed = await h.slack.send_command("failed --limit 1")
    page = await h.wait_for(
        lambda: next(
            (e for e in h.slack.ephemerals("C0ALERTS", user="U0SANDBOX") if "runs_next_page" in json.dumps(e.blocks)),
            None,
        ),
        what="a list with a next page",
    )
    await h.slack.click(page, "runs_next_page")
    await h.slack.open_home("U0ANA")
    await h.settled()
    seen, captured = set(), []
    for interaction in h.slack.interactions:
        p = interaction.payload
        name = (
            interaction.kind,
            (p.get("actions") or [{}])[0].get("action_id"),
            (p.get("view") or {}).get("callback_id"),
            p.get("command"),
            (p.get("event") or {}).get("type"),
        )
        if name not in seen:
            seen.add(name)
            captured.append((interaction.kind, p))
    assert listed.ok and len(captured) >= 10, [c[0] for c in captured]
    return captured


async def test_no_mutated_request_of_any_kind_gives_a_5xx_or_an_error_log(harness, caplog):
    h = harness
    caplog.set_level(logging.INFO)
    captured = await _capture(h)
    caplog.clear()
    sent = 0
    for kind, payload in captured:
        for path, op in _mutants(payload):
            body, ctype = _body(kind, _apply(payload, path, op))
            status = await post_slack(h, body, slack_headers(body, ctype))
            assert status < 500, (kind, path, op[0], status)
            sent += 1
    await h.wait_for(lambda: not h.svc.background, timeout=120, what="the work spawned by the requests to end")
    errors = [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.levelno >= logging.ERROR and r.name.split(".")[0] in ("bot", "handlers", "store")
    ]
    assert errors == [], errors[:5]
    assert sent > 300
