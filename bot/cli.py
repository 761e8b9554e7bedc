"""`houqin`: run the service, migrate the database, seed demo data."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from bot.settings import Settings, SettingsError, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="houqin", description="Houqin (后勤): office logistics from chat.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="start Houqin (channels whose tokens are set, the browser chat in demo mode)")
    run.add_argument("--demo", action="store_true", help="demo mode: the browser chat with a person picker")
    commands.add_parser("migrate", help="bring the database schema up to date")
    commands.add_parser("demo", help="seed the demo organisation (idempotent)")
    args = parser.parse_args(argv)

    overrides: dict[str, object] = {"demo_mode": True} if getattr(args, "demo", False) else {}
    try:
        settings = load_settings(**overrides)
    except SettingsError as problem:
        print(f"houqin: {problem}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    # httpx logs every request URL at INFO, and a Telegram URL contains the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)

    if args.command == "migrate":
        return migrate(settings)
    if args.command == "demo":
        return asyncio.run(seed_demo(settings))
    return serve(settings)


def migrate(settings: Settings) -> int:
    from storage.migrate import upgrade

    upgrade(settings.database_url)
    logging.getLogger("houqin").info("database is up to date")
    return 0


async def seed_demo(settings: Settings) -> int:
    from storage.db import Database
    from storage.demo import seed

    db = Database(settings.database_url)
    try:
        async with db.unit_of_work() as session:
            added = await seed(session)
    finally:
        await db.dispose()
    summary = ", ".join(f"{count} {kind}" for kind, count in added.items())
    logging.getLogger("houqin").info("demo data: added %s", summary)
    return 0


def serve(settings: Settings) -> int:
    import uvicorn

    from bot.app import create_app
    from bot.service import build_service

    service = build_service(settings)
    if settings.web_enabled and not settings.demo_mode:
        logging.getLogger("houqin").info("browser chat is off outside demo mode until sign-in exists")
    if service.web is not None:
        logging.getLogger("houqin").info("browser chat at http://%s:%s/", settings.http_host, settings.http_port)
    uvicorn.run(
        create_app(service),
        host=settings.http_host,
        port=settings.http_port,
        log_level=settings.log_level.lower(),
        access_log=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
