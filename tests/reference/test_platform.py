"""Reference platform: real HTTP against a started instance, webhooks to a signed-verifying receiver."""

from __future__ import annotations

import asyncio
import base64
import re
import time
from datetime import datetime, timedelta, timezone

import aiohttp
import pytest
from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from reference.platform import ReferencePlatform, fmt_ts, parse_ts
from tests.support.harness import free_port
from tests.support.processes import Process, clean_env

TOKEN = "test-token"
SECRET = "whsec_" + base64.b64encode(b"reference-platform-secret-32byte").decode()
SECRET2 = "whsec_" + base64.b64encode(b"a-second-secret-for-rotation-123").decode()
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Receiver:
    """A tiny webhook receiver: verifies signatures, can answer 500 for the next N deliveries."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.events: list[dict] = []
        self.ids: list[str] = []
        self.bad_signatures = 0
        self.fail_next = 0
        self.content_types: list[str] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.content_types.append(request.headers.get("Content-Type", ""))
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.json_response({"error": {"code": "boom", "message": "x"}}, status=500)
        try:
            payload = Webhook(self.secret).verify(body, dict(request.headers))
        except WebhookVerificationError:
            self.bad_signatures += 1
            return web.json_response({"error": {"code": "bad_signature", "message": "x"}}, status=401)
        self.ids.append(request.headers["webhook-id"])
        self.events.append(payload)
        return web.json_response({"ok": True})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/webhooks/platform", self.handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/webhooks/platform"

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    def of(self, type_: str, run_id: str | None = None) -> list[dict]:
        return [e for e in self.events if e["type"] == type_ and (run_id is None or e["data"]["run"]["id"] == run_id)]


@pytest.fixture
async def receiver():
    rec = Receiver(SECRET)
    await rec.start()
    yield rec
    await rec.stop()


@pytest.fixture
async def platform(receiver):
    p = ReferencePlatform(api_token=TOKEN, webhook_url=receiver.url, webhook_secret=SECRET, seed=7, speed=50)
    await p.start(port=0)
    yield p
    await p.stop()


@pytest.fixture
async def http(platform):
    async with aiohttp.ClientSession(base_url=platform.base_url) as s:
        yield s


async def sim_run(http, **body) -> dict:
    r = await http.post("/sim/runs", json=body)
    assert r.status == 201, await r.text()
    return await r.json()


async def get_run(http, run_id: str) -> dict:
    r = await http.get(f"/v1/runs/{run_id}", headers=AUTH)
    assert r.status == 200
    return await r.json()


async def wait_status(http, run_id: str, *statuses: str, timeout: float = 5.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        run = await get_run(http, run_id)
        if run["status"] in statuses:
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} stuck in {run['status']}, wanted {statuses}")
        await asyncio.sleep(0.02)


async def wait_for(pred, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while not (res := pred()):
        if time.monotonic() > deadline:
            raise AssertionError("condition not met")
        await asyncio.sleep(0.02)
    return res


async def pending_approval(http, run_id: str) -> dict:
    r = await http.get("/v1/approvals", params={"status": "pending", "run_id": run_id}, headers=AUTH)
    data = (await r.json())["data"]
    assert len(data) == 1
    return data[0]


# ----------------------------------------------------------------------------- runs and failures


async def test_failing_run_reaches_failed_and_sends_signed_webhook(http, receiver):
    actor = {"name": "Ana Ruiz", "email": "ana@acme.test", "slack_user_id": "U024BE7LH"}
    run = await sim_run(http, workflow="wf_invoices", outcome="fail", actor=actor)
    assert re.fullmatch(r"run_[0-9A-Za-z]{12}", run["id"])
    assert run["status"] == "pending" and run["trigger"]["actor"] == actor
    done = await wait_status(http, run["id"], "failed")
    assert done["failed_step_id"] == "step_3"
    assert done["progress"] == {"total_steps": 5, "completed_steps": 2}
    failed = done["steps"][2]
    assert failed["index"] == 2 and failed["type"] == "llm" and failed["status"] == "failed"
    assert failed["error"] == {
        "code": "provider_rate_limited",
        "message": "Rate limit reached for requests",
        "provider": "openai",
        "provider_status": 429,
        "retryable": True,
    }
    assert [s["status"] for s in done["steps"][3:]] == ["skipped", "skipped"]
    assert done["duration_ms"] is not None and done["completed_at"]
    evs = await wait_for(lambda: receiver.of("run.failed", run["id"]))
    assert receiver.bad_signatures == 0
    assert all(ct.startswith("application/json") for ct in receiver.content_types)
    assert evs[0]["data"]["run"]["failed_step_id"] == "step_3"
    assert evs[0]["data"]["run"]["steps"][2]["error"]["code"] == "provider_rate_limited"
    # every event of the run carries a strictly increasing updated_at
    stamps = [e["data"]["run"]["updated_at"] for e in receiver.events if e["data"]["run"]["id"] == run["id"]]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    types = [e["type"] for e in receiver.events if e["data"]["run"]["id"] == run["id"]]
    assert types[:2] == ["run.created", "run.started"] and "run.step.updated" in types
    assert len(set(receiver.ids)) == len(receiver.ids)


@pytest.mark.parametrize(
    "code,status,retryable,provider",
    [
        ("content_policy", 400, False, "openai"),
        ("step_timeout", None, True, None),
        ("provider_unavailable", 503, True, "stripe"),
    ],
)
async def test_error_codes_and_fail_step(http, code, status, retryable, provider):
    body = {"workflow": "wf_invoices", "outcome": "fail", "error_code": code}
    if provider == "stripe":
        body = {"workflow": "wf_refunds", "outcome": "approval", "then": "fail", "error_code": code}
    run = await sim_run(http, **body)
    if provider == "stripe":
        await wait_status(http, run["id"], "waiting")
        a = await pending_approval(http, run["id"])
        await http.post(f"/v1/approvals/{a['id']}/approve", json={"actor": "ana"}, headers=AUTH)
    done = await wait_status(http, run["id"], "failed")
    step = next(s for s in done["steps"] if s["id"] == done["failed_step_id"])
    assert step["error"]["code"] == code
    assert step["error"]["provider_status"] == status
    assert step["error"]["retryable"] is retryable
    assert step["error"]["provider"] == provider


async def test_fail_step_index_and_succeeding_run(http):
    run = await sim_run(http, workflow="wf_invoices", outcome="fail", fail_step=0, error_code="auth_failed")
    done = await wait_status(http, run["id"], "failed")
    assert done["failed_step_id"] == "step_1" and done["steps"][0]["error"]["provider_status"] == 401
    ok = await sim_run(http, workflow="wf_summaries")
    done = await wait_status(http, ok["id"], "completed")
    assert done["progress"] == {"total_steps": 3, "completed_steps": 3}
    assert all(s["status"] == "completed" and s["error"] is None for s in done["steps"])
    assert done["failed_step_id"] is None


# ----------------------------------------------------------------------------- approvals


async def test_approval_gate_approve_completes(http, receiver):
    run = await sim_run(http, workflow="wf_refunds")
    waiting = await wait_status(http, run["id"], "waiting")
    gate = next(s for s in waiting["steps"] if s["status"] == "waiting")
    a = await pending_approval(http, run["id"])
    assert a["kind"] == "spend" and a["action"] == "Send refund of $420 to ACME"
    assert a["step_id"] == gate["id"] and a["requested_by"] == "step Refund customer of Refund customer"
    assert parse_ts(a["expires_at"]) - parse_ts(a["requested_at"]) == timedelta(hours=1)
    await asyncio.sleep(0.2)
    assert (await get_run(http, run["id"]))["status"] == "waiting"  # does not advance
    r = await http.post(f"/v1/approvals/{a['id']}/approve", json={"actor": "Ana Ruiz", "comment": "ok"}, headers=AUTH)
    assert r.status == 200
    task = await r.json()
    assert task["status"] == "approved" and task["decided_by"] == "Ana Ruiz" and task["comment"] == "ok"
    assert task["decided_at"]
    await wait_status(http, run["id"], "completed")
    r = await http.post(f"/v1/approvals/{a['id']}/reject", json={"actor": "x"}, headers=AUTH)
    assert r.status == 409 and (await r.json())["error"]["code"] == "already_decided"
    await wait_for(lambda: receiver.of("approval.decided", run["id"]))
    req = receiver.of("approval.requested", run["id"])[0]
    assert req["data"]["approval"]["id"] == a["id"] and req["data"]["run"]["status"] == "waiting"


async def test_approval_reject_cancels(http, receiver):
    run = await sim_run(http, workflow="wf_publish")
    await wait_status(http, run["id"], "waiting")
    a = await pending_approval(http, run["id"])
    assert a["kind"] == "publish"
    r = await http.post(f"/v1/approvals/{a['id']}/reject", json={"actor": "Ana"}, headers=AUTH)
    assert (await r.json())["status"] == "rejected"
    done = await wait_status(http, run["id"], "cancelled")
    assert next(s for s in done["steps"] if s["id"] == a["step_id"])["status"] == "cancelled"
    await wait_for(lambda: receiver.of("run.cancelled", run["id"]))


async def test_approval_expiry_fails_run(http, receiver):
    run = await sim_run(http, workflow="wf_tools", approval_ttl_seconds=3600)
    await wait_status(http, run["id"], "waiting")
    a = await pending_approval(http, run["id"])
    assert a["kind"] == "tool_call"
    assert (await get_run(http, run["id"]))["status"] == "waiting"  # an hour to go: not expired yet
    r = await http.post(
        f"/sim/approvals/{a['id']}/modify",
        json={"expires_at": fmt_ts(datetime.now(timezone.utc) - timedelta(seconds=1))},
    )
    assert r.status == 200
    done = await wait_status(http, run["id"], "failed", timeout=20)
    step = next(s for s in done["steps"] if s["id"] == done["failed_step_id"])
    assert step["id"] == a["step_id"]
    assert step["error"]["code"] == "approval_expired"
    assert step["error"]["provider"] is None and step["error"]["provider_status"] is None
    assert step["error"]["retryable"] is False
    r = await http.get(f"/v1/approvals/{a['id']}", headers=AUTH)
    assert (await r.json())["status"] == "expired"
    r = await http.post(f"/v1/approvals/{a['id']}/approve", json={"actor": "late"}, headers=AUTH)
    assert r.status == 409 and (await r.json())["error"]["code"] == "expired"
    await wait_for(lambda: receiver.of("approval.expired", run["id"]) and receiver.of("run.failed", run["id"]))
    r = await http.get("/v1/logs", params={"severity": "warn", "run_id": run["id"]}, headers=AUTH)
    kinds = {(e["severity"], e["event_type"]) for e in (await r.json())["data"]}
    assert ("warn", "approval.expired") in kinds and ("error", "run.failed") in kinds


async def test_modify_approval_and_404(http):
    run = await sim_run(http, workflow="wf_payouts")
    await wait_status(http, run["id"], "waiting")
    a = await pending_approval(http, run["id"])
    before = (await get_run(http, run["id"]))["updated_at"]
    r = await http.post(f"/sim/approvals/{a['id']}/modify", json={"action": "Pay 4 vendors $20,000"})
    assert (await r.json())["action"] == "Pay 4 vendors $20,000"
    assert (await get_run(http, run["id"]))["updated_at"] > before
    r = await http.get("/v1/approvals/apr_nope", headers=AUTH)
    assert r.status == 404 and (await r.json())["error"]["code"] == "not_found"


# ----------------------------------------------------------------------------- transitions


async def test_transitions_pause_resume_cancel_and_409(http, receiver):
    # Frozen while it is paused, so the pause cannot lose a race with the run's own steps.
    run = await sim_run(http, workflow="wf_invoices", step_seconds=4, frozen=True, status="running")
    r = await http.post(f"/v1/runs/{run['id']}/pause", json={"actor": "ana"}, headers=AUTH)
    paused = await r.json()
    assert r.status == 200 and paused["status"] == "paused"
    r = await http.post(f"/sim/runs/{run['id']}/advance", json={})
    assert r.status == 409 and (await r.json())["error"]["code"] == "invalid_transition"
    still = await get_run(http, run["id"])
    assert still["status"] == "paused" and still["updated_at"] == paused["updated_at"]
    r = await http.post(f"/v1/runs/{run['id']}/pause", json={"actor": "ana"}, headers=AUTH)
    assert r.status == 409 and (await r.json())["error"]["code"] == "invalid_transition"
    r = await http.post(f"/v1/runs/{run['id']}/replay", json={"actor": "ana"}, headers=AUTH)
    assert r.status == 409 and (await r.json())["error"]["code"] == "not_replayable"
    r = await http.post(f"/v1/runs/{run['id']}/resume", json={"actor": "ana"}, headers=AUTH)
    assert (await r.json())["status"] == "running"
    for _ in range(10):
        r = await http.post(f"/sim/runs/{run['id']}/advance", json={})
        assert r.status == 200, await r.text()
        if (await r.json())["status"] == "completed":
            break
    await wait_status(http, run["id"], "completed")
    for action in ("pause", "resume", "cancel"):
        r = await http.post(f"/v1/runs/{run['id']}/{action}", json={"actor": "ana"}, headers=AUTH)
        assert r.status == 409 and (await r.json())["error"]["code"] == "invalid_transition"
    r = await http.post("/v1/runs/run_missing/cancel", json={"actor": "ana"}, headers=AUTH)
    assert r.status == 404 and (await r.json())["error"]["code"] == "not_found"
    await wait_for(lambda: receiver.of("run.paused", run["id"]) and receiver.of("run.resumed", run["id"]))


async def test_pause_waiting_then_resume_and_cancel_expires_task(http, receiver):
    run = await sim_run(http, workflow="wf_refunds")
    await wait_status(http, run["id"], "waiting")
    r = await http.post(f"/v1/runs/{run['id']}/pause", json={"actor": "a"}, headers=AUTH)
    assert (await r.json())["status"] == "paused"
    r = await http.post(f"/v1/runs/{run['id']}/resume", json={"actor": "a"}, headers=AUTH)
    assert (await r.json())["status"] == "waiting"
    a = await pending_approval(http, run["id"])
    r = await http.post(f"/v1/runs/{run['id']}/cancel", json={"actor": "Ana"}, headers=AUTH)
    assert (await r.json())["status"] == "cancelled"
    task = await (await http.get(f"/v1/approvals/{a['id']}", headers=AUTH)).json()
    assert task["status"] == "expired"
    await wait_for(lambda: receiver.of("approval.expired", run["id"]))


async def test_replay(http, receiver):
    run = await sim_run(http, workflow="wf_invoices", outcome="fail", error_code="provider_timeout")
    await wait_status(http, run["id"], "failed")
    r = await http.post(f"/v1/runs/{run['id']}/replay", json={"actor": "Ana", "model": "gpt-4.1"}, headers=AUTH)
    assert r.status == 201
    new = await r.json()
    assert new["replay_of"] == run["id"] and new["id"] != run["id"]
    assert new["workflow"]["id"] == "wf_invoices" and new["model"] == "gpt-4.1"
    assert new["prompt"] == run["prompt"] and new["trigger"]["payload"] == run["trigger"]["payload"]
    done = await wait_status(http, new["id"], "completed")  # a replay fixes it by default
    assert done["replay_of"] == run["id"]
    # sim can make a replay fail again
    bad = await sim_run(http, workflow="wf_summaries", outcome="fail", replay_outcome="same")
    await wait_status(http, bad["id"], "failed")
    r = await http.post(f"/v1/runs/{bad['id']}/replay", json={"actor": "Ana", "prompt": "new"}, headers=AUTH)
    again = await r.json()
    assert again["prompt"] == "new"
    await wait_status(http, again["id"], "failed")


# ----------------------------------------------------------------------------- lists


async def test_list_filters_prefix_ids_updated_after_and_cursor(http, platform):
    r = await http.post("/sim/runs/bulk", json={"count": 120, "workflow": "wf_invoices", "status": "running"})
    ids = (await r.json())["ids"]
    assert len(ids) == 120
    done = await sim_run(http, workflow="wf_summaries", frozen=True, status="completed")

    # pagination: newest first, no duplicates, cursor opaque
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": "50", "status": "running"}
        if cursor:
            params["cursor"] = cursor
        page = await (await http.get("/v1/runs", params=params, headers=AUTH)).json()
        pages += 1
        seen += [x["id"] for x in page["data"]]
        assert all("steps" not in x for x in page["data"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert pages == 3 and sorted(seen) == sorted(ids) and len(set(seen)) == 120
    keys = [(platform._runs[i].created_at, i) for i in seen]
    assert keys == sorted(keys, reverse=True)

    # status repeat, workflow
    r = await http.get("/v1/runs?status=completed&status=failed&limit=200", headers=AUTH)
    assert [x["id"] for x in (await r.json())["data"]] == [done["id"]]
    r = await http.get("/v1/runs", params={"workflow": "wf_summaries"}, headers=AUTH)
    assert [x["id"] for x in (await r.json())["data"]] == [done["id"]]

    # run_id prefix is case-sensitive
    target = ids[5]
    pref = target[:7]
    r = await http.get("/v1/runs", params={"run_id": pref, "limit": "200"}, headers=AUTH)
    got = [x["id"] for x in (await r.json())["data"]]
    assert target in got and all(g.startswith(pref) for g in got)
    assert got == [i for i in seen if i.startswith(pref)]

    # id batch, include=steps, > 100 ids
    batch = ids[:100]
    q = "&".join(f"id={i}" for i in batch) + "&include=steps&limit=200"
    data = (await (await http.get(f"/v1/runs?{q}", headers=AUTH)).json())["data"]
    assert sorted(x["id"] for x in data) == sorted(batch) and all("steps" in x for x in data)
    q = "&".join(f"id={i}" for i in ids[:101])
    r = await http.get(f"/v1/runs?{q}", headers=AUTH)
    assert r.status == 400 and "id" in (await r.json())["error"]["message"]

    # updated_after: advance one run, only it is newer
    mark = (await get_run(http, ids[7]))["updated_at"]
    mark = max(mark, (await get_run(http, done["id"]))["updated_at"])
    await asyncio.sleep(0.01)
    r = await http.post(f"/sim/runs/{ids[7]}/advance", json={"status": "completed"})
    assert (await r.json())["status"] == "completed"
    r = await http.get("/v1/runs", params={"updated_after": mark}, headers=AUTH)
    assert [x["id"] for x in (await r.json())["data"]] == [ids[7]]
    r = await http.get("/v1/runs", params={"created_after": fmt_ts(datetime.now(timezone.utc))}, headers=AUTH)
    assert (await r.json())["data"] == []

    # bad filters name the parameter
    for params, name in [
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"status": "nope"}, "status"),
        ({"updated_after": "yesterday"}, "updated_after"),
        ({"cursor": "!!"}, "cursor"),
    ]:
        r = await http.get("/v1/runs", params=params, headers=AUTH)
        body = await r.json()
        assert r.status == 400 and body["error"]["code"] == "bad_filter" and name in body["error"]["message"]

    # stats count requests by route
    stats = await (await http.get("/sim/stats")).json()
    assert stats["requests"]["GET /v1/runs"] >= 10


async def test_logs_severity_minimum_and_event_type(http):
    ok = await sim_run(http, workflow="wf_summaries")
    bad = await sim_run(http, workflow="wf_summaries", outcome="fail")
    await wait_status(http, ok["id"], "completed")
    await wait_status(http, bad["id"], "failed")
    allr = (await (await http.get("/v1/logs", params={"limit": "200"}, headers=AUTH)).json())["data"]
    sevs = {e["severity"] for e in allr}
    assert {"debug", "info", "error"} <= sevs
    assert set(allr[0]) == {"id", "timestamp", "severity", "event_type", "run_id", "step_id", "message"}
    stamps = [e["timestamp"] for e in allr]
    assert stamps == sorted(stamps, reverse=True)
    warn = (await (await http.get("/v1/logs", params={"severity": "warn"}, headers=AUTH)).json())["data"]
    assert warn and all(e["severity"] in ("warn", "error") for e in warn)
    info = (await (await http.get("/v1/logs", params={"severity": "info"}, headers=AUTH)).json())["data"]
    assert all(e["severity"] != "debug" for e in info)
    r = await http.get("/v1/logs", params={"event_type": "run.completed"}, headers=AUTH)
    assert [e["run_id"] for e in (await r.json())["data"]] == [ok["id"]]
    # pagination
    p1 = await (await http.get("/v1/logs", params={"limit": "5", "run_id": ok["id"]}, headers=AUTH)).json()
    p2 = await (
        await http.get("/v1/logs", params={"limit": "5", "run_id": ok["id"], "cursor": p1["next_cursor"]}, headers=AUTH)
    ).json()
    assert not {e["id"] for e in p1["data"]} & {e["id"] for e in p2["data"]}
    r = await http.get("/v1/logs", params={"severity": "loud"}, headers=AUTH)
    assert r.status == 400 and "severity" in (await r.json())["error"]["message"]


# ----------------------------------------------------------------------------- auth, stall, sim controls


async def test_unauthorized(http):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        r = await http.get("/v1/runs", headers=headers)
        assert r.status == 401 and (await r.json())["error"]["code"] == "unauthorized"
    r = await http.get("/v1/workflows", headers=AUTH)
    wfs = {w["id"]: w["name"] for w in (await r.json())["data"]}
    assert wfs["wf_invoices"] == "Invoice triage" and len(wfs) == 6


async def test_webhook_suppress_duplicate_and_retry(http, receiver, platform):
    r = await http.post("/sim/webhooks", json={"mode": "suppress", "count": -1, "types": ["run.failed"]})
    assert r.status == 200
    run = await sim_run(http, workflow="wf_summaries", outcome="fail")
    await wait_status(http, run["id"], "failed")
    await wait_for(lambda: any(w["suppressed"] and w["run_id"] == run["id"] for w in platform._webhook_log))
    await asyncio.sleep(0.1)
    assert not receiver.of("run.failed", run["id"]) and receiver.of("run.created", run["id"])
    log = await (await http.get("/sim/webhooks/log")).json()
    assert any(w["type"] == "run.failed" and w["suppressed"] for w in log)

    await http.post("/sim/webhooks/reset")
    await http.post("/sim/webhooks", json={"mode": "duplicate", "count": 1, "types": ["run.completed"]})
    ok = await sim_run(http, workflow="wf_summaries")
    await wait_status(http, ok["id"], "completed")
    evs = await wait_for(
        lambda: len(receiver.of("run.completed", ok["id"])) == 2 and receiver.of("run.completed", ok["id"])
    )
    idx = [
        i for i, e in enumerate(receiver.events) if e["type"] == "run.completed" and e["data"]["run"]["id"] == ok["id"]
    ]
    assert receiver.ids[idx[0]] == receiver.ids[idx[1]] and evs[0] == evs[1]

    # the receiver answers 500 twice: the platform retries with the same webhook-id
    await http.post("/sim/webhooks/reset")
    receiver.fail_next = 2
    n = len(receiver.events)
    r2 = await sim_run(http, workflow="wf_summaries", frozen=True, status="pending")
    await wait_for(lambda: len(receiver.events) > n)
    assert receiver.events[n]["type"] == "run.created" and receiver.events[n]["data"]["run"]["id"] == r2["id"]
    entry = next(w for w in platform._webhook_log if w["run_id"] == r2["id"])
    assert entry["attempts"] == 3 and entry["status_code"] == 200


async def test_webhook_rotation_and_delay(http, receiver, platform):
    await http.post("/sim/config", json={"webhook_secret": f"{SECRET2} {SECRET}"})
    await http.post("/sim/webhooks", json={"mode": "delay", "count": 1, "delay_seconds": 1.0, "types": ["run.created"]})
    run = await sim_run(http, workflow="wf_summaries", frozen=True, status="pending")
    await http.post(f"/sim/runs/{run['id']}/advance", json={"status": "running"})
    await wait_for(lambda: receiver.of("run.created", run["id"]))
    types = [e["type"] for e in receiver.events if e["data"]["run"]["id"] == run["id"]]
    assert types == ["run.started", "run.created"]  # the delayed one arrives late
    assert receiver.bad_signatures == 0


async def test_stall_status_and_hang(http):
    r = await http.post("/sim/stall", json={"seconds": 3600, "status": 503})
    r = await http.get("/v1/runs", headers=AUTH)
    assert r.status == 503 and "error" in await r.json()
    await http.post("/sim/stall", json={"seconds": 0})  # ends the stall
    assert (await http.get("/v1/runs", headers=AUTH)).status == 200
    await http.post("/sim/stall", json={"seconds": 0.3})
    t = time.monotonic()
    r = await http.get("/v1/runs", headers=AUTH)
    assert r.status == 200 and time.monotonic() - t >= 0.25
    assert (await http.get("/sim/stats")).status == 200


async def test_run_page_and_index(http, platform):
    run = await sim_run(http, workflow="wf_invoices", outcome="fail", error_code="provider_rate_limited")
    await wait_status(http, run["id"], "failed")
    r = await http.get(f"/default/monitoring/workflow-runs/{run['id']}")
    assert r.status == 200 and r.content_type == "text/html"
    page = await r.text()
    for i in range(1, 6):
        assert f'id="step-step_{i}"' in page
    assert 'href="#step-step_3"' in page and "provider_rate_limited" in page and "429" in page
    assert re.search(r'id="step-step_3" open', page)
    assert (await http.get(f"/other/monitoring/workflow-runs/{run['id']}")).status == 404
    index = await (await http.get("/")).text()
    assert run["id"] in index
    assert platform.run_url(run["id"], "step_3").endswith(f"/default/monitoring/workflow-runs/{run['id']}#step-step_3")


async def test_advance_frozen_run_one_step(http):
    run = await sim_run(http, workflow="wf_invoices", frozen=True, status="running")
    assert run["steps"][0]["status"] == "running"
    await asyncio.sleep(0.2)
    assert (await get_run(http, run["id"]))["updated_at"] == run["updated_at"]  # frozen: no progress
    r = await http.post(f"/sim/runs/{run['id']}/advance", json={})
    adv = await r.json()
    assert adv["progress"]["completed_steps"] == 1 and adv["steps"][1]["status"] == "running"
    assert adv["updated_at"] > run["updated_at"]
    r = await http.post(f"/sim/runs/{run['id']}/advance", json={"fail": {"error_code": "internal_error"}})
    adv = await r.json()
    assert adv["status"] == "failed" and adv["failed_step_id"] == "step_2"
    r = await http.post(f"/sim/runs/{run['id']}/advance", json={"status": "waiting"})
    r = await sim_run(http, workflow="wf_summaries", frozen=True, status="waiting")
    a = await pending_approval(http, r["id"])
    assert a["step_id"] == next(s["id"] for s in r["steps"] if s["status"] == "waiting")


# ----------------------------------------------------------------------------- determinism and demo


async def test_deterministic_ids_and_demo():
    async def first_ids(seed):
        p = ReferencePlatform(api_token=TOKEN, seed=seed, speed=50)
        return [p.create_run(workflow="wf_invoices", frozen=True).id for _ in range(3)]

    assert await first_ids(3) == await first_ids(3) != await first_ids(4)

    p = ReferencePlatform(api_token=TOKEN, seed=1, speed=50, demo=True, demo_interval_seconds=2)
    await p.start(port=0)
    try:
        await wait_for(lambda: len(p._runs) >= 4, timeout=5)
        actors = {r.trigger["actor"]["name"] for r in p._runs.values()}
        assert actors == {"Sam Rivera"}  # the sample user starts (and replays) every demo run
    finally:
        await p.stop()


async def test_the_demo_story_shows_a_failure_its_replay_a_storm_and_a_decidable_approval_then_calms():
    p = ReferencePlatform(api_token=TOKEN, seed=1, speed=50, demo=True, demo_interval_seconds=2)
    await p.start(port=0)
    try:
        first = await wait_for(lambda: next(iter(p._runs.values()), None), timeout=5)
        await wait_for(lambda: first.status == "failed", timeout=10)
        replay = await wait_for(
            lambda: next((r for r in p._runs.values() if r.replay_of == first.id and r.status == "completed"), None),
            timeout=10,
        )
        assert replay.trigger["actor"]["name"] == "Sam Rivera"

        def storm():
            return [r for r in p._runs.values() if r.error_code == "provider_unavailable" and r.status == "failed"]

        await wait_for(lambda: len(storm()) >= 6, timeout=10)
        times = sorted(r.completed_at for r in storm()[:6])
        assert times[-1] - times[0] < timedelta(seconds=120), "six failures within the bot's storm window"
        approval = next(a for a in p._approvals.values())
        assert approval.expires_at - approval.requested_at >= timedelta(minutes=5), "long enough to decide"
        await asyncio.sleep(1.5)  # several calm rounds at this speed
        failed = [r for r in p._runs.values() if r.status == "failed"]
        assert len(failed) <= 6 + 1 + len(p._runs) // 6 + 1, "after the story, about one failure in six runs"
        assert not {r.error_code for r in failed} & {"step_timeout", "provider_timeout", "approval_expired"}
    finally:
        await p.stop()


async def test_the_platform_command_serves_the_api_with_the_given_token_and_seed(tmp_path):
    port = free_port()
    proc = Process(
        ["-m", "reference.platform", "--port", str(port), "--seed", "3", "--api-token", "cli-token"],
        env=clean_env(),
        cwd=tmp_path,
        name="platform",
    )
    try:
        base = f"http://127.0.0.1:{port}"
        workflows = await proc.wait_http(f"{base}/v1/workflows", headers={"Authorization": "Bearer cli-token"})
        assert {w["id"] for w in workflows["data"]} >= {"wf_invoices", "wf_refunds"}
        await proc.wait_http(f"{base}/v1/workflows", status=401, headers={"Authorization": "Bearer dev-token"})
        async with aiohttp.ClientSession() as client:
            async with client.post(f"{base}/sim/runs", json={"workflow": "wf_invoices", "frozen": True}) as resp:
                assert resp.status == 201
                created = await resp.json()
        same_seed = ReferencePlatform(api_token="x", seed=3).create_run(workflow="wf_invoices", frozen=True)
        assert created["id"] == same_seed.id  # --seed reached the platform
        assert "Reference platform: API" in proc.output()
    finally:
        proc.stop()


async def test_webhook_reorder(http, receiver):
    await http.post("/sim/webhooks", json={"mode": "reorder", "count": 1, "types": ["run.created"]})
    run = await sim_run(http, workflow="wf_summaries", frozen=True, status="pending")
    await http.post(f"/sim/runs/{run['id']}/advance", json={"status": "running"})
    await wait_for(lambda: len([e for e in receiver.events if e["data"]["run"]["id"] == run["id"]]) == 2)
    types = [e["type"] for e in receiver.events if e["data"]["run"]["id"] == run["id"]]
    assert types == ["run.started", "run.created"]
    log = await (await http.get("/sim/webhooks/log")).json()
    assert {"id", "type", "run_id", "status_code", "attempts", "suppressed"} <= set(log[0])


async def test_approvals_list_pagination_and_filters(http):
    runs = [await sim_run(http, workflow="wf_refunds", frozen=True, status="waiting") for _ in range(5)]
    p1 = await (await http.get("/v1/approvals", params={"status": "pending", "limit": "2"}, headers=AUTH)).json()
    ids = [a["id"] for a in p1["data"]]
    cursor = p1["next_cursor"]
    while cursor:
        page = await (
            await http.get("/v1/approvals", params={"status": "pending", "limit": "2", "cursor": cursor}, headers=AUTH)
        ).json()
        ids += [a["id"] for a in page["data"]]
        cursor = page["next_cursor"]
    assert len(ids) == 5 == len(set(ids))
    assert [a["run_id"] for a in [await (await http.get(f"/v1/approvals/{i}", headers=AUTH)).json() for i in ids]] == [
        r["id"] for r in reversed(runs)
    ]  # newest first
    r = await http.get("/v1/approvals", params={"status": "approved"}, headers=AUTH)
    assert (await r.json())["data"] == []
    r = await http.get("/v1/approvals", params={"status": "maybe"}, headers=AUTH)
    assert r.status == 400
