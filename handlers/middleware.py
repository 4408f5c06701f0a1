"""`Plain`: a Bolt middleware called with the request and `next` only. A function given to `app.middleware` has
its arguments built by Bolt's keyword injection on every request (the function's signature inspected, a dict
of every argument Bolt knows made): four of the bot's middlewares paid that before each answer. A class
middleware (Bolt's `AsyncMiddleware`, as its own built-in ones are) is called directly."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from slack_bolt.middleware.async_middleware import AsyncMiddleware


class Plain(AsyncMiddleware):
    def __init__(self, process: Callable[..., Awaitable]) -> None:
        self.process = process

    async def async_process(self, *, req, resp, next):  # noqa: A002 - Bolt's argument name
        return await self.process(req, next)

    @property
    def name(self) -> str:
        return getattr(self.process, "__name__", type(self).__name__)
