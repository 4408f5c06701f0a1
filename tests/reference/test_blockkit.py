"""Block Kit as the Slack stand-in checks it (reference/slack/blockkit.py): one row per limit of Slack's Block Kit
reference, each with the largest payload Slack takes and the smallest it refuses, and the JSON pointer Slack names."""

from __future__ import annotations

import copy

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from reference.slack import SlackStandIn, blockkit

BOT_TOKEN = "xoxb-sandbox-token"


def pt(text: str) -> dict:
    return {"type": "plain_text", "text": text}


def md(text: str) -> dict:
    return {"type": "mrkdwn", "text": text}


def section(text: str = "hi", **kw) -> dict:
    return {"type": "section", "text": md(text), **kw}


def button(text: str = "Go", **kw) -> dict:
    return {"type": "button", "text": pt(text), **kw}


def actions(*elements: dict, **kw) -> dict:
    return {"type": "actions", "elements": list(elements), **kw}


def options(n: int, text: str = "o", value: str = "v") -> list[dict]:
    return [{"text": pt(text), "value": f"{value}{i}" if value == "v" else value} for i in range(n)]


def confirm(title: str = "Sure?", text: str = "Really?", yes: str = "Yes", no: str = "No") -> dict:
    return {"title": pt(title), "text": md(text), "confirm": pt(yes), "deny": pt(no)}


def text_input(**kw) -> dict:
    return {"type": "input", "block_id": "in", "label": pt("Reason"), "element": {"type": "plain_text_input", **kw}}


# (name, blocks Slack takes, blocks Slack refuses, the pointer of the refusal)
MESSAGE_ROWS = [
    ("50 blocks", [section()] * 50, [section()] * 51, "/blocks"),
    ("section text 3000", [section("a" * 3000)], [section("a" * 3001)], "/blocks/0/text/text"),
    ("no empty text", [section("a")], [section("")], "/blocks/0/text/text"),
    (
        "10 fields",
        [{"type": "section", "fields": [md("f")] * 10}],
        [{"type": "section", "fields": [md("f")] * 11}],
        "/blocks/0/fields",
    ),
    (
        "field 2000",
        [{"type": "section", "fields": [md("f" * 2000)]}],
        [{"type": "section", "fields": [md("f" * 2001)]}],
        "/blocks/0/fields/0/text",
    ),
    (
        "header 150",
        [{"type": "header", "text": pt("h" * 150)}],
        [{"type": "header", "text": pt("h" * 151)}],
        "/blocks/0/text/text",
    ),
    (
        "header plain_text",
        [{"type": "header", "text": pt("h")}],
        [{"type": "header", "text": md("h")}],
        "/blocks/0/text/type",
    ),
    (
        "context 10 elements",
        [{"type": "context", "elements": [md("c")] * 10}],
        [{"type": "context", "elements": [md("c")] * 11}],
        "/blocks/0/elements",
    ),
    (
        "actions 25 elements",
        [actions(*[button(action_id=f"a{i}") for i in range(25)])],
        [actions(*[button(action_id=f"a{i}") for i in range(26)])],
        "/blocks/0/elements",
    ),
    ("button text 75", [actions(button("b" * 75))], [actions(button("b" * 76))], "/blocks/0/elements/0/text/text"),
    (
        "button value 2000",
        [actions(button(value="v" * 2000))],
        [actions(button(value="v" * 2001))],
        "/blocks/0/elements/0/value",
    ),
    (
        "button url 3000",
        [actions(button(url="https://x.example/" + "u" * 2982))],
        [actions(button(url="https://x.example/" + "u" * 2983))],
        "/blocks/0/elements/0/url",
    ),
    (
        "action_id 255",
        [actions(button(action_id="a" * 255))],
        [actions(button(action_id="a" * 256))],
        "/blocks/0/elements/0/action_id",
    ),
    (
        "action_id unique in its block",
        [actions(button(action_id="a")), actions(button(action_id="a"))],
        [actions(button(action_id="a"), button(action_id="a"))],
        "/blocks/0/elements/1/action_id",
    ),
    ("block_id 255", [section(block_id="b" * 255)], [section(block_id="b" * 256)], "/blocks/0/block_id"),
    (
        "block_id unique",
        [section(block_id="a"), section(block_id="b")],
        [section(block_id="a"), section(block_id="a")],
        "/blocks/1/block_id",
    ),
    (
        "confirm title 100",
        [actions(button(confirm=confirm(title="t" * 100)))],
        [actions(button(confirm=confirm(title="t" * 101)))],
        "/blocks/0/elements/0/confirm/title/text",
    ),
    (
        "confirm text 300",
        [actions(button(confirm=confirm(text="t" * 300)))],
        [actions(button(confirm=confirm(text="t" * 301)))],
        "/blocks/0/elements/0/confirm/text/text",
    ),
    (
        "confirm button 30",
        [actions(button(confirm=confirm(yes="y" * 30)))],
        [actions(button(confirm=confirm(yes="y" * 31)))],
        "/blocks/0/elements/0/confirm/confirm/text",
    ),
    (
        "deny button 30",
        [actions(button(confirm=confirm(no="n" * 30)))],
        [actions(button(confirm=confirm(no="n" * 31)))],
        "/blocks/0/elements/0/confirm/deny/text",
    ),
    (
        "option text 75",
        [actions({"type": "static_select", "options": options(1, text="o" * 75)})],
        [actions({"type": "static_select", "options": options(1, text="o" * 76)})],
        "/blocks/0/elements/0/options/0/text/text",
    ),
    (
        "option value 150",
        [actions({"type": "static_select", "options": options(1, value="v" * 150)})],
        [actions({"type": "static_select", "options": options(1, value="v" * 151)})],
        "/blocks/0/elements/0/options/0/value",
    ),
    (
        "100 options",
        [actions({"type": "static_select", "options": options(100)})],
        [actions({"type": "static_select", "options": options(101)})],
        "/blocks/0/elements/0/options",
    ),
    (
        "placeholder 150",
        [actions({"type": "users_select", "placeholder": pt("p" * 150)})],
        [actions({"type": "users_select", "placeholder": pt("p" * 151)})],
        "/blocks/0/elements/0/placeholder/text",
    ),
    ("unknown block type", [section()], [{"type": "carousel"}], "/blocks/0/type"),
    ("unknown element type", [actions(button())], [actions({"type": "slider"})], "/blocks/0/elements/0/type"),
    ("unknown block key", [section()], [section(colour="red")], "/blocks/0/colour"),
    ("unknown element key", [actions(button())], [actions(button(colour="red"))], "/blocks/0/elements/0/colour"),
    ("unknown text key", [section()], [{"type": "section", "text": {**md("x"), "bold": True}}], "/blocks/0/text/bold"),
]


@pytest.mark.parametrize("name,good,bad,pointer", MESSAGE_ROWS, ids=[r[0] for r in MESSAGE_ROWS])
def test_message_limits(name, good, bad, pointer):
    assert blockkit.message_problems(good) == []
    problems = blockkit.message_problems(bad)
    assert [p.pointer for p in problems] == [pointer], problems


def modal(blocks: list | None = None, **kw) -> dict:
    return {"type": "modal", "title": pt("Title"), "blocks": [section()] if blocks is None else blocks, **kw}


VIEW_ROWS = [
    ("100 blocks", modal([section()] * 100), modal([section()] * 101), "/view/blocks"),
    (
        "home 100 blocks",
        {"type": "home", "blocks": [section()] * 100},
        {"type": "home", "blocks": [section()] * 101},
        "/view/blocks",
    ),
    ("title 24", modal(title=pt("t" * 24)), modal(title=pt("t" * 25)), "/view/title/text"),
    ("submit 24", modal(submit=pt("s" * 24)), modal(submit=pt("s" * 25)), "/view/submit/text"),
    ("close 24", modal(close=pt("c" * 24)), modal(close=pt("c" * 25)), "/view/close/text"),
    (
        "private_metadata 3000",
        modal(private_metadata="m" * 3000),
        modal(private_metadata="m" * 3001),
        "/view/private_metadata",
    ),
    ("callback_id 255", modal(callback_id="c" * 255), modal(callback_id="c" * 256), "/view/callback_id"),
    (
        "input label 2000",
        modal([{**text_input(), "label": pt("l" * 2000)}], submit=pt("Go")),
        modal([{**text_input(), "label": pt("l" * 2001)}], submit=pt("Go")),
        "/view/blocks/0/label/text",
    ),
    (
        "input hint 2000",
        modal([{**text_input(), "hint": pt("h" * 2000)}], submit=pt("Go")),
        modal([{**text_input(), "hint": pt("h" * 2001)}], submit=pt("Go")),
        "/view/blocks/0/hint/text",
    ),
    (
        "input placeholder 150",
        modal([text_input(placeholder=pt("p" * 150))], submit=pt("Go")),
        modal([text_input(placeholder=pt("p" * 151))], submit=pt("Go")),
        "/view/blocks/0/element/placeholder/text",
    ),
    (
        "plain_text_input max_length 3000",
        modal([text_input(max_length=3000)], submit=pt("Go")),
        modal([text_input(max_length=3001)], submit=pt("Go")),
        "/view/blocks/0/element/max_length",
    ),
    ("input needs submit", modal([text_input()], submit=pt("Go")), modal([text_input()]), "/view/submit"),
    ("unknown view key", modal(), modal(colour="red"), "/view/colour"),
    ("no empty title", modal(), modal(title=pt("")), "/view/title/text"),
]


@pytest.mark.parametrize("name,good,bad,pointer", VIEW_ROWS, ids=[r[0] for r in VIEW_ROWS])
def test_view_limits(name, good, bad, pointer):
    assert blockkit.view_problems(good) == []
    problems = blockkit.view_problems(bad)
    assert [p.pointer for p in problems] == [pointer], problems


def test_sizes_beyond_the_schema():
    markdown = [{"type": "markdown", "text": "m" * 6000}] * 2
    assert blockkit.message_problems(markdown) == [] and not blockkit.blocks_too_long(markdown)
    assert blockkit.blocks_too_long([*markdown, {"type": "markdown", "text": "m"}])
    big = modal([section("s" * 2900)] * 90)
    assert blockkit.view_problems(big) == [] and blockkit.view_too_large(big)
    assert not blockkit.view_too_large(modal([section("s" * 2000)] * 100))


@pytest.fixture
async def slack():
    s = SlackStandIn(bot_token=BOT_TOKEN, signing_secret="secret")
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


async def _error(coro) -> dict:
    with pytest.raises(SlackApiError) as e:
        await coro
    return e.value.response.data


async def test_every_method_answers_in_slacks_shapes(slack):
    client = AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)
    bad = [section(""), section("a" * 3001)]
    for call in (
        client.chat_postMessage(channel="C0ALERTS", text="x", blocks=bad),
        client.chat_postEphemeral(channel="C0ALERTS", user="U0ANA", text="x", blocks=bad),
    ):
        answer = await _error(call)
        assert answer["error"] == "invalid_blocks"
        assert answer["errors"] == [
            "must be more than 0 characters [json-pointer:/blocks/0/text/text]",
            "must be less than 3001 characters [json-pointer:/blocks/1/text/text]",
        ]
        assert answer["response_metadata"]["messages"] == ["[ERROR] " + e for e in answer["errors"]]
    posted = await client.chat_postMessage(channel="C0ALERTS", text="x", blocks=[section()])
    answer = await _error(client.chat_update(channel="C0ALERTS", ts=posted["ts"], text="x", blocks=bad))
    assert answer["error"] == "invalid_blocks"
    markdown = [{"type": "markdown", "text": "m" * 6001}] * 2
    assert (await _error(client.chat_postMessage(channel="C0ALERTS", text="x", blocks=markdown)))["error"] == (
        "msg_blocks_too_long"
    )

    answer = await _error(client.views_publish(user_id="U0ANA", view={"type": "home", "blocks": bad}))
    assert answer["error"] == "invalid_arguments"
    assert answer["response_metadata"]["messages"] == [
        "[ERROR] must be more than 0 characters [json-pointer:/view/blocks/0/text/text]",
        "[ERROR] must be less than 3001 characters [json-pointer:/view/blocks/1/text/text]",
    ]
    trigger = slack.issue_trigger("U0ANA")
    answer = await _error(client.views_open(trigger_id=trigger, view=modal(title=pt("t" * 25))))
    assert answer["error"] == "invalid_arguments" and "/view/title/text" in answer["response_metadata"]["messages"][0]
    big = modal([section("s" * 2900)] * 90)
    assert (await _error(client.views_open(trigger_id=trigger, view=big)))["error"] == "view_too_large"
    opened = await client.views_open(trigger_id=trigger, view=modal())  # refused calls do not spend the trigger
    answer = await _error(client.views_update(view_id=opened["view"]["id"], view=modal(submit=pt("s" * 25))))
    assert answer["error"] == "invalid_arguments"
    pushed = copy.deepcopy(modal(callback_id="c" * 256))
    answer = await _error(client.views_push(trigger_id=slack.issue_trigger("U0ANA"), view=pushed))
    assert answer["error"] == "invalid_arguments"
    assert slack.messages("C0ALERTS")[0].blocks == [section()]  # nothing refused was posted
