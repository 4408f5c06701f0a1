"""`runbot platform` (and `python -m reference.platform`): the reference platform on its own."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os

from reference.platform.server import ReferencePlatform


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="runbot platform", description="Run the reference workflow platform (in-memory).")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8700)
    p.add_argument("--webhook-url", default=os.environ.get("PLATFORM_WEBHOOK_URL"))
    p.add_argument("--webhook-secret", default=os.environ.get("PLATFORM_WEBHOOK_SECRET"))
    p.add_argument("--api-token", default=os.environ.get("PLATFORM_API_TOKEN", "dev-token"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--speed", type=float, default=1.0)
    p.add_argument("--workspace", default="default")
    p.add_argument("--approval-ttl", type=float, default=3600.0, help="approval TTL in seconds (absolute)")
    p.add_argument("--demo", action="store_true", help="start sample runs continuously")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    async def _run() -> None:
        plat = ReferencePlatform(
            api_token=args.api_token,
            webhook_url=args.webhook_url,
            webhook_secret=args.webhook_secret,
            seed=args.seed,
            speed=args.speed,
            workspace=args.workspace,
            demo=args.demo,
            approval_ttl_seconds=args.approval_ttl,
        )
        url = await plat.start(args.host, args.port)
        print(
            f"Reference platform: API {url}/v1 (Bearer token set), UI {url}/, "
            f"webhooks -> {args.webhook_url or '(none)'}{' [demo]' if args.demo else ''}",
            flush=True,
        )
        try:
            await asyncio.Event().wait()
        finally:
            await plat.stop()

    try:
        asyncio.run(_run())
    except KeyboardInterrupt:
        pass
