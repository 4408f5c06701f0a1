"""The `runbot` command: serve, start, demo, db upgrade, sync, manifest, platform, check."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from bot.config import Settings, SettingsError, load_settings
from bot.logs import secrets_of, setup_logging

log = logging.getLogger("runbot")
MANIFEST = Path(__file__).resolve().parent.parent / "manifest.yml"


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        for line in str(exc).splitlines():
            print(f"runbot: {line}", file=sys.stderr)
        raise SystemExit(2) from None


def _setup(settings: Settings) -> None:
    setup_logging(settings.LOG_LEVEL, settings.LOG_FORMAT, secrets_of(settings))


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings()
    missing = settings.missing_for_serve()
    if missing:
        for name in missing:
            print(f"runbot: {name} is required for `runbot serve` in {settings.mode} mode "
                  f"(see docs/configuration.md, or run `make run` for the demo)", file=sys.stderr)
        return 2
    _setup(settings)
    from aiohttp import web

    from bot.app import create_app

    for warning in settings.warnings():
        log.warning(warning)
    log.info("runbot serving on %s:%s in %s mode", settings.HOST, settings.PORT, settings.mode)
    web.run_app(create_app(settings), host=settings.HOST, port=settings.PORT, print=None, shutdown_timeout=10,
                access_log=None)
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    """What `make run` starts: the bot against real Slack and the platform when configured, else the demo."""
    settings = _settings()
    if settings.SLACK_BOT_TOKEN and settings.PLATFORM_API_URL:
        return cmd_serve(args)
    return cmd_demo(args)


def cmd_demo(args: argparse.Namespace) -> int:
    settings = _settings()
    _setup(settings)
    from bot.demo import run_demo

    try:
        asyncio.run(run_demo(settings, port=getattr(args, "port", None)))
    except KeyboardInterrupt:
        pass
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    settings = _settings()
    _setup(settings)
    from store.db import create_engine, upgrade

    async def _run() -> None:
        engine = create_engine(settings.DATABASE_URL)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(_run())
    print("database schema is up to date")
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    settings = _settings()
    # The store is filled through the app's services, whose Slack client needs the bot token.
    missing = [n for n in ("PLATFORM_API_URL", "PLATFORM_API_TOKEN", "SLACK_BOT_TOKEN") if not getattr(settings, n)]
    if missing:
        print(f"runbot: {', '.join(missing)} required for `runbot sync`", file=sys.stderr)
        return 2
    _setup(settings)
    from bot.sync import sync_standalone

    summary = asyncio.run(sync_standalone(settings))
    print(f"synced {summary['runs']} runs and {summary['approvals']} pending approvals "
          f"(back {settings.RETENTION_DAYS} days)")
    return 0


def render_manifest(settings: Settings) -> str:
    text = MANIFEST.read_text()
    return text.replace("https://runbot.example.com", settings.public_url)


def cmd_manifest(args: argparse.Namespace) -> int:
    print(render_manifest(_settings()), end="")
    return 0


def cmd_platform(args: argparse.Namespace) -> int:
    from bot.sim.platform import main as platform_main

    platform_main(args.rest)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        for line in str(exc).splitlines():
            print(f"FAIL  configuration: {line}")
        return 1
    from bot.checks import run_checks

    results = asyncio.run(run_checks(settings))
    failed = False
    for name, verdict, detail in results:
        print(f"{verdict:<5} {name}: {detail}")
        failed = failed or verdict == "FAIL"
    print("all checks passed" if not failed else "some checks failed")
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="runbot", description="Slack chat-ops for the workflow platform")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="serve Slack and the platform's webhooks").set_defaults(func=cmd_serve)
    start = sub.add_parser("start", help="what `make run` starts: serve when configured, else the demo")
    start.add_argument("--port", type=int)
    start.set_defaults(func=cmd_start)
    demo = sub.add_parser("demo", help="the sandbox: reference platform, Slack stand-in and the bot")
    demo.add_argument("--port", type=int)
    demo.set_defaults(func=cmd_demo)
    db = sub.add_parser("db", help="database commands")
    dbsub = db.add_subparsers(dest="db_command", required=True)
    dbsub.add_parser("upgrade", help="apply Alembic migrations").set_defaults(func=cmd_db_upgrade)
    sub.add_parser("sync", help="fill the store from the platform's API").set_defaults(func=cmd_sync)
    sub.add_parser("manifest", help="print the Slack app manifest for PUBLIC_URL").set_defaults(func=cmd_manifest)
    platform = sub.add_parser("platform", help="start the reference platform", add_help=False)
    platform.add_argument("rest", nargs=argparse.REMAINDER)
    platform.set_defaults(func=cmd_platform)
    sub.add_parser("check", help="validate the configuration and reach Slack and the platform").set_defaults(
        func=cmd_check)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    raise SystemExit(args.func(args))
