"""The platform client against the reference platform: every endpoint, typed errors, retries for reads only."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp import web

from bot.platform import PlatformClient, PlatformError, PlatformUnreachable
from reference.platform import ReferencePlatform
from tests.support.harness import PLATFORM_TOKEN, free_port


@pytest.fixture
async def platform():
    p = ReferencePlatform(api_token=PLATFORM_TOKEN, seed=11, speed=50)
    await p.start()
    yield p
    await p.stop()


@pytest.fixture
async def client(platform):
    c = PlatformClient(platform.base_url, PLATFORM_TOKEN, timeout=5, retry_delay=0.05)
    yield c
    await c.close()


async def sim(platform, path, body):
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{platform.base_url}{path}", json=body) as resp:
            return await resp.json()


async def test_runs_workflows_and_pagination(platform, client):
    workflows = await client.workflows()
    assert {"wf_invoices", "wf_refunds"} <= {w["id"] for w in workflows}
    created = await sim(platform, "/sim/runs/bulk", {"count": 230, "status": "running", "frozen": True})
    seen = [r["id"] async for r in client.iter_runs(status=["running"], limit=100)]
    assert set(created["ids"]) <= set(seen) and len(seen) == len(set(seen))
    by_id = await client.runs_by_id(created["ids"][:150])
    assert {r["id"] for r in by_id} == set(created["ids"][:150])
    assert all("steps" in r for r in by_id)
    one = await client.get_run(created["ids"][0])
    assert one["id"] == created["ids"][0] and one["status"] == "running"


async def test_errors_carry_the_platforms_code_and_message(platform, client):
    with pytest.raises(PlatformError) as missing:
        await client.get_run("run_doesnotexist")
    assert missing.value.status == 404 and missing.value.code == "not_found"
    run = await sim(
        platform, "/sim/runs", {"workflow": "wf_summaries", "outcome": "succeed", "frozen": True, "status": "completed"}
    )
    with pytest.raises(PlatformError) as conflict:
        await client.cancel(run["id"], "slack:U0ANA (Ana)")
    assert conflict.value.status == 409 and conflict.value.code == "invalid_transition"
    replay = await client.replay(run["id"], "slack:U0ANA (Ana)", model="gpt-4.1")
    assert replay["replay_of"] == run["id"] and replay["model"] == "gpt-4.1"
    bad = PlatformClient(platform.base_url, "wrong", read_retries=0)
    try:
        with pytest.raises(PlatformError) as unauthorized:
            await bad.workflows()
        assert unauthorized.value.status == 401
    finally:
        await bad.close()


async def test_unreachable_platform_is_a_distinct_error():
    c = PlatformClient(f"http://127.0.0.1:{free_port()}", "t", timeout=1, read_retries=1, retry_delay=0.01)
    try:
        with pytest.raises(PlatformUnreachable) as exc:
            await c.workflows()
        assert "cannot reach the platform" in str(exc.value)
    finally:
        await c.close()


async def test_reads_are_retried_and_writes_are_not():
    calls = {"GET": 0, "POST": 0}

    async def flaky(request):
        calls[request.method] += 1
        if calls[request.method] == 1:
            return web.json_response({"error": {"code": "unavailable", "message": "try later"}}, status=503)
        return web.json_response({"data": [], "next_cursor": None} if request.method == "GET" else {"id": "r"})

    app = web.Application()
    app.router.add_route("*", "/v1/{tail:.*}", flaky)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    c = PlatformClient(f"http://127.0.0.1:{port}", "t", retry_delay=0.01)
    try:
        assert await c.workflows() == []
        assert calls["GET"] == 2
        with pytest.raises(PlatformError) as exc:
            await c.pause("run_x", "slack:U1 (A)")
        assert exc.value.status == 503 and calls["POST"] == 1
    finally:
        await c.close()
        await runner.cleanup()


async def test_a_hanging_platform_times_out(platform):
    await sim(platform, "/sim/stall", {"seconds": 3})
    c = PlatformClient(platform.base_url, PLATFORM_TOKEN, timeout=0.5, read_retries=0)
    try:
        with pytest.raises(PlatformUnreachable) as exc:
            await c.workflows()
        assert "timed out" in str(exc.value)
    finally:
        await c.close()
    await asyncio.sleep(0)


async def test_approvals_and_logs(platform, client):
    run = await sim(
        platform, "/sim/runs", {"workflow": "wf_refunds", "outcome": "approval", "approval_ttl_seconds": 300}
    )
    for _ in range(100):
        tasks = await client.all_approvals()
        if any(t["run_id"] == run["id"] for t in tasks):
            break
        await asyncio.sleep(0.05)
    task = next(t for t in tasks if t["run_id"] == run["id"])
    assert (await client.get_approval(task["id"]))["status"] == "pending"
    decided = await client.approve(task["id"], "slack:U0ANA (Ana Ruiz)", "looks right")
    assert decided["status"] == "approved" and decided["decided_by"] == "slack:U0ANA (Ana Ruiz)"
    with pytest.raises(PlatformError) as again:
        await client.reject(task["id"], "slack:U0BEN (Ben)")
    assert again.value.code == "already_decided"
    logs = await client.logs(run_id=run["id"], severity="info")
    assert logs["data"] and all(e["run_id"] == run["id"] for e in logs["data"])
