"""`houqin`: run the service, migrate the database, seed demo data, print door signs, import the catalog
and surveys."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot import logs
from bot.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from types import FrameType

    from sqlalchemy.ext.asyncio import AsyncSession

    from bot.service import Service
    from handlers.core.i18n import Msg
    from handlers.core.uploads import Parser


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="houqin", description="Houqin (后勤): office logistics from chat.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run", help="start Houqin (channels whose tokens are set; the browser chat with PUBLIC_URL or in demo mode)"
    )
    run.add_argument("--demo", action="store_true", help="demo mode: the browser chat with a person picker")
    commands.add_parser("migrate", help="bring the database schema up to date")
    demo = commands.add_parser("demo", help="seed the demo organisation, with six months of its past (idempotent)")
    demo.add_argument("--no-history", action="store_true", help="only the organisation: people, places, stores")
    qr = commands.add_parser(
        "qr",
        help="write a printable door sign (PNG) per room: scan it to report a repair there; one per "
        "inspection checkpoint (into DIR/inspections): scanned on a round, it records the visit; and one per "
        "bookable meeting room (into DIR/bookings): scanned at the start, it checks the booking in",
    )
    qr.add_argument("--building", action="append", default=[], metavar="CODE", help="only this building (repeatable)")
    qr.add_argument("--out", type=Path, default=Path("var/qr"), metavar="DIR", help="output folder (default ./var/qr)")
    supply = commands.add_parser("supply", help="the supplies catalog")
    supply_commands = supply.add_subparsers(dest="supply_command", required=True)
    catalog = supply_commands.add_parser(
        "import", help="add or update catalog items from a CSV or XLSX file (columns as /stock import takes)"
    )
    catalog.add_argument("file", type=Path, metavar="FILE", help="a .csv (UTF-8 or GBK) or .xlsx file")
    meter = commands.add_parser("meter", help="meters of electricity, water and gas (节能降耗)")
    meter_commands = meter.add_subparsers(dest="meter_command", required=True)
    meters = meter_commands.add_parser(
        "import", help="add or update meters from a CSV or XLSX file (columns as /meter import takes)"
    )
    meters.add_argument("file", type=Path, metavar="FILE", help="a .csv (UTF-8 or GBK) or .xlsx file")
    survey = commands.add_parser("survey", help="satisfaction surveys")
    survey_commands = survey.add_subparsers(dest="survey_command", required=True)
    survey_import = survey_commands.add_parser(
        "import", help="import a survey definition (YAML or JSON) as a draft; /survey launch sends it"
    )
    survey_import.add_argument("file", type=Path, metavar="FILE", help="a .yml, .yaml or .json file")
    inspect = commands.add_parser("inspect", help="inspection rounds (巡检)")
    inspect_commands = inspect.add_subparsers(dest="inspect_command", required=True)
    route_import = inspect_commands.add_parser(
        "import", help="import an inspection route (YAML or JSON): checkpoints, checklists, schedules"
    )
    route_import.add_argument("file", type=Path, metavar="FILE", help="a .yml, .yaml or .json file")
    feishu = commands.add_parser("feishu", help="Feishu / Lark")
    feishu_commands = feishu.add_subparsers(dest="feishu_command", required=True)
    feishu_commands.add_parser(
        "sync", help="read the contact directory now: departments, leaders as managers, people (and leavers)"
    )
    dingtalk = commands.add_parser("dingtalk", help="DingTalk (钉钉)")
    dingtalk_commands = dingtalk.add_subparsers(dest="dingtalk_command", required=True)
    dingtalk_commands.add_parser(
        "sync", help="read the contact directory now: departments, their 主管 as managers, people (and leavers)"
    )
    wecom = commands.add_parser("wecom", help="WeCom (企业微信)")
    wecom_commands = wecom.add_subparsers(dest="wecom_command", required=True)
    wecom_commands.add_parser(
        "sync", help="read the contact directory now: departments, leaders as managers, members (and leavers)"
    )
    wecom_commands.add_parser("menu", help="set the app's menu: Repair, Supplies, More (my requests, surveys, …)")
    commands.add_parser("jobs", help="list the scheduled jobs: when each runs next, and its last runs")
    digest = commands.add_parser("digest", help="build the weekly digest on demand")
    digest.add_argument("--now", action="store_true", required=True, help="the last 7 days, now (required)")
    digest.add_argument("--dry-run", action="store_true", help="print it (and the chart's path) instead of sending")
    digest.add_argument("--to", metavar="PERSON", help="only this person (id, demo key or display name)")
    commands.add_parser("doctor", help="check the configuration: database, channels, URL, fonts, clock, disk")
    backup = commands.add_parser("backup", help="copy the whole database into one file, while Houqin runs")
    backup.add_argument(
        "file", type=Path, nargs="?", metavar="FILE", help="where (default: BACKUP_DIR or ./var/backups, dated)"
    )
    restore = commands.add_parser("restore", help="bring a backup back into an empty database, then migrate it")
    restore.add_argument("file", type=Path, metavar="FILE", help="a file `houqin backup` wrote")
    restore.add_argument("--force", action="store_true", help="replace whatever the database holds now")
    args = parser.parse_args(argv)
    if args.command != "run":
        gc.enable()  # held off while loading (bot/launch.py); `houqin run` once the service is built

    overrides: dict[str, object] = {"demo_mode": True} if getattr(args, "demo", False) else {}
    try:
        settings = load_settings(**overrides)
    except SettingsError as problem:
        print(f"houqin: {problem}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level, settings.log_format)
    from bot.service import configure_areas

    configure_areas(settings)
    # Alembic narrates each step at INFO; only `houqin migrate` should say what it ran.
    logging.getLogger("alembic").setLevel(logging.INFO if args.command == "migrate" else logging.WARNING)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

    if args.command == "migrate":
        return migrate(settings)
    # Before the schema check: the doctor reports it, a backup is taken of any database, a restore
    # goes into an empty one.
    if args.command == "doctor":
        return asyncio.run(examine(settings))
    if args.command == "backup":
        return asyncio.run(back_up(settings, args.file))
    if args.command == "restore":
        return asyncio.run(restore_backup(settings, args.file, force=args.force))
    from storage.migrate import SchemaNotCurrent, check_current

    try:
        check_current(settings.database_url)
    except SchemaNotCurrent as problem:
        print(f"houqin: {problem}", file=sys.stderr)
        return 2
    if args.command == "demo":
        return asyncio.run(seed_demo(settings, history=not args.no_history))
    if args.command == "qr":
        return asyncio.run(door_signs(settings, args.building, args.out))
    if args.command == "supply":
        return import_catalog(settings, args.file)
    if args.command == "survey":
        return import_survey(settings, args.file)
    if args.command == "inspect":
        return import_route(settings, args.file)
    if args.command == "meter":
        return import_meters(settings, args.file)
    if args.command == "wecom" and args.wecom_command == "menu":
        return asyncio.run(wecom_menu(settings))
    if args.command in ("feishu", "dingtalk", "wecom"):
        return asyncio.run(directory_sync(settings, args.command))
    if args.command == "jobs":
        return asyncio.run(list_jobs(settings))
    if args.command == "digest":
        return asyncio.run(digest_now(settings, args.dry_run, args.to))
    return serve(settings)


def migrate(settings: Settings) -> int:
    from storage.migrate import upgrade

    upgrade(settings.database_url)
    logging.getLogger("houqin").info("database is up to date")
    return 0


async def examine(settings: Settings) -> int:
    """`houqin doctor`: exit 0 only when every check passes."""
    from bot import doctor

    findings = await doctor.examine(settings)
    print(doctor.table(findings))
    failed = [f for f in findings if not f.ok]
    print(
        f"\n{len(findings) - len(failed)} of {len(findings)} checks pass"
        + ("." if not failed else "; fix the ✗ above.")
    )
    return 1 if failed else 0


async def back_up(settings: Settings, file: Path | None) -> int:
    from storage import backup
    from storage.models import utcnow

    try:
        name = backup.default_name(settings.database_url, utcnow())
        written = await backup.backup(
            settings.database_url, file or (settings.backup_dir or Path("var/backups")) / name
        )
    except backup.BackupError as problem:
        print(f"houqin: {problem}", file=sys.stderr)
        return 1
    print(f"backup written: {written} ({written.stat().st_size:,} bytes)")
    return 0


async def restore_backup(settings: Settings, file: Path, *, force: bool) -> int:
    from storage import backup
    from storage.migrate import upgrade_async

    try:
        await backup.restore(settings.database_url, file, force=force)
    except backup.BackupError as problem:
        print(f"houqin: {problem}", file=sys.stderr)
        return 1
    # Taken by an older Houqin, it comes back at that schema: brought up to this one's.
    await upgrade_async(settings.database_url)
    print(f"restored {file} and brought the database up to date")
    return 0


async def seed_demo(settings: Settings, history: bool = True) -> int:
    from bot.areas import AREAS
    from handlers.core.demo import write_past
    from handlers.core.org_settings import current_schedule
    from storage.db import Database
    from storage.demo import seed_database
    from storage.models import utcnow

    added = await seed_database(settings.database_url)
    summary = ", ".join(f"{count} {kind}" for kind, count in added.items())
    logging.getLogger("houqin").info("demo data: added %s", summary)
    if history:
        db = Database(settings.database_url)
        try:
            schedule = await current_schedule(db, settings.schedule)
            past = await write_past(db, AREAS, utcnow(), schedule)
        finally:
            await db.dispose()
        said = ", ".join(f"{count} {kind}" for kind, count in past.items()) if past is not None else "written before"
        logging.getLogger("houqin").info("demo past: %s", said or "nothing")
    return 0


async def door_signs(settings: Settings, building_codes: list[str], out_dir: Path) -> int:
    from bot.qr import (
        BotLookupError,
        clean_bot_username,
        fetch_bot_username,
        find_fonts,
        write_checkin_signs,
        write_checkpoint_signs,
        write_signs,
    )
    from handlers.bookings.rooms import door_check_ins
    from handlers.core.rooms import UnknownBuildingError, rooms_of
    from handlers.inspections.routes import door_checkpoints
    from storage.db import Database

    def say(line: str) -> None:
        print(f"houqin: {line}", file=sys.stderr)

    try:
        username = clean_bot_username(settings.telegram_bot_username)
    except ValueError as problem:
        say(f"TELEGRAM_BOT_USERNAME is invalid: {problem}")
        return 2
    db = Database(settings.database_url)
    try:
        async with db.unit_of_work() as session:
            rooms = await rooms_of(session, building_codes)
            checkpoints = await door_checkpoints(session)
            bookable = await door_check_ins(session)
    except UnknownBuildingError as problem:
        say(str(problem))
        return 2
    finally:
        await db.dispose()

    if username is None and settings.telegram_bot_token:
        try:
            username = await fetch_bot_username(settings.telegram_api_base_url, settings.telegram_bot_token)
        except BotLookupError as problem:
            say(f"Telegram did not give the bot's username ({problem}): browser links only; set TELEGRAM_BOT_USERNAME")
    elif username is None:
        say("TELEGRAM_BOT_USERNAME and TELEGRAM_BOT_TOKEN are not set: browser links only")
    if settings.public_url is None:
        say(f"PUBLIC_URL is not set: browser links go to {settings.browser_url}")
    fonts = find_fonts()
    if not fonts.cjk:
        say("no Chinese font found (install fonts-noto-cjk): signs carry English text only")

    try:
        signs = write_signs(
            rooms, bot_username=username, browser_url=settings.browser_url, out_dir=out_dir, fonts=fonts
        )
    except OSError as problem:
        say(f"cannot write signs to {out_dir}: {problem.strerror or problem}")
        return 1
    for sign in signs:
        print(f"{sign.path}  {'  '.join(sign.links)}")
    kind = "Telegram and browser links" if username else "browser links only"
    print(f"{len(signs)} door signs in {out_dir} ({kind})" if signs else "no rooms: no door signs written")
    if checkpoints:
        points = write_checkpoint_signs(
            checkpoints,
            bot_username=username,
            browser_url=settings.browser_url,
            out_dir=out_dir / "inspections",
            fonts=fonts,
        )
        for point in points:
            print(f"{point.path}  {'  '.join(point.links)}")
        named = "checkpoint code" if len(points) == 1 else "checkpoint codes"
        print(f"{len(points)} inspection {named} in {out_dir / 'inspections'} ({kind})")
    if bookable:
        check_ins = write_checkin_signs(
            bookable, bot_username=username, browser_url=settings.browser_url, out_dir=out_dir / "bookings", fonts=fonts
        )
        for check_in in check_ins:
            print(f"{check_in.path}  {'  '.join(check_in.links)}")
        codes = "check-in code" if len(check_ins) == 1 else "check-in codes"
        print(f"{len(check_ins)} meeting room {codes} in {out_dir / 'bookings'} ({kind})")
    return 0


def import_catalog(settings: Settings, path: Path) -> int:
    """`houqin supply import FILE`: the same rules as /stock import; nothing is imported if a line is wrong."""
    from handlers.core.i18n import msg
    from handlers.supplies.stock import CATALOG, apply_import

    async def store(session: AsyncSession, entries: list[dict[str, Any]], now: datetime) -> Msg:
        done = await apply_import(session, entries, None, now)
        return msg("stock.import.done", added=done.added, updated=done.updated)

    return import_file(settings, path, CATALOG, store)


def import_meters(settings: Settings, path: Path) -> int:
    """`houqin meter import FILE`: the same rules as /meter import; nothing is imported if a line is wrong."""
    from handlers.core import audit, uploads
    from handlers.core.i18n import msg
    from handlers.energy.meters import MeterProblems
    from handlers.energy.meters import import_meters as store_meters

    async def store(session: AsyncSession, table: list[list[str]], now: datetime) -> Msg:
        added, updated = await store_meters(session, table, now)
        audit.write(
            session,
            action="meter.import",
            actor_id=None,
            channel="cli",
            at=now,
            detail={"added": added, "updated": updated},
        )
        return msg("meter.import.done", added=added, updated=updated)

    try:
        return import_file(settings, path, uploads.TABLE, store)
    except MeterProblems as problems:
        print(problems.said.render(settings.default_locale), file=sys.stderr)
        return 1


def import_survey(settings: Settings, path: Path) -> int:
    """`houqin survey import FILE`: the same checks as /survey import, each problem with its line."""
    from handlers.surveys.definitions import FILE, Definition
    from handlers.surveys.records import imported, store_definition

    async def store(session: AsyncSession, definition: Definition, now: datetime) -> Msg:
        return imported(await store_definition(session, definition, None, now))

    return import_file(settings, path, FILE, store)


def import_route(settings: Settings, path: Path) -> int:
    """`houqin inspect import FILE`: the same checks as /inspect import, each problem with its line
    (rooms and people included); a route already there gets a new version if it changed."""
    from handlers.core.i18n import Label, msg
    from handlers.inspections.routes import FILE, keep, resolve

    async def store(session: AsyncSession, route: dict[str, Any], now: datetime) -> Msg:
        # A room or person the organisation does not have: RouteProblems, told by store_file.
        kept = await keep(session, await resolve(session, route), None)
        key = "inspect.import.done" if kept.changed else "inspect.import.unchanged"
        name = Label(kept.route.name_zh, kept.route.name_en)
        return msg(key, name=name, code=kept.route.code, version=kept.route.version, id=kept.route.id)

    return import_file(settings, path, FILE, store)


def import_file(
    settings: Settings,
    path: Path,
    parser: Parser,
    store: Callable[[AsyncSession, Any, datetime], Awaitable[Msg]],
) -> int:
    """Read and check a file the way its chat command does (handlers/core/uploads.py: the same limits, in a
    child process), and store it only if every line is right: 2 if it cannot be read, 1 with its
    problems (over a limit: one line), 0 with what was stored (in the default language)."""
    from handlers.core import uploads

    try:
        with path.open("rb") as file:
            # One byte past the limit says enough: a 1.5 GB file is never read whole.
            content = file.read(parser.limits.max_bytes + 1)
    except OSError as problem:
        print(f"houqin: cannot read {path}: {problem.strerror or problem}", file=sys.stderr)
        return 2
    try:
        parsed = uploads.parse_now(parser, path.name, content)
    except uploads.FileRefused as refused:
        print(f"houqin: {path}: {refused.message().render(settings.default_locale)}", file=sys.stderr)
        return 1
    except uploads.FileProblem as problems:
        print(problems.message().render(settings.default_locale), file=sys.stderr)
        return 1
    return asyncio.run(store_file(settings, parsed, store))


async def store_file(
    settings: Settings, parsed: Any, store: Callable[[AsyncSession, Any, datetime], Awaitable[Msg]]
) -> int:
    from handlers.core import uploads
    from storage.db import Database
    from storage.models import utcnow

    db = Database(settings.database_url)
    try:
        async with db.unit_of_work() as session:
            # Rendered while the session is open: the message may read what was just stored.
            said = (await store(session, parsed, utcnow())).render(settings.default_locale)
    except uploads.FileProblem as problems:
        # Found only against the database (a room the file names that is not there): nothing stored.
        print(problems.message().render(settings.default_locale), file=sys.stderr)
        return 1
    finally:
        await db.dispose()
    print(said)
    return 0


async def directory_sync(settings: Settings, name: str) -> int:
    """`houqin feishu sync`, `houqin dingtalk sync`, `houqin wecom sync`: the platform's directory applied
    now (as the daily sync does), what changed said."""
    from bot.channels.dingtalk.api import DingTalkError
    from bot.channels.feishu.api import FeishuError
    from bot.channels.wecom.api import WeComError

    platform, enabled, needed, refused = {
        "feishu": ("Feishu", settings.feishu_enabled, "FEISHU_APP_ID and FEISHU_APP_SECRET", FeishuError),
        "dingtalk": (
            "DingTalk",
            settings.dingtalk_enabled,
            "DINGTALK_CLIENT_ID and DINGTALK_CLIENT_SECRET",
            DingTalkError,
        ),
        "wecom": ("WeCom", settings.wecom_enabled, "WECOM_CORP_ID and the app's settings (WECOM_*)", WeComError),
    }[name]
    if not enabled:
        print(f"houqin: {needed} are needed to read the {platform} directory", file=sys.stderr)
        return 2

    async def sync(channel: Any) -> str:
        return f"{platform} directory: {await channel.sync_directory()}"

    hint = "may the app read the contacts?"
    return await with_channel(settings, name, sync, platform, refused, "give the directory", hint)


async def wecom_menu(settings: Settings) -> int:
    """`houqin wecom menu`: the app's menu set (menu/create), what it now holds said."""
    from bot.channels.wecom.api import WeComError

    async def create(channel: Any) -> str:
        menu = await channel.create_menu()
        entries = [
            entry["name"] + (f" ({', '.join(s['name'] for s in entry['sub_button'])})" if "sub_button" in entry else "")
            for entry in menu["button"]
        ]
        return f"WeCom menu set: {' | '.join(entries)}"

    if not settings.wecom_enabled:
        print("houqin: WECOM_CORP_ID and the app's settings (WECOM_*) are needed", file=sys.stderr)
        return 2
    return await with_channel(
        settings, "wecom", create, "WeCom", WeComError, "set the menu", "is WECOM_SECRET this app's?"
    )


async def with_channel(
    settings: Settings,
    name: str,
    work: Callable[[Any], Awaitable[str]],
    platform: str,
    refused: type[Exception],
    what: str,
    hint: str,
) -> int:
    """A channel built (not started) for one piece of work (`houqin feishu sync`, `houqin wecom menu`):
    what it says printed, or what its platform refused."""
    from bot.service import build_service

    service = build_service(settings)
    channel: Any = service.channel(name)
    try:
        said = await work(channel)
    except refused as problem:
        print(f"houqin: {platform} refused to {what} ({problem}); {hint}")
        return 1
    finally:
        await channel.stop()
        await service.db.dispose()
    print(said)
    return 0


async def list_jobs(settings: Settings) -> int:
    """`houqin jobs`: every scheduled job, its next run (local time) and its last runs with their outcome."""
    from bot.areas import AREAS
    from bot.service import core_jobs
    from jobs.runs import last_runs
    from jobs.scheduler import Jobs
    from storage.db import Database
    from storage.models import utcnow

    db = Database(settings.database_url)
    try:
        jobs = Jobs(db, settings.schedule, settings.rules, table=core_jobs(settings), areas=AREAS)
        now, zone = utcnow(), settings.zone
        for job in jobs.table:
            upcoming = jobs.next_run(job, now)
            when = upcoming.astimezone(zone).strftime("%Y-%m-%d %H:%M %a") if upcoming else "never"
            print(f"{job.name}: {job.description}\n  next run: {when} ({settings.timezone})")
            runs = await last_runs(db, job.name)
            if not runs:
                print("  no runs yet")
            for run in runs:
                at = run.started_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
                print(f"  {at}  {run.period}  {run.outcome or 'unfinished'}")
    finally:
        await db.dispose()
    return 0


async def digest_now(settings: Settings, dry_run: bool, to: str | None) -> int:
    """`houqin digest --now`: the last seven days' digest, printed (--dry-run) or sent once today."""
    from bot.areas import AREAS
    from handlers.digest.send import dry_run as preview
    from handlers.digest.send import find_person, send_weekly
    from storage.db import Database
    from storage.models import utcnow

    db = Database(settings.database_url)
    try:
        only = None
        if to is not None:
            async with db.unit_of_work() as session:
                person = await find_person(session, to)
            if person is None:
                print(f"houqin: nobody is called {to!r} (give an id, a demo key or a display name)", file=sys.stderr)
                return 2
            only = [person]
        now = utcnow()
        if dry_run:
            shown = await preview(db, settings.schedule, now, settings.default_locale, only, areas=AREAS)
            await asyncio.to_thread(print_previews, shown, Path("var/digest"))
            return 0
        today = settings.schedule.day_key(now)
        tally = await send_weekly(
            db,
            settings.schedule,
            now,
            now,
            only,
            period=f"manual:{today}",
            default_locale=settings.default_locale,
            areas=AREAS,
        )
        print(f"digest: {tally}")
    finally:
        await db.dispose()
    return 0


def print_previews(shown: list[Any], out_dir: Path) -> None:
    """A dry run's digests on the terminal, each chart written next to it as a PNG."""
    if not shown:
        print("nobody gets a digest (no managers, logistics admins or admins)")
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    for digest in shown:
        if digest.chart is None:
            print(f"=== {digest.heading}\n{digest.text}\n")
            continue
        chart = out_dir / digest.chart_name
        chart.write_bytes(digest.chart)
        print(f"=== {digest.heading}\n{digest.text}\n[chart: {chart}]\n")


def serve(settings: Settings) -> int:
    import uvicorn

    class Stopping(uvicorn.Server):
        """uvicorn, telling the service as soon as SIGTERM (or Ctrl-C) arrives: requests then get 503."""

        def __init__(self, config: uvicorn.Config, service: Service) -> None:
            super().__init__(config)
            self.service = service

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            self.service.stopping = True
            super().handle_exit(sig, frame)

    from bot.app import create_app
    from bot.service import build_service

    service = build_service(settings)
    if settings.web_enabled and not settings.web_chat_enabled:
        logging.getLogger("houqin").info("browser chat is off: set PUBLIC_URL (where people open it) to sign in to it")
    if service.channel("web") is not None:
        how = "sign-in" if settings.web_signin else "demo"
        logging.getLogger("houqin").info("browser chat at %s/ (%s)", settings.browser_url, how)
        logging.getLogger("houqin").info("web console at %s/console", settings.browser_url)
    config = uvicorn.Config(
        create_app(service, settle=True),
        host=settings.http_host,
        port=settings.http_port,
        log_level=settings.log_level.lower(),
        access_log=False,
        # A clean stop within the 10 s a service manager allows: requests in hand get 4 s, then the
        # channels finish their updates and notices in hand (STOP_GRACE_SECONDS) and Houqin exits.
        timeout_graceful_shutdown=4,
    )
    # Loaded and built: collected from now on; once started, what is here is frozen (settle_memory).
    gc.enable()
    Stopping(config, service).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
