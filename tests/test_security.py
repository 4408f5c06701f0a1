"""Forged, replayed and hostile requests are refused, and nothing is acted on: Slack requests (signatures
made by slack_sdk's own SignatureVerifier, the workspace check, Socket Mode), the platform's Standard
Webhooks (rotation, the order of checks, sizes), authorization against live state for hand-crafted button
payloads, and secrets that never reach logs, errors or Slack."""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import logging
import time
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

import pytest
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import func, select

from reference.slack.state import ActionResult
from store.models import Approval, AuditEntry, Run, WebhookDelivery
from tests.support.harness import BOT_TOKEN, PLATFORM_TOKEN, SIGNING_SECRET, WEBHOOK_SECRET, sign_webhook

NEW_WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"runbot-rotated-webhook-secret-9876543210").decode()
STRANGER_SECRET = "whsec_" + base64.b64encode(b"not-our-secret-not-our-secret-0000").decode()
SECRETS = [
    BOT_TOKEN,
    SIGNING_SECRET,
    PLATFORM_TOKEN,
    WEBHOOK_SECRET,
    WEBHOOK_SECRET.removeprefix("whsec_"),
    NEW_WEBHOOK_SECRET.removeprefix("whsec_"),
]
POSTING = ("chat.postMessage", "chat.postEphemeral", "chat.update", "views.open", "views.publish", "views.update")


# Helpers ------------------------------------------------------------------------------------------------


def slack_headers(
    body: str, content_type: str, *, timestamp: int | None = None, secret: str = SIGNING_SECRET
) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": SignatureVerifier(secret).generate_signature(timestamp=ts, body=body),
    }


async def post_slack(h, body: str, headers: dict) -> int:
    async with h.http.post(f"{h.bot_url}/slack/events", data=body.encode(), headers=headers) as resp:
        await resp.read()
        return resp.status


def command_body(h, text: str, *, user_id: str = "U0SANDBOX", team_id: str = "T0SANDBOX") -> str:
    return urlencode(
        {
            "token": "x",
            "team_id": team_id,
            "team_domain": "sandbox",
            "channel_id": "C0ALERTS",
            "channel_name": "run-alerts",
            "user_id": user_id,
            "user_name": user_id.lower(),
            "command": "/runs",
            "text": text,
            "api_app_id": h.slack.app_id,
            "response_url": h.slack._new_response_url(_origin(user_id)),
            "trigger_id": "1.2.3",
        }
    )


def _origin(user_id: str):
    from reference.slack import Origin as _Origin

    return _Origin("slash_command", "C0ALERTS", user_id)


def interactive_body(payload: dict) -> str:
    return urlencode({"payload": json.dumps(payload)})


async def audit_rows(h, **where) -> list[AuditEntry]:
    async with h.svc.sessions() as s:
        query = select(AuditEntry)
        for key, value in where.items():
            query = query.where(getattr(AuditEntry, key) == value)
        return list((await s.scalars(query)).all())


async def platform_writes(h) -> dict[str, int]:
    """Requests that change something on the platform (the tracker's reads are left out)."""
    stats = await h.sim("GET", "/sim/stats")
    return {k: v for k, v in stats["requests"].items() if k.startswith("POST ")}


def slack_posts(h) -> int:
    return sum(1 for c in h.slack.calls if c.method in POSTING) + len(h.slack.response_posts)


async def deliveries(h) -> int:
    async with h.svc.sessions() as s:
        return await s.scalar(select(func.count()).select_from(WebhookDelivery))


def refusals(caplog, logger: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == logger and "refused" in r.getMessage()]


def assert_no_secret(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"a secret appears in {where}"


def captured_text(caplog) -> str:
    parts = []
    for record in caplog.records:
        parts.append(record.getMessage())
        if record.exc_info:
            parts.append(logging.Formatter().formatException(record.exc_info))
        if record.exc_text:
            parts.append(record.exc_text)
    return "\n".join(parts)


def a_run(run_id: str = "run_Sec0001", status: str = "running") -> dict:
    now = datetime.now(timezone.utc).isoformat()
    return {
        "id": run_id,
        "workflow": {"id": "wf_invoices", "name": "Invoice triage"},
        "status": status,
        "created_at": now,
        "updated_at": now,
        "steps": [],
        "progress": {"total_steps": 5, "completed_steps": 1},
    }


def event_body(event_type: str = "run.started", data: dict | None = None) -> str:
    return json.dumps(
        {
            "type": event_type,
            "timestamp": datetime.now(timezone.utc).isoformat(),
            "data": data if data is not None else {"run": a_run()},
        }
    )


async def post_raw_webhook(h, body: bytes | str, headers: dict) -> tuple[int, dict]:
    async with h.http.post(
        f"{h.bot_url}/webhooks/platform", data=body if isinstance(body, bytes) else body.encode(), headers=headers
    ) as resp:
        return resp.status, await resp.json(content_type=None)


# Slack requests ------------------------------------------------------------------------------------------


async def test_forged_slack_requests_are_refused_with_one_log_line_and_nothing_acted_on(harness, caplog):
    h = harness
    caplog.set_level(logging.INFO)
    run = await h.start_run("wf_invoices", "succeed", frozen=True)
    text = f"pause {run['id']}"
    body = command_body(h, text)
    ctype = "application/x-www-form-urlencoded"
    good = slack_headers(body, ctype)
    now = int(time.time())
    cases = {
        "missing": ({k: v for k, v in good.items() if k != "X-Slack-Signature"}, body, "missing"),
        "wrong": (slack_headers(body, ctype, secret="another-apps-signing-secret"), body, "does not match"),
        "truncated": ({**good, "X-Slack-Signature": good["X-Slack-Signature"][:-6]}, body, "does not match"),
        "stale": (slack_headers(body, ctype, timestamp=now - 301 - 5), body, "old"),
        "ahead": (slack_headers(body, ctype, timestamp=now + 301 + 5), body, "ahead"),
        "changed": (good, body.replace("pause", "cancel"), "does not match"),
    }
    writes, posts = await platform_writes(h), slack_posts(h)
    seen: set[str] = set()
    for name, (headers, sent, why) in cases.items():
        caplog.clear()
        assert await post_slack(h, sent, headers) == 401, name
        lines = refusals(caplog, "bot.refusals")
        if why in seen:  # the same refusal again: summed into the next line of its kind, not logged now
            assert lines == [], (name, lines)
        else:
            assert len(lines) == 1 and why in lines[0], (name, lines)
        seen.add(why)
        assert_no_secret(captured_text(caplog), f"the log of the {name} case")
    await asyncio.sleep(0.5)  # anything wrongly accepted would have been spawned by now
    assert await audit_rows(h) == []
    assert await platform_writes(h) == writes
    assert slack_posts(h) == posts

    # The same request, signed by slack_sdk's own verifier, is accepted and acted on.
    assert await post_slack(h, body, slack_headers(body, ctype)) == 200
    paused = await h.wait_for(
        lambda: audit_rows(h, action="pause", result="ok"), timeout=15, what="the genuine pause to be audited"
    )
    assert paused[0].target == run["id"] and paused[0].user_id == "U0SANDBOX"


@pytest.mark.parametrize("settings_overrides", [{"SLACK_TEAM_ID": "T0OURS"}])
async def test_a_request_from_another_workspace_is_refused(harness, caplog):
    h = harness
    caplog.set_level(logging.INFO)
    run = await h.start_run("wf_invoices", "succeed", frozen=True)
    writes = await platform_writes(h)
    posts = slack_posts(h)
    ctype = "application/x-www-form-urlencoded"
    foreign = command_body(h, f"pause {run['id']}", team_id="T0SANDBOX")
    assert await post_slack(h, foreign, slack_headers(foreign, ctype)) == 401
    click = {
        "type": "block_actions",
        "team": {"id": "T0ELSEWHERE", "domain": "x"},
        "user": {"id": "U0SANDBOX"},
        "api_app_id": h.slack.app_id,
        "trigger_id": "1.2.3",
        "actions": [
            {"action_id": "run_cancel", "block_id": "b", "type": "button", "value": run["id"], "action_ts": "1.2"}
        ],
        "container": {"type": "message"},
    }
    assert await post_slack(h, interactive_body(click), slack_headers(interactive_body(click), ctype)) == 401
    lines = refusals(caplog, "bot.refusals")
    assert len(lines) == 2 and all("workspace" in line for line in lines), lines
    assert "T0SANDBOX" in lines[0] and "T0ELSEWHERE" in lines[1]
    assert_no_secret(captured_text(caplog), "the log")
    await asyncio.sleep(0.5)
    assert await audit_rows(h) == []
    assert await platform_writes(h) == writes
    assert slack_posts(h) == posts

    ours = command_body(h, f"pause {run['id']}", team_id="T0OURS")
    assert await post_slack(h, ours, slack_headers(ours, ctype)) == 200
    await h.wait_for(
        lambda: audit_rows(h, action="pause", result="ok"),
        timeout=15,
        what="the pause from our own workspace to be audited",
    )


@pytest.mark.parametrize(
    "settings_overrides", [{"SLACK_TEAM_ID": "T0SANDBOX", "SLACK_APP_TOKEN": "xapp-test-app-token"}]
)
async def test_socket_mode_envelopes_from_another_workspace_are_ignored(harness, caplog):
    h = harness
    caplog.set_level(logging.INFO)
    h.slack.bot_url = None  # deliver over the websocket only
    h.slack.ack_timeout = 1.5
    await h.slack.wait_for_socket(timeout=15)
    run = await h.start_run("wf_invoices", "succeed", frozen=True)
    writes = await platform_writes(h)
    h.slack.team_id = "T0ELSEWHERE"
    ignored = await h.slack.send_command(f"pause {run['id']}", via="socket")
    assert ignored.ack is None
    assert any("T0ELSEWHERE" in line for line in refusals(caplog, "bot.refusals"))
    await asyncio.sleep(0.5)
    assert await audit_rows(h) == []
    assert await platform_writes(h) == writes

    h.slack.team_id = "T0SANDBOX"
    h.slack.ack_timeout = 3.0
    accepted = await h.slack.send_command(f"pause {run['id']}", via="socket")
    assert accepted.ack is not None
    await h.wait_for(
        lambda: audit_rows(h, action="pause", result="ok"),
        timeout=15,
        what="the pause from our own workspace to be audited",
    )


# Platform webhooks ---------------------------------------------------------------------------------------


async def test_webhooks_with_missing_wrong_stale_or_future_signatures_are_refused(harness, caplog):
    h = harness
    caplog.set_level(logging.INFO)
    body = event_body()
    good = sign_webhook(body)
    now = datetime.now(timezone.utc)
    cases = {
        "no webhook-id": {k: v for k, v in good.items() if k != "webhook-id"},
        "no webhook-timestamp": {k: v for k, v in good.items() if k != "webhook-timestamp"},
        "no webhook-signature": {k: v for k, v in good.items() if k != "webhook-signature"},
        "wrong secret": sign_webhook(body, secret=STRANGER_SECRET),
        "truncated": {**good, "webhook-signature": good["webhook-signature"][:-4]},
        "stale": sign_webhook(body, timestamp=now - timedelta(minutes=5, seconds=30)),
        "future": sign_webhook(body, timestamp=now + timedelta(minutes=5, seconds=30)),
        "not a time": {**good, "webhook-timestamp": "yesterday"},
        "no version": {**good, "webhook-signature": "garbage"},
        "not base64": {**good, "webhook-signature": "v1,!!!not-base64!!!"},
        "other scheme": {**good, "webhook-signature": good["webhook-signature"].replace("v1,", "v2,")},
        "other id": {**good, "webhook-id": "msg_replayed_under_another_id"},
    }
    for name, headers in cases.items():
        caplog.clear()
        status, answer = await post_raw_webhook(h, body, headers)
        assert status == 401, name
        assert answer["error"]["code"] == "invalid_signature", name
        assert_no_secret(json.dumps(answer), f"the answer of the {name} case")
        lines = refusals(caplog, "handlers.webhooks")
        assert len(lines) == 1 and "401" in lines[0], (name, lines)
        assert_no_secret(captured_text(caplog), f"the log of the {name} case")
    changed = body.replace("running", "failed")
    assert (await post_raw_webhook(h, changed, good))[0] == 401
    latin1 = body.encode().replace(b"Invoice", b"Invo\xefce")
    assert (await post_raw_webhook(h, latin1, sign_webhook(body)))[0] == 401
    assert await deliveries(h) == 0
    assert (await post_raw_webhook(h, body, good))[0] == 200
    assert await deliveries(h) == 1


@pytest.mark.parametrize("settings_overrides", [{"PLATFORM_WEBHOOK_SECRET": f"{WEBHOOK_SECRET} {NEW_WEBHOOK_SECRET}"}])
async def test_while_the_webhook_secret_rotates_either_secret_signs_validly(harness):
    h = harness
    for i, secret in enumerate((WEBHOOK_SECRET, NEW_WEBHOOK_SECRET)):
        body = event_body(data={"run": a_run(f"run_Rotate{i}")})
        assert (await post_raw_webhook(h, body, sign_webhook(body, secret=secret)))[0] == 200
    body = event_body(data={"run": a_run("run_Rotate9")})
    assert (await post_raw_webhook(h, body, sign_webhook(body, secret=STRANGER_SECRET)))[0] == 401
    # The platform sends both signatures, space-separated, while it rotates: one good one is enough.
    both = sign_webhook(body, secret=STRANGER_SECRET, msg_id="msg_both")
    both["webhook-signature"] += (
        " "
        + sign_webhook(
            body,
            secret=NEW_WEBHOOK_SECRET,
            msg_id="msg_both",
        )["webhook-signature"]
    )
    assert (await post_raw_webhook(h, body, both))[0] == 200
    assert await deliveries(h) == 3


async def _status_line_of(h, head: bytes, first_part: bytes) -> int:
    """Send the head and only part of a body, keep the connection open, and read the answer: a server
    that waited for the whole body would never answer."""
    host, port = h.bot_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(head + first_part)
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), timeout=15)
        return int(line.split()[1])
    finally:
        writer.close()


@pytest.mark.parametrize("settings_overrides", [{"WEBHOOK_MAX_BYTES": 64 * 1024}])
async def test_an_oversized_webhook_is_413_before_its_signature_and_without_reading_the_rest(harness, caplog):
    h = harness
    caplog.set_level(logging.INFO)
    limit = 64 * 1024
    forged = {**sign_webhook("x", secret=STRANGER_SECRET), "content-type": "text/plain"}
    huge = b"A" * (limit * 20)
    status, answer = await post_raw_webhook(h, huge, forged)
    assert status == 413 and answer["error"]["code"] == "payload_too_large"
    assert len(refusals(caplog, "handlers.webhooks")) == 1

    header_lines = "".join(f"{k}: {v}\r\n" for k, v in forged.items())
    declared = (
        f"POST /webhooks/platform HTTP/1.1\r\nHost: bot\r\n{header_lines}Content-Length: {100 * 1024 * 1024}\r\n\r\n"
    ).encode()
    assert await _status_line_of(h, declared, b"{" * 1024) == 413
    chunked = (
        f"POST /webhooks/platform HTTP/1.1\r\nHost: bot\r\n{header_lines}Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    chunk = b"{" * 16384
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(limit // len(chunk) + 2))
    assert await _status_line_of(h, chunked, chunks) == 413

    # A small compressed body that inflates past the limit is measured inflated.
    bomb = gzip.compress(b"\0" * (limit * 50))
    status, _ = await post_raw_webhook(h, bomb, {**forged, "content-encoding": "gzip"})
    assert status == 413
    assert await deliveries(h) == 0


async def test_webhook_checks_come_in_the_contract_order(harness, caplog):
    h = harness
    caplog.set_level(logging.INFO)
    body = event_body()
    # A bad signature is 401 even when the content type is wrong too.
    status, _ = await post_raw_webhook(
        h, body, {**sign_webhook(body, secret=STRANGER_SECRET), "content-type": "text/plain"}
    )
    assert status == 401
    # A good signature with another content type is 415 (parameters such as charset are allowed).
    caplog.clear()
    status, answer = await post_raw_webhook(h, body, {**sign_webhook(body), "content-type": "text/plain"})
    assert status == 415 and answer["error"]["code"] == "unsupported_media_type"
    assert len(refusals(caplog, "handlers.webhooks")) == 1
    assert (
        await post_raw_webhook(h, body, {**sign_webhook(body), "content-type": "application/x-www-form-urlencoded"})
    )[0] == 415
    # Bodies that do not match the contract are 400 and name the field.
    bad_run = a_run()
    del bad_run["workflow"]["id"]
    for sent, field in (
        (event_body(data={"run": bad_run}), "data.run.workflow.id"),
        (json.dumps({"type": "run.failed", "data": {"run": a_run()}}), "timestamp"),
        (event_body(data={"run": {**a_run(), "status": "exploded"}}), "data.run.status"),
        (event_body("approval.requested", {"run": a_run()}), "data.approval"),
        ('{"type": "run.started", "timestamp": "2026-11-25T10:00:00Z", "data": {"run": NaN}}', "body"),
        ("[" * 100_000 + "]" * 100_000, "body"),
        ("not json at all", "body"),
        ('"a string"', "body"),
    ):
        status, answer = await post_raw_webhook(
            h, sent, {**sign_webhook(sent), "content-type": "application/json; charset=utf-8"}
        )
        assert status == 400, (field, answer)
        assert answer["error"]["code"] == "invalid_body" and answer["error"]["message"].startswith(field), answer
    assert await deliveries(h) == 0
    # Unknown event types are accepted, stored and logged, for forward compatibility.
    caplog.clear()
    unknown = json.dumps({"type": "workflow.renamed", "timestamp": "2026-11-25T10:00:00Z", "data": {"x": 1}})
    assert (await post_raw_webhook(h, unknown, sign_webhook(unknown)))[0] == 200
    assert any("workflow.renamed" in r.getMessage() for r in caplog.records)
    assert await deliveries(h) == 1


# Authorization against live state -----------------------------------------------------------------------


def crafted_click(h, *, user_id: str, action_id: str, value: str, channel: str = "C0ALERTS") -> dict:
    return {
        "type": "block_actions",
        "team": {"id": "T0SANDBOX", "domain": "sandbox"},
        "user": {"id": user_id, "team_id": "T0SANDBOX"},
        "api_app_id": h.slack.app_id,
        "token": "x",
        "trigger_id": h.slack.issue_trigger(user_id),
        "container": {
            "type": "message",
            "message_ts": "1700000000.000100",
            "channel_id": channel,
            "is_ephemeral": False,
        },
        "channel": {"id": channel, "name": "run-alerts"},
        "response_url": response_url_for(h, user_id, channel),
        "actions": [
            {
                "action_id": action_id,
                "block_id": "crafted",
                "type": "button",
                "value": value,
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }


async def send_payload(h, payload: dict) -> int:
    body = interactive_body(payload)
    return await post_slack(h, body, slack_headers(body, "application/x-www-form-urlencoded"))


def answers_to(h, user_id: str) -> str:
    """Everything the user was told privately (acks, response_url posts and chat.postEphemeral)."""
    return "\n".join(json.dumps({"text": e.text, "blocks": e.blocks}) for e in h.slack.ephemerals(user=user_id))


def response_url_for(h, user_id: str, channel: str) -> str:
    from reference.slack import Origin as _Origin

    return h.slack._new_response_url(_Origin("block_actions", channel, user_id))


async def test_a_crafted_replay_button_from_a_non_operator_is_refused_and_audited(harness):
    h = harness
    run = await h.start_run("wf_invoices", "fail")
    await h.wait_for(lambda: _stored_status(h, run["id"], "failed"), timeout=20, what="the run to fail")
    assert await send_payload(h, crafted_click(h, user_id="U0CAROL", action_id="run_replay", value=run["id"])) == 200
    refused = await h.wait_for(
        lambda: audit_rows(h, user_id="U0CAROL", target=run["id"]), timeout=10, what="the refusal to be audited"
    )
    assert refused[0].result == "refused" and refused[0].action == "replay"
    await h.wait_for(
        lambda: "operator" in answers_to(h, "U0CAROL").lower(), timeout=10, what="the refusal to be answered in words"
    )
    assert not any(k.endswith("/replay") for k in await platform_writes(h))
    async with h.svc.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Run).where(Run.replay_of.is_not(None))) == 0


async def test_a_crafted_replay_button_for_an_unknown_run_is_refused_by_role_first(harness):
    h = harness
    assert (
        await send_payload(h, crafted_click(h, user_id="U0CAROL", action_id="run_replay", value="run_NotEvenReal"))
        == 200
    )
    refused = await h.wait_for(lambda: audit_rows(h, user_id="U0CAROL"), timeout=10, what="the refusal to be audited")
    assert refused[0].result == "refused" and refused[0].action == "replay"


async def test_a_crafted_button_naming_a_run_in_another_state_gets_the_live_status_check(harness):
    h = harness
    running = await h.start_run("wf_invoices", "succeed", frozen=True)
    # (Clicking before the run's first webhook is processed races two inserts of the run: see the report.)
    await h.wait_for(lambda: _stored_status(h, running["id"], "running"), timeout=20, what="the run to be stored")
    # An operator forges "Replay" for a run still in flight: the platform's live status refuses it.
    assert await send_payload(h, crafted_click(h, user_id="U0ANA", action_id="run_replay", value=running["id"])) == 200
    row = (
        await h.wait_for(
            lambda: audit_rows(h, user_id="U0ANA", target=running["id"]), timeout=10, what="the refusal to be audited"
        )
    )[0]
    assert row.result == "refused" and row.action == "replay"
    status, listed = await h.api("GET", "/runs?limit=200")
    assert status == 200 and not [r for r in listed["data"] if r.get("replay_of") == running["id"]]
    # A forged "Cancel" naming a malformed id is refused before anything is asked.
    writes = await platform_writes(h)
    assert (
        await send_payload(h, crafted_click(h, user_id="U0ANA", action_id="run_cancel", value="../approvals/x/approve"))
        == 200
    )
    await h.wait_for(
        lambda: answers_to(h, "U0ANA").count('"text"') >= 2, timeout=10, what="an answer to the malformed id"
    )
    assert await platform_writes(h) == writes


async def _stored_status(h, run_id: str, status: str) -> bool:
    async with h.svc.sessions() as s:
        run = await s.get(Run, run_id)
        return run is not None and run.status == status


async def _approval_card(h):
    def card(slack):
        for m in slack.messages("C0APPROVALS", top_level=True):
            if any(el.get("action_id") == "approval_approve" for b in m.blocks or [] for el in b.get("elements") or []):
                return m
        return None

    return await h.slack.wait_for(card, timeout=20)


def approve_calls(writes: dict) -> int:
    return sum(v for k, v in writes.items() if k.endswith("/approve"))


async def test_replaying_an_approval_click_on_a_decided_task_does_nothing_twice(harness):
    h = harness
    await h.start_run("wf_refunds", "approval")
    card = await _approval_card(h)
    first: ActionResult = await h.slack.click(card, "approval_approve", user_id="U0ANA")
    assert first.status == 200

    async def approved():
        async with h.svc.sessions() as s:
            return (await s.scalars(select(Approval).where(Approval.status == "approved"))).first()

    task = await h.wait_for(approved, timeout=15, what="the task to be approved")
    assert approve_calls(await platform_writes(h)) == 1
    # The same click, replayed later (a new signature, same payload), and by someone else.
    assert await send_payload(h, first.payload) == 200
    again = {
        **first.payload,
        "user": {"id": "U0BEN", "team_id": "T0SANDBOX"},
        "response_url": response_url_for(h, "U0BEN", "C0APPROVALS"),
    }
    assert await send_payload(h, again) == 200
    await h.wait_for(lambda: len(answers_to(h, "U0BEN")) > 0, timeout=10, what="the second approver's answer")
    await asyncio.sleep(0.5)
    assert approve_calls(await platform_writes(h)) == 1
    assert "already approved" in answers_to(h, "U0BEN").lower()
    async with h.svc.sessions() as s:
        assert (await s.get(Approval, task.id)).status == "approved"


@pytest.mark.parametrize("settings_overrides", [{"APPROVAL_CONSOLE_ONLY_KINDS": ["spend"]}])
async def test_a_crafted_approve_for_a_console_only_task_is_refused(harness):
    h = harness
    await h.start_run("wf_payouts", "approval", approval_kind="spend")

    async def pending_task():
        async with h.svc.sessions() as s:
            return (await s.scalars(select(Approval).where(Approval.status == "pending"))).first()

    task = await h.wait_for(pending_task, timeout=20, what="the approval task to be stored")
    payload = crafted_click(h, user_id="U0ANA", action_id="approval_approve", value=task.id, channel="C0APPROVALS")
    assert await send_payload(h, payload) == 200
    row = (
        await h.wait_for(
            lambda: audit_rows(h, user_id="U0ANA", target=task.id), timeout=10, what="the refusal to be audited"
        )
    )[0]
    assert row.result == "refused"
    assert approve_calls(await platform_writes(h)) == 0


# Secrets ------------------------------------------------------------------------------------------------


async def test_secrets_never_reach_logs_errors_or_slack(harness, caplog):
    h = harness
    caplog.set_level(logging.DEBUG)
    await h.start_run("wf_invoices", "fail")
    await h.slack.wait_for(lambda s: s.messages("C0ALERTS"), timeout=20)
    # Errors of every kind: forged requests, the platform down, Slack refusing.
    body = event_body()
    await post_raw_webhook(h, body, sign_webhook(body, secret=STRANGER_SECRET))
    await post_slack(h, body, slack_headers(body, "application/json", secret="wrong-secret"))
    await h.sim("POST", "/sim/stall", {"seconds": 3, "status": 503})
    await h.slack.send_command("logs --severity error")
    await h.slack.send_command("show run_DoesNotExist")
    h.slack.fail_next(500, count=2)
    await h.slack.send_command("list")
    await h.wait_for(
        lambda: (
            "unreachable" in answers_to(h, "U0SANDBOX").lower()
            or "could not be reached" in answers_to(h, "U0SANDBOX").lower()
        ),
        timeout=15,
        what="the platform outage to be answered",
    )
    assert_no_secret(captured_text(caplog), "the bot's log")
    for call in h.slack.calls:
        assert_no_secret(json.dumps(call.args, default=str), f"Slack call {call.method}")
    for post in h.slack.response_posts:
        assert_no_secret(json.dumps(post.body, default=str), "a response_url post")
    async with h.svc.sessions() as s:
        for row in (await s.scalars(select(AuditEntry))).all():
            assert_no_secret(f"{row.detail} {row.message}", "the audit trail")
    async with h.http.get(f"{h.bot_url}/readyz") as resp:
        assert_no_secret(await resp.text(), "/readyz")
    async with h.http.get(f"{h.bot_url}/metrics") as resp:
        assert_no_secret(await resp.text(), "/metrics")
