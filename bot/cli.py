"""The `runbot` command: serve, start, demo, db upgrade, sync, manifest, platform, check.

`serve` is the product alone. The reference servers (package `reference`) are imported only here, inside
`demo`/`start` and `platform`, so the product runs where that package is not installed.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from bot.config import Settings, SettingsError, load_settings
from bot.logs import secrets_of, setup_logging

log = logging.getLogger("runbot")


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        for line in str(exc).splitlines():
            print(f"runbot: {line}", file=sys.stderr)
        raise SystemExit(2) from None


def _setup(settings: Settings) -> None:
    setup_logging(settings.LOG_LEVEL, settings.LOG_FORMAT, secrets_of(settings))


def _missing_for_serve(settings: Settings, command: str) -> bool:
    missing = settings.missing_for_serve()
    # serve is never the demo: name the Slack mode only once a bot token chose one.
    mode = f" in {settings.mode} mode" if settings.mode != "demo" else ""
    for name in missing:
        print(
            f"runbot: {name} is required for `runbot {command}`{mode} "
            f"(see docs/configuration.md, or run `make run` for the demo)",
            file=sys.stderr,
        )
    return bool(missing)


def _serve(settings: Settings) -> int:
    from aiohttp import web

    from bot.app import create_app

    for warning in settings.warnings():
        log.warning(warning)
    log.info("runbot serving on %s:%s in %s mode", settings.HOST, settings.PORT, settings.mode)
    web.run_app(
        create_app(settings), host=settings.HOST, port=settings.PORT, print=None, shutdown_timeout=10, access_log=None
    )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings()
    if _missing_for_serve(settings, "serve"):
        return 2
    _setup(settings)
    return _serve(settings)


def simulated_parts(*, real_slack: bool, real_platform: bool) -> str:
    """What `runbot start` and `runbot demo` log first: which parts are real and which are simulated."""
    if not real_slack:
        return (
            "SIMULATED platform (reference, sample workflows) and SIMULATED Slack (stand-in with the "
            "browser sandbox): nothing reaches a real workspace or platform"
        )
    if not real_platform:
        return "SIMULATED platform (reference, sample workflows) with REAL Slack (your workspace)"
    return "nothing simulated: real Slack and the real platform"


def cmd_start(args: argparse.Namespace) -> int:
    """What `make run` starts: the bot against real Slack and the platform when configured, else the demo."""
    settings = _settings()
    real_slack = bool(settings.SLACK_BOT_TOKEN)
    real = real_slack and bool(settings.PLATFORM_API_URL)
    if real and _missing_for_serve(settings, "start"):
        return 2
    _setup(settings)
    parts = simulated_parts(real_slack=real_slack, real_platform=real)
    if settings.PLATFORM_API_URL and not real_slack:
        parts += " (PLATFORM_API_URL is ignored without Slack settings)"
    elif real_slack and not real:
        parts += "; set PLATFORM_API_URL to use your platform"
    log.warning("runbot start: %s", parts)
    if not real:
        return _demo(settings, args.port)
    return _serve(settings.model_copy(update={"PORT": args.port}) if args.port else settings)


def cmd_demo(args: argparse.Namespace) -> int:
    settings = _settings()
    _setup(settings)
    log.warning("runbot demo: %s", simulated_parts(real_slack=bool(settings.SLACK_BOT_TOKEN), real_platform=False))
    return _demo(settings, args.port)


def _demo(settings: Settings, port: int | None) -> int:
    from bot.demo import run_demo

    try:
        asyncio.run(run_demo(settings, port=port))
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
    summary = asyncio.run(_sync_standalone(settings))
    print(
        f"synced {summary['runs']} runs and {summary['approvals']} pending approvals "
        f"(back {settings.RETENTION_DAYS} days)"
    )
    return 0


async def _sync_standalone(settings: Settings) -> dict:
    """`runbot sync` outside the server: the app's services without the HTTP server."""
    from aiohttp import web

    from bot.app import create_app
    from bot.keys import SERVICES
    from bot.sync import sync

    app = create_app(settings)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        summary = await sync(app[SERVICES])
        await asyncio.sleep(0.5)
        await app[SERVICES].deliverer.deliver_due()
        return summary
    finally:
        await runner.cleanup()


def cmd_manifest(args: argparse.Namespace) -> int:
    from bot.manifest import render_manifest

    settings = _settings()
    text, warnings = render_manifest(settings)
    if not settings.PUBLIC_URL and not settings.SLACK_APP_TOKEN:
        warnings.insert(
            0,
            f"PUBLIC_URL is not set, so the manifest points Slack at {settings.public_url}, which Slack "
            "refuses: set PUBLIC_URL to the bot's public HTTPS address, or SLACK_APP_TOKEN for Socket Mode",
        )
    for warning in warnings:
        print(f"runbot: warning: {warning}", file=sys.stderr)
    print(text, end="")
    return 0


def cmd_platform(args: argparse.Namespace) -> int:
    from reference.platform.cli import main as platform_main

    platform_main(args.rest)
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from bot.checks import load_for_check, run_checks

    settings, failures = load_for_check()
    results = asyncio.run(run_checks(settings, failures))
    for verdict, name, detail in results:
        print(f"{verdict:<5} {name}: {detail}")
    failed = sum(verdict == "FAIL" for verdict, _, _ in results)
    warned = sum(verdict == "WARN" for verdict, _, _ in results)
    if failed:
        print(f"{failed} check(s) failed" + (f", {warned} warning(s)" if warned else ""))
    else:
        print("all checks passed" + (f", {warned} warning(s)" if warned else ""))
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="runbot", description="Slack chat-ops for the workflow platform")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str, func, **kwargs) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, help=summary, description=summary, **kwargs)
        cmd.set_defaults(func=func)
        return cmd

    command("serve", "the bot alone, against real Slack and the real platform", cmd_serve)
    start = command("start", "what `make run` starts: serve if configured, else the demo", cmd_start)
    start.add_argument(
        "--port", type=int, help="the bot's port (default: PORT); the demo's other servers take the next two"
    )
    demo = command("demo", "reference platform + bot + Slack sandbox (or your Slack)", cmd_demo)
    demo.add_argument(
        "--port",
        type=int,
        help="the bot's port (default: PORT); the sandbox takes the next one, the reference platform the one after",
    )
    db = sub.add_parser("db", help="database commands", description="database commands")
    dbsub = db.add_subparsers(dest="db_command", required=True, metavar="COMMAND")
    dbsub.add_parser("upgrade", help="apply Alembic migrations", description="apply Alembic migrations").set_defaults(
        func=cmd_db_upgrade
    )
    command("sync", "fill the store from the platform's API", cmd_sync)
    command("manifest", "print the Slack app manifest for PUBLIC_URL", cmd_manifest)
    # Its options belong to the reference platform (`runbot platform --help`): they are passed on unparsed.
    command("platform", "start the reference platform on its own", cmd_platform, add_help=False)
    command("check", "validate the configuration and reach Slack and the platform", cmd_check)
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.command == "platform":
        args.rest = rest
    elif rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    raise SystemExit(args.func(args))
