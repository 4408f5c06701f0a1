"""The floors every figure is compared to, served in their own process like the bot:

- `aiohttp`: a bare aiohttp handler (`POST /webhooks/platform` reads the body and answers `{"ok": true}`);
- `bolt`: a bare Bolt AsyncApp answering a no-op `/runs` on `/slack/events`, mounted like the bot mounts it
  and with the bot's Bolt settings (`process_before_response=True`, see `bot/app.py:create_bolt_app`).

    python -m benchmarks.floors aiohttp|bolt --port 8081 --slack-api-url http://127.0.0.1:PORT/api/
"""

from __future__ import annotations

import argparse

from aiohttp import web

from benchmarks.common import BOT_TOKEN, SIGNING_SECRET


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def aiohttp_floor() -> web.Application:
    async def webhook(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/webhooks/platform", webhook)
    app.router.add_post("/slack/events", webhook)
    return app


def bolt_floor(slack_api_url: str) -> web.Application:
    from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
    from slack_bolt.app.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    bolt = AsyncApp(
        token=BOT_TOKEN,
        signing_secret=SIGNING_SECRET,
        client=AsyncWebClient(token=BOT_TOKEN, base_url=slack_api_url),
        process_before_response=True,
        request_verification_enabled=True,
        raise_error_for_unhandled_request=False,
        ignoring_self_events_enabled=True,
    )

    @bolt.command("/runs")
    async def runs(ack):
        await ack()

    async def slack_events(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await bolt.async_dispatch(await to_bolt_request(request)))

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_post("/slack/events", slack_events)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.floors")
    parser.add_argument("kind", choices=["aiohttp", "bolt"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--slack-api-url", default="http://127.0.0.1:9/api/")
    args = parser.parse_args()
    app = aiohttp_floor() if args.kind == "aiohttp" else bolt_floor(args.slack_api_url)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
