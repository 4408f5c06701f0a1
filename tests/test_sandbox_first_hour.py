"""A newcomer's first hour in the sandbox, in a real browser (issue 19): the equivalent of ten minutes of the
demo's sample traffic, compressed by the demo's speed setting, then what a person does with it. The page must
stay a Slack-like workspace: the message box in view, threads that show their replies, every emoji rendered,
a reload that forgets modals and ephemerals, Slack's own answer to a mistyped command."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import async_playwright, expect

from bot.config import load_settings
from bot.demo import start_demo
from tests.test_demo_browser import ARTIFACTS, CHROMIUM_ARGS, WAIT_MS, chromium  # noqa: F401 - chromium: a fixture

SPEED = 20.0
INTERVAL = 8.0  # demo seconds between the story's beats: 0.4 s here
TEN_MINUTES_OF_RUNS = 10 + 10 * 60 // (15 * 4)  # the story, then a calm run a minute at `make run`'s pace
# An emoji code left as text (":alarm_clock:"), not a clock time's minutes ("failed 10:32:17 AM").
EMOJI_CODE = re.compile(r"(?<![\w:]):[a-z0-9_+\-]+:(?!\w)")


@pytest.fixture
async def page(chromium):  # noqa: F811 - the fixture imported above
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        tab = await (await browser.new_context(viewport={"width": 1440, "height": 960})).new_page()
        tab.errors = []
        tab.on("pageerror", lambda exc: tab.errors.append(str(exc)))
        try:
            yield tab
        finally:
            await browser.close()


@pytest.fixture
async def demo(tmp_path):
    pieces = await start_demo(
        load_settings(_env_file=None),
        fixed_ports=False,
        speed=SPEED,
        seed=19,
        demo_interval_seconds=INTERVAL,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}",
        TRACK_INTERVAL_SECONDS=1.0,
        MESSAGE_EDIT_INTERVAL_SECONDS=0.2,
        OUTBOX_BACKOFF_MAX_SECONDS=1.0,
    )
    try:
        yield pieces
    finally:
        await pieces.stop()


async def in_view(tab, selector: str) -> bool:
    return await tab.evaluate(
        """(sel) => { const r = document.querySelector(sel).getBoundingClientRect();
            return r.height > 0 && r.top >= 0 && r.bottom <= window.innerHeight; }""",
        selector,
    )


async def assert_page_does_not_grow(page) -> None:
    sizes = await page.evaluate("() => [document.scrollingElement.scrollHeight, window.innerHeight, window.scrollY]")
    assert sizes[0] <= sizes[1] and sizes[2] == 0, f"the page itself scrolls: {sizes}"
    assert await in_view(page, "#composer-input"), "the message box left the screen"
    assert await in_view(page, "#channel-list"), "the sidebar left the screen"


async def unrendered_emoji(page) -> list[str]:
    return EMOJI_CODE.findall(await page.locator("#app").inner_text())


async def test_ten_minutes_of_sample_traffic_keep_the_sandbox_usable(demo, page):
    await page.goto(demo.sandbox_url)
    await expect(page.locator("#channel-title")).to_have_text("# run-alerts")
    # The story's storm becomes one grouped card; then the calm rounds run on to ten minutes' worth of runs.
    await expect(page.locator("#messages .msg", has_text="failures with provider_unavailable").first).to_be_visible(
        timeout=WAIT_MS
    )
    platform = demo.platform
    await demo.slack.wait_for(lambda s: len(platform._runs) >= TEN_MINUTES_OF_RUNS, timeout=WAIT_MS / 1000)
    await page.screenshot(path=str(ARTIFACTS / "first-hour-alerts.png"))

    await assert_page_does_not_grow(page)
    assert await unrendered_emoji(page) == []
    # The alert's overflow menu is a small ⋯ beside its buttons, as in Slack, not as wide as its longest option.
    more = page.locator('#messages select[data-action-id="alert_more"]').last
    await expect(more).to_be_visible()
    assert (await more.bounding_box())["width"] <= 48, "the overflow menu is a small ⋯ control"
    at_bottom = "(el) => el.scrollHeight - el.scrollTop - el.clientHeight < 40"
    assert await page.locator("#messages").evaluate(at_bottom), "the channel shows its newest message"

    # Another channel opens at its newest message, the page still one screen.
    await page.locator('#channel-list a[data-name="approvals"]').click()
    await expect(page.locator("#messages .msg").first).to_be_visible(timeout=WAIT_MS)
    assert await page.locator("#messages").evaluate(at_bottom)
    assert await unrendered_emoji(page) == []
    await assert_page_does_not_grow(page)

    # A thread opens beside the channel with its replies, without scrolling the window.
    await page.locator('#channel-list a[data-name="run-alerts"]').click()
    link = page.locator("#messages .thread-link").first
    await expect(link).to_be_visible(timeout=WAIT_MS)
    replies = int(re.match(r"\d+", await link.inner_text()).group())
    await link.click()
    pane = page.locator('#thread[data-pane="thread"]')
    await expect(pane).to_be_visible()
    await expect(pane.locator("#thread-messages .msg")).to_have_count(1 + replies)
    await expect(pane.locator("#thread-messages .msg").nth(1)).to_be_in_viewport()
    # The alert's text keeps the pane's width: its accessory (Jump to failed step) goes under it, not beside it.
    squeezed = await pane.locator("#thread-messages .msg").first.evaluate(
        "(m) => [...m.querySelectorAll('.section')].filter((s) => s.querySelector('.accessory'))"
        ".map((s) => s.querySelector('.main').getBoundingClientRect().width).filter((w) => w < 240)"
    )
    assert squeezed == [], f"text squeezed beside an accessory in the thread pane: {squeezed} px wide"
    await assert_page_does_not_grow(page)
    assert await unrendered_emoji(page) == []
    await page.screenshot(path=str(ARTIFACTS / "first-hour-thread.png"))
    # The channel beside the thread stays at its newest message, and a command's answer shows up there.
    await page.locator("#messages").evaluate("(el) => { el.scrollTop = el.scrollHeight; }")
    await page.locator("#composer-input").fill("/runs help")
    await page.locator("#composer-input").press("Enter")
    answer = page.locator("#messages .msg.ephemeral", has_text="find, read and control runs").last
    await expect(answer).to_be_visible(timeout=WAIT_MS)
    await expect(answer).to_be_in_viewport()
    await page.locator("#messages").evaluate("(el) => { el.scrollTop = 0; }")
    await page.locator("#composer-input").fill("/runs help")
    await page.locator("#composer-input").press("Enter")
    answers = page.locator("#messages .msg.ephemeral", has_text="find, read and control runs")
    await expect(answers).to_have_count(2, timeout=WAIT_MS)
    await expect(answers.last).to_be_in_viewport()

    # The app opens on its Home tab, as an app with a Home tab does in Slack; the channel is one click away.
    await page.locator("#app-list a").first.click()
    await expect(page.locator("#home")).to_be_visible()
    await expect(page.locator("#home")).to_contain_text("Runs you triggered", timeout=WAIT_MS)
    await page.locator('#channel-list a[data-name="run-alerts"]').click()
    await expect(page.locator("#composer-input")).to_be_visible()

    # A mistyped command gets Slack's own words, and nothing reaches the bot.
    commands = len([i for i in demo.slack.interactions if i.kind == "slash_command"])
    await page.locator("#composer-input").fill("/run failed")
    await page.locator("#composer-input").press("Enter")
    await expect(page.locator("#messages [data-notice]").last).to_contain_text("/run is not a valid command")
    assert len([i for i in demo.slack.interactions if i.kind == "slash_command"]) == commands

    # An answer that asks the platform arrives alone: no "Working on it…" notice is left above it (Slack cannot
    # replace or delete a slash command's acknowledgement).
    await page.locator("#composer-input").fill("/runs logs --severity error")
    await page.locator("#composer-input").press("Enter")
    await expect(page.locator("#messages .msg.ephemeral", has_text="Platform logs")).to_be_visible(timeout=WAIT_MS)
    await expect(page.locator("#messages .msg.ephemeral", has_text="Working on it")).to_have_count(0)

    # An ephemeral answer and a modal do not survive a reload, as in Slack.
    await page.locator("#composer-input").fill("/runs failed")
    await page.locator("#composer-input").press("Enter")
    await expect(page.locator("#messages .msg.ephemeral[data-ephemeral]").first).to_be_visible(timeout=WAIT_MS)
    await page.locator('#messages button[data-action-id="run_replay_changes"]').last.click()
    await expect(page.locator("#modal-root form.dialog")).to_be_visible(timeout=WAIT_MS)
    await page.reload()
    await expect(page.locator("#channel-title")).to_have_text("# run-alerts")
    await expect(page.locator("#messages .msg").first).to_be_visible()
    await expect(page.locator("#modal-root form.dialog")).to_have_count(0)
    await expect(page.locator("#messages .msg.ephemeral")).to_have_count(0)
    await page.wait_for_timeout(500)  # a refresh after the reload must not bring the modal back
    await expect(page.locator("#modal-root form.dialog")).to_have_count(0)
    assert demo.slack.open_views("U0SANDBOX") == [], "the stand-in closed the modal too"
    await assert_page_does_not_grow(page)
    assert page.errors == [], f"the page raised: {page.errors}"
