"""The aiohttp application's keys for what is built at start, typed with the real classes; shared by
`bot/app.py`, which fills them, and the handlers and tools that read them."""

from __future__ import annotations

from aiohttp import web

from bot.ingest import Ingest
from bot.services import Services

SERVICES = web.AppKey("services", Services)
INGEST = web.AppKey("ingest", Ingest)
