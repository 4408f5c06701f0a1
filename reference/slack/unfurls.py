"""Link unfurling as Slack does it: a person's message with links in one of the app's unfurl domains sends the app
a `link_shared` event, and `chat.unfurl` attaches the app's card to each of those links (and only those)."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any
from urllib.parse import urlsplit

from reference.slack.blocks import ApiError, validate_blocks
from reference.slack.state import Message

LINK = re.compile(r"<?(https?://[^\s<>|]+)(?:\|[^>]*)?>?")
MAX_LINKS = 5  # Slack sends an app at most a handful of links of one message


class Unfurls:
    """Part of ``SlackStandIn``: the app's unfurl domains, the links each message shared, ``chat.unfurl``."""

    def set_unfurl_domains(self, domains: list[str]) -> None:
        """The domains in the app's manifest (`unfurl_domains`); a subdomain matches its domain, as in Slack."""
        self.unfurl_domains = [d.lower() for d in domains]

    def links_to_unfurl(self, text: str) -> list[dict]:
        """The links of a message Slack would hand to the app: in its domains, first occurrence, in order."""
        domains = self.unfurl_domains
        found: list[dict] = []
        for match in LINK.finditer(text or ""):
            url = match.group(1)
            host = (urlsplit(url).hostname or "").lower()
            domain = next((d for d in domains if host == d or host.endswith("." + d)), None)
            if domain and url not in [f["url"] for f in found]:
                found.append({"domain": domain, "url": url})
        return found[:MAX_LINKS]

    async def share_links(self, msg: Message, user_id: str, *, via: str | None = None) -> Any:
        """Deliver `link_shared` for a person's message when it holds links in the app's unfurl domains."""
        links = self.links_to_unfurl(msg.text)
        if not links:
            return None
        self._shared_links[(msg.channel, msg.ts)] = [link["url"] for link in links]
        if not (self.bot_url or self.socket_connected):
            return None
        event: dict[str, Any] = {
            "type": "link_shared",
            "channel": msg.channel,
            "is_bot_user_member": True,
            "user": user_id,
            "message_ts": msg.ts,
            "unfurl_id": f"{msg.channel}.{msg.ts}.{uuid.uuid4().hex[:16]}",
            "source": "conversations_history",
            "links": links,
        }
        if msg.thread_ts and msg.thread_ts != msg.ts:
            event["thread_ts"] = msg.thread_ts
        return await self.send_event(event, via=via)

    def _chat_unfurl(self, args: dict) -> dict:
        ch = self._channel_or_error(args.get("channel"))
        msg = self._find_message(ch, args.get("ts"))
        if msg is None:
            raise ApiError("cannot_find_message")
        unfurls = args.get("unfurls")
        if isinstance(unfurls, str):
            try:
                unfurls = json.loads(unfurls)
            except ValueError:
                raise ApiError("invalid_unfurls_format") from None
        if not isinstance(unfurls, dict) or not unfurls:
            raise ApiError("invalid_unfurls_format")
        shared = self._shared_links.get((ch.id, msg.ts), [])
        for url, card in unfurls.items():
            if url not in shared:  # keyed by each URL exactly as shared: a normalised URL is refused
                raise ApiError("cannot_unfurl_url")
            if not isinstance(card, dict) or not (card.get("blocks") or card.get("text") or card.get("hide_url")):
                raise ApiError("invalid_unfurls_format")
            if card.get("blocks") is not None:
                validate_blocks(card["blocks"])
        attachments = [a for a in msg.attachments or [] if a.get("app_unfurl_url") not in unfurls]
        for url, card in unfurls.items():
            attachments.append({**card, "app_unfurl_url": url, "is_app_unfurl": True, "from_url": url})
        self._update_message(msg, attachments=attachments, count_edit=False)
        return {}
