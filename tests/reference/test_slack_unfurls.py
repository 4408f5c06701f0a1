"""The stand-in's link unfurling: `link_shared` for links in the app's unfurl domains only, and `chat.unfurl`
validated as Slack does (each key a URL the message shared, exactly as shared; valid blocks)."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.reference.test_slack import BOT_TOKEN, client, section, slack  # noqa: F401 - fixtures

URL = "https://console.acme.example/default/monitoring/workflow-runs/run_1#step-step_3"


async def test_links_in_the_unfurl_domains_are_shared_in_order_once_each(slack):  # noqa: F811
    slack.set_unfurl_domains(["acme.example"])
    text = f"see <{URL}> and https://elsewhere.example/x and {URL} and <https://acme.example/y|label>"
    assert slack.links_to_unfurl(text) == [
        {"domain": "acme.example", "url": URL},
        {"domain": "acme.example", "url": "https://acme.example/y"},
    ]
    slack.set_unfurl_domains([])
    assert slack.links_to_unfurl(text) == []


async def test_chat_unfurl_accepts_only_the_urls_the_message_shared(slack, client: AsyncWebClient):  # noqa: F811
    slack.set_unfurl_domains(["acme.example"])
    msg, _ = await slack.post_user_message("C0ALERTS", f"look {URL}", deliver=False)
    await slack.share_links(msg, "U0ANA")  # no bot listening: the event is not delivered, the links are recorded
    card = {"blocks": [section("*run_1* failed")]}

    for unfurls, error in [
        ({URL.split("#")[0]: card}, "cannot_unfurl_url"),  # not the URL as shared
        ({URL: {"blocks": [{"type": "nonsense"}]}}, "invalid_blocks"),
        ({URL: "just text"}, "invalid_unfurls_format"),
        ({}, "invalid_unfurls_format"),
    ]:
        with pytest.raises(SlackApiError) as refused:
            await client.chat_unfurl(channel="C0ALERTS", ts=msg.ts, unfurls=unfurls)
        assert refused.value.response["error"] == error, unfurls
    with pytest.raises(SlackApiError) as refused:
        await client.chat_unfurl(channel="C0ALERTS", ts="1.000001", unfurls={URL: card})
    assert refused.value.response["error"] == "cannot_find_message"

    await client.chat_unfurl(channel="C0ALERTS", ts=msg.ts, unfurls={URL: card})
    (attachment,) = slack.message("C0ALERTS", msg.ts).attachments
    assert (
        attachment["app_unfurl_url"] == URL and attachment["is_app_unfurl"] and attachment["blocks"] == card["blocks"]
    )
