"""Slack-native parts in the sandbox, in a real browser against the demo's real pieces: a pasted run link unfurls
into its card, both shortcuts answer, and App Home is a dashboard one can approve from."""

from __future__ import annotations

import re

from playwright.async_api import expect

from tests.test_demo_browser import ARTIFACTS, WAIT_MS, chromium, demo, page, platform_get  # noqa: F401 - fixtures


async def test_a_pasted_run_link_unfurls_shortcuts_answer_and_app_home_approves(demo, page):  # noqa: F811
    await page.goto(demo.sandbox_url)
    # A failure the demo's story never replays (it replays its first, Invoice triage): one that recovered before
    # App Home is read would rightly show "recovered" there, not who is on it.
    alert = (
        page.locator("#messages .msg", has=page.locator("a", has_text="Jump to failed step"))
        .filter(has_text="Daily summaries failed")
        .first
    )
    await expect(alert).to_be_visible(timeout=WAIT_MS)
    href = await alert.locator("a", has_text="Jump to failed step").first.get_attribute("href") or ""
    run_id = re.search(r"/workflow-runs/(run_\w+)", href).group(1)

    # The sandbox user says they are on that failure: the alert says so, and so will App Home.
    await alert.locator('button[data-action-id="alert_on_it"]').click()
    await expect(alert).to_contain_text("is on it", timeout=WAIT_MS)

    # Paste the run's console link in #general: its card unfolds under the message.
    await page.locator('#channel-list a[data-name="general"]').click()
    await page.locator("#composer-input").fill(f"who is looking at {href} ?")
    await page.locator("#composer-input").press("Enter")
    pasted = page.locator("#messages .msg", has_text="who is looking at").last
    card = pasted.locator(".attachment")
    await expect(card).to_contain_text(run_id, timeout=WAIT_MS)
    await expect(card).to_contain_text("jump to failed step")
    await expect(card).to_contain_text(re.compile(r"cost \$\d"))  # the platform reported what it cost
    await page.screenshot(path=str(ARTIFACTS / "sandbox-unfurl.png"))

    # Show run (message shortcut) on that message: the run's card, only to the sandbox user.
    await pasted.hover()
    await pasted.locator('button[data-shortcut="runbot_show_run"]').click()
    answer = page.locator("#messages .msg.ephemeral", has_text=run_id)
    await expect(answer.first).to_be_visible(timeout=WAIT_MS)

    # Find a run (global shortcut): a modal opens, then lists runs.
    await page.locator("#find-run").click()
    modal = page.locator("#modal-root")
    await expect(modal).to_contain_text("Find a run", timeout=WAIT_MS)
    await expect(modal).to_contain_text("run_", timeout=WAIT_MS)
    await expect(modal).to_contain_text("Cost at least (USD)")  # usage exists in the sandbox: the cost filter
    await page.screenshot(path=str(ARTIFACTS / "sandbox-find-run.png"))
    await page.keyboard.press("Escape")
    close = modal.locator("button", has_text="Close")
    if await close.count():
        await close.first.click()

    # App Home: the dashboard, with a pending approval the sandbox user may decide; approve it there.
    await page.locator("#app-list a").first.click()
    await page.locator('a[data-tab="home"]').click()
    home = page.locator("#home")
    await expect(home).to_contain_text("Runs you triggered", timeout=WAIT_MS)
    # Failures with who is on each (the one the sandbox user took first among the open ones), and today's spend.
    await expect(home).to_contain_text(run_id)
    await expect(home).to_contain_text(re.compile(re.escape(run_id) + r"[^\n]*👀[^\n]* on it"))
    await expect(home).to_contain_text("Today's spend")
    approve = home.locator('button[data-action-id="approval_approve"]').first
    await expect(approve).to_be_visible(timeout=WAIT_MS)
    pending_before = {a["id"] for a in (await platform_get(demo, "/approvals?status=pending&limit=200"))["data"]}
    await approve.click()
    confirm = page.locator('#confirm-root [data-confirm="yes"]')
    if await confirm.count():
        await confirm.click()
    await page.screenshot(path=str(ARTIFACTS / "sandbox-home.png"))

    async def decided() -> bool:
        approvals = (await platform_get(demo, "/approvals?limit=200"))["data"]
        return any(a["id"] in pending_before and a["status"] == "approved" for a in approvals)

    for _ in range(60):
        if await decided():
            break
        await page.wait_for_timeout(500)
    assert await decided(), "approving from App Home should approve the task on the platform"
    assert page.errors == [], f"the page raised: {page.errors}"
