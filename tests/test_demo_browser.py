"""The sandbox in a real browser (Debian's Chromium driven by Playwright) against the demo's real pieces:
the reference platform running sample workflows, the bot, and the Slack stand-in serving the sandbox.

Screenshots are saved under tests/artifacts/. `RUNBOT_UPDATE_SCREENSHOT=1` also refreshes docs/sandbox.png.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import async_playwright, expect

from bot.config import load_settings
from bot.demo import start_demo

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
WAIT_MS = 30_000


@pytest.fixture
def chromium() -> str:
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: the browser test needs Debian's chromium package "
            "(`make test` installs it; or run `apt-get install -y chromium`)",
            pytrace=False,
        )
    return CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")


@pytest.fixture
async def demo(tmp_path):
    pieces = await start_demo(
        load_settings(_env_file=None),
        fixed_ports=False,
        speed=8.0,
        seed=11,
        demo_interval_seconds=8.0,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}",
        TRACK_INTERVAL_SECONDS=1.0,
        MESSAGE_EDIT_INTERVAL_SECONDS=0.2,
        OUTBOX_BACKOFF_MAX_SECONDS=1.0,
    )
    try:
        yield pieces
    finally:
        await pieces.stop()


@pytest.fixture
async def page(chromium):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport={"width": 1440, "height": 960})
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.errors = errors
        try:
            yield page
        finally:
            await browser.close()


async def platform_get(demo, path: str) -> dict:
    async with aiohttp.ClientSession() as http:
        async with http.get(
            f"{demo.platform.base_url}/v1{path}", headers={"Authorization": f"Bearer {demo.platform.api_token}"}
        ) as resp:
            return await resp.json()


async def test_a_newcomer_sees_an_alert_lists_failed_runs_and_approves_a_task_in_the_sandbox(demo, page):
    await page.goto(demo.sandbox_url)
    await expect(page.locator("#channel-title")).to_have_text("# run-alerts")
    await expect(page.locator("#thread")).to_be_hidden()

    # A failure alert arrives without reloading, with its jump link to the failed step on the run page.
    jump = page.locator("#messages a", has_text="Jump to failed step").first
    await expect(jump).to_be_visible(timeout=WAIT_MS)
    href = await jump.get_attribute("href")
    run_page = re.escape(f"{demo.platform.base_url}/{demo.settings.PLATFORM_WORKSPACE}/monitoring/workflow-runs/")
    match = re.fullmatch(run_page + r"(run_\w+)#step-(\w+)", href or "")
    assert match, f"the jump link should point at the run page's failed step, not {href!r}"
    run_id, step_id = match.groups()
    run = await platform_get(demo, f"/runs/{run_id}")
    assert run["status"] == "failed" and run["failed_step_id"] == step_id
    text = await page.locator("#messages").inner_text()
    assert "!date^" not in text and "<@" not in text, "Slack tokens should be rendered, not shown raw"
    await page.screenshot(path=str(ARTIFACTS / "sandbox-alert.png"))

    # /runs failed, typed in the message box, answers with the failed run (only to the sandbox user).
    await page.locator("#composer-input").fill("/runs failed")
    await page.locator("#composer-input").press("Enter")
    listing = page.locator("#messages .msg.ephemeral", has_text=run_id)
    await expect(listing.first).to_be_visible(timeout=WAIT_MS)
    await expect(page.locator("#composer-input")).to_have_value("")
    await page.screenshot(path=str(ARTIFACTS / "sandbox-runs-failed.png"))

    # An approval card in #approvals: Approve reaches the bot as a signed click, the card becomes a receipt.
    await page.locator('#channel-list a[data-name="approvals"]').click()
    await expect(page.locator("#channel-title")).to_have_text("# approvals")
    card = page.locator('#messages .msg:has(button[data-action-id="approval_approve"])').first
    await expect(card).to_be_visible(timeout=WAIT_MS)
    ts = await card.get_attribute("data-ts")
    await page.screenshot(path=str(ARTIFACTS / "sandbox-approval.png"))
    await card.locator('button[data-action-id="approval_approve"]').click()
    confirm = page.locator('#confirm-root [data-confirm="yes"]')
    if await confirm.count():
        await confirm.click()
    decided = page.locator(f'#messages .msg[data-ts="{ts}"]')
    await expect(decided).to_contain_text("Approved by", timeout=WAIT_MS)
    await expect(decided.locator('button[data-action-id="approval_approve"]')).to_have_count(0)
    approvals = (await platform_get(demo, "/approvals?limit=200"))["data"]
    assert any(a["status"] == "approved" for a in approvals), "the platform should have the task approved"
    await page.screenshot(path=str(ARTIFACTS / "sandbox-approved.png"))

    # Shift+click opens a channel beside the current one, as in Slack: the README's screenshot.
    await page.locator('#channel-list a[data-name="run-alerts"]').click()
    await page.locator('#channel-list a[data-name="approvals"]').click(modifiers=["Shift"])
    await expect(page.locator('#thread[data-pane="channel"]')).to_be_visible()
    await expect(page.locator("#thread-messages .msg").first).to_be_visible()
    await page.screenshot(path=str(ARTIFACTS / "sandbox.png"))
    if os.environ.get("RUNBOT_UPDATE_SCREENSHOT") == "1":
        await update_readme_screenshot(page)
    assert page.errors == [], f"the page raised: {page.errors}"


async def update_readme_screenshot(page) -> None:
    """docs/sandbox.png: a failure alert beside a pending approval card."""
    await page.locator("#messages .ephemeral-note a", has_text="Dismiss").first.click()
    pending = page.locator('#thread-messages .msg:has(button[data-action-id="approval_approve"])').last
    await expect(pending).to_be_visible(timeout=WAIT_MS)
    await pending.scroll_into_view_if_needed()
    await page.screenshot(path=str(ROOT / "docs" / "sandbox.png"))


async def slack_api(demo, method: str, **args) -> dict:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            demo.slack.api_url + method, json=args, headers={"Authorization": f"Bearer {demo.settings.SLACK_BOT_TOKEN}"}
        ) as resp:
            body = await resp.json()
    assert body["ok"], body
    return body


async def test_the_sandbox_renders_block_kit_threads_edits_confirms_and_modals_like_slack(demo, page):
    slack = demo.slack
    moment = 1_800_000_000  # 2027-01-15 08:00 UTC
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "Sandbox check"}},
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": (
                    f"*bold* _italic_ `code_span` <https://example.test/a_b|a link> <@U0SAMPLE1> "
                    f"<!subteam^S0ONCALL> <!date^{moment}^{{date_num}} {{time}}|fallback>"
                ),
            },
            "fields": [{"type": "mrkdwn", "text": "*Field one*\n1"}, {"type": "mrkdwn", "text": "*Field two*\n2"}],
        },
        {"type": "divider"},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "context words"}]},
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": "sandbox_danger",
                    "style": "danger",
                    "value": "v1",
                    "text": {"type": "plain_text", "text": "Dangerous"},
                    "confirm": {
                        "title": {"type": "plain_text", "text": "Really?"},
                        "text": {"type": "mrkdwn", "text": "This is *serious*."},
                        "confirm": {"type": "plain_text", "text": "Do it"},
                        "deny": {"type": "plain_text", "text": "Keep it"},
                        "style": "danger",
                    },
                },
                {
                    "type": "button",
                    "action_id": "sandbox_link",
                    "url": "https://example.test/console",
                    "text": {"type": "plain_text", "text": "Open console"},
                },
            ],
        },
    ]
    posted = await slack_api(demo, "chat.postMessage", channel="C0GENERAL", text="Sandbox check", blocks=blocks)
    ts = posted["ts"]
    await slack_api(demo, "chat.postMessage", channel="C0GENERAL", text="first reply", thread_ts=ts)

    await page.goto(demo.sandbox_url)
    await page.locator('#channel-list a[data-name="general"]').click()
    message = page.locator(f'#messages .msg[data-ts="{ts}"]')
    await expect(message).to_be_visible()
    await expect(message.locator("b", has_text="bold")).to_be_visible()
    await expect(message.locator("i", has_text="italic")).to_be_visible()
    await expect(message.locator("code", has_text="code_span")).to_be_visible()
    await expect(message.locator('a[href="https://example.test/a_b"]')).to_have_text("a link")
    await expect(message.locator(".mention", has_text="@Sam Rivera")).to_be_visible()
    await expect(message.locator(".mention", has_text="@oncall")).to_be_visible()
    local_day = await page.evaluate(f"""() => {{ const d = new Date({moment} * 1000);
        return d.getFullYear() + "-" + String(d.getMonth() + 1).padStart(2, "0") + "-" + String(d.getDate()).padStart(2, "0"); }}""")
    await expect(message.locator(".date")).to_contain_text(local_day)
    await expect(message.locator(".fields")).to_contain_text("Field two")
    await expect(message.locator("hr.divider")).to_have_count(1)
    await expect(message.locator('button[data-action-id="sandbox_danger"]')).to_have_class(re.compile(r"\bdanger\b"))
    await expect(message.locator('a[data-action-id="sandbox_link"]')).to_have_attribute(
        "href", "https://example.test/console"
    )

    # A confirm dialog comes first: "Keep it" sends nothing, "Do it" sends the click to the bot.
    def clicks():
        return [
            i
            for i in slack.interactions
            if i.kind == "block_actions" and i.payload["actions"][0]["action_id"] == "sandbox_danger"
        ]

    await message.locator('button[data-action-id="sandbox_danger"]').click()
    dialog = page.locator("#confirm-root .dialog")
    await expect(dialog).to_contain_text("Really?")
    await dialog.locator('[data-confirm="no"]').click()
    await expect(dialog).to_have_count(0)
    assert clicks() == []
    await message.locator('button[data-action-id="sandbox_danger"]').click()
    await page.locator('#confirm-root [data-confirm="yes"]').click()
    await slack.wait_for(lambda s: len(clicks()) == 1, timeout=WAIT_MS / 1000)
    click = clicks()[0]
    assert click.via == "http" and click.status is not None, "the click goes to the bot as a signed HTTP request"
    assert click.payload["actions"][0]["value"] == "v1" and click.payload["user"]["id"] == "U0SANDBOX"

    # Threads open in the side pane; an edit shows in place with "(edited)".
    await message.locator(".thread-link").click()
    await expect(page.locator('#thread[data-pane="thread"] #thread-messages')).to_contain_text("first reply")
    await slack_api(
        demo,
        "chat.update",
        channel="C0GENERAL",
        ts=ts,
        text="Sandbox check, edited",
        blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "Now *edited*"}}],
    )
    await expect(message).to_contain_text("Now edited")
    await expect(message.locator(".edited")).to_have_text("(edited)")

    # A modal opened by views.open shows its inputs; the submission reaches the bot with what was typed.
    view = {
        "type": "modal",
        "callback_id": "sandbox_modal",
        "title": {"type": "plain_text", "text": "Replay run"},
        "submit": {"type": "plain_text", "text": "Replay"},
        "blocks": [
            {
                "type": "input",
                "block_id": "prompt",
                "label": {"type": "plain_text", "text": "Prompt"},
                "element": {"type": "plain_text_input", "action_id": "value", "multiline": True},
            },
            {
                "type": "input",
                "block_id": "model",
                "label": {"type": "plain_text", "text": "Model"},
                "optional": True,
                "element": {
                    "type": "static_select",
                    "action_id": "value",
                    "options": [
                        {"text": {"type": "plain_text", "text": "gpt-4.1"}, "value": "gpt-4.1"},
                        {"text": {"type": "plain_text", "text": "claude-sonnet"}, "value": "claude-sonnet"},
                    ],
                },
            },
        ],
    }
    opened = await slack_api(demo, "views.open", trigger_id=slack.issue_trigger("U0SANDBOX"), view=view)
    modal = page.locator(f'#modal-root form[data-view-id="{opened["view"]["id"]}"]')
    await expect(modal).to_contain_text("Replay run")
    await modal.locator('[data-submit="true"]').click()
    await expect(modal.locator(".inline-error")).to_contain_text("Please fill out this field")
    await modal.locator("textarea").fill("Summarise politely")
    await modal.locator("select").select_option("claude-sonnet")
    await page.screenshot(path=str(ARTIFACTS / "sandbox-modal.png"))
    await modal.locator('[data-submit="true"]').click()

    def submissions():
        return [i for i in slack.interactions if i.kind == "view_submission"]

    await slack.wait_for(lambda s: len(submissions()) == 1, timeout=WAIT_MS / 1000)
    values = submissions()[0].payload["view"]["state"]["values"]
    assert values["prompt"]["value"]["value"] == "Summarise politely"
    assert values["model"]["value"]["selected_option"]["value"] == "claude-sonnet"
    assert page.errors == [], f"the page raised: {page.errors}"
