"""Shared fixtures: a migrated, demo-seeded database per test, on SQLite and on PostgreSQL.

The demo organisation is seeded once per test process, not once per test: a seeded SQLite file is
copied for each test, and each test's PostgreSQL database is emptied and refilled from the rows the
seed wrote (measured on this machine: about 75 ms, against 0.8 s to TRUNCATE and seed again and
1.1 s for CREATE DATABASE … TEMPLATE). The seed's timestamps are then moved to the test's own time,
so a test sees what seeding it there and then would have written. A test that asks for
`database_url` without `db` gets the migrated database empty.

PostgreSQL runs must happen in CI (CI=true): there a missing server fails the run instead of skipping.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import gc
import os
import shutil
import ssl
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx._transports.default
import pytest
from sqlalchemy import Column, DateTime, Table, bindparam, select, text, update

from bot.service import AREAS
from handlers.core import authz
from handlers.core.engine import Houqin
from storage.db import Database
from storage.demo import seed_database
from storage.migrate import upgrade
from storage.models import Base, utcnow
from tests.compiled import share_between_engines
from tests.fakes.telegram_api import FakeBotAPI

PG_ADMIN_DSN = os.environ.get("HOUQIN_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
PG_TEST_DB = f"houqin_test_{os.getpid()}"
# Children before parents, so each DELETE leaves no row pointing at a deleted one.
TABLES = [table.name for table in reversed(Base.metadata.sorted_tables)]


def _pg_url(database: str) -> str:
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{database}"


def _pg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def _recreate_pg_database() -> None:
    connection = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{PG_TEST_DB}" WITH (FORCE)')
        await connection.execute(f'CREATE DATABASE "{PG_TEST_DB}"')
    finally:
        await connection.close()


async def _drop_pg_database() -> None:
    connection = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{PG_TEST_DB}" WITH (FORCE)')
    finally:
        await connection.close()


# --- the seed, once: its rows (PostgreSQL), its timestamps (both) --------------------------------


@dataclass(frozen=True)
class Stamps:
    """Every timestamp the seed wrote, by table, column and primary key, and when the seed began."""

    seeded_at: datetime
    values: dict[tuple[str, str], list[tuple[tuple[Any, ...], datetime]]]


def _timestamps(table: Table) -> list[Column[Any]]:
    return [column for column in table.columns if isinstance(getattr(column.type, "impl", column.type), DateTime)]


async def _seed_and_read_stamps(url: str) -> Stamps:
    seeded_at = utcnow()
    await seed_database(url)
    database = Database(url)
    values: dict[tuple[str, str], list[tuple[tuple[Any, ...], datetime]]] = {}
    try:
        async with database.unit_of_work() as session:
            for table in Base.metadata.sorted_tables:
                key = list(table.primary_key.columns)
                for column in _timestamps(table):
                    rows = (await session.execute(select(*key, column).where(column.is_not(None)))).all()
                    if rows:
                        values[table.name, column.name] = [(tuple(row[:-1]), row[-1]) for row in rows]
    finally:
        await database.dispose()
    return Stamps(seeded_at, values)


async def _restamp(database: Database, stamps: Stamps) -> None:
    """Move the seed's timestamps by the time since it ran: as if the seed had run for this test."""
    moved = utcnow() - stamps.seeded_at
    async with database.unit_of_work() as session:
        for (table_name, column_name), rows in stamps.values.items():
            table = Base.metadata.tables[table_name]
            key = list(table.primary_key.columns)
            statement = (
                update(table)
                .where(*(column == bindparam(f"b_key{i}") for i, column in enumerate(key)))
                .values({column_name: bindparam("b_at")})
            )
            given = [{"b_at": at + moved} | {f"b_key{i}": v for i, v in enumerate(k)} for k, at in rows]
            await session.execute(statement, given)


@dataclass(frozen=True)
class PostgresDatabase:
    """The test process's own database, and what it holds right after migrating and seeding."""

    url: str
    sequences: list[str]
    seeded_rows: dict[str, tuple[list[str], list[tuple[Any, ...]]]]
    seeded_sequences: dict[str, int]
    stamps: Stamps
    superuser: bool

    async def reset(self, seeded: bool) -> None:
        """Empty every table and restart every sequence (as TRUNCATE … RESTART IDENTITY would), then
        put the seed's rows and sequence positions back if asked, in one transaction.

        DELETE, not TRUNCATE (a new file per table, 0.7 s for all of them); as a replica would, so
        that triggers (audit_log is append-only; tests/faults.py) and foreign keys stay out of it.
        Only a superuser may say so; anyone else gets TRUNCATE."""
        connection = await asyncpg.connect(_pg_dsn(self.url), timeout=5)
        try:
            async with connection.transaction():
                positions = self.seeded_sequences if seeded else {}
                if self.superuser:
                    emptied = ["SET LOCAL session_replication_role = replica"]
                    emptied += [f'DELETE FROM "{table}"' for table in TABLES]
                else:
                    emptied = ["TRUNCATE " + ", ".join(f'"{table}"' for table in TABLES) + " CASCADE"]
                await connection.execute(
                    ";".join(
                        emptied
                        + [
                            f"SELECT setval('\"{name}\"', {positions.get(name, 1)}, {name in positions})"
                            for name in self.sequences
                        ]
                    )
                )
                if seeded:
                    for table in reversed(TABLES):
                        if table in self.seeded_rows:
                            columns, rows = self.seeded_rows[table]
                            await connection.copy_records_to_table(table, records=rows, columns=columns)
        finally:
            await connection.close()


async def _read_seed(url: str) -> PostgresDatabase:
    connection = await asyncpg.connect(_pg_dsn(url), timeout=5)
    try:
        sequences = [row[0] for row in await connection.fetch("SELECT sequencename FROM pg_sequences")]
        stamps = await _seed_and_read_stamps(url)
        rows: dict[str, tuple[list[str], list[tuple[Any, ...]]]] = {}
        for table in TABLES:
            records = await connection.fetch(f'SELECT * FROM "{table}"')
            if records:
                rows[table] = (list(records[0].keys()), [tuple(record.values()) for record in records])
        positions = await connection.fetch(
            "SELECT sequencename, last_value FROM pg_sequences WHERE last_value IS NOT NULL"
        )
        superuser = bool(await connection.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"))
    finally:
        await connection.close()
    positioned = {name: int(value) for name, value in positions}
    seeded = PostgresDatabase(url, sequences, rows, positioned, stamps, superuser)
    await seeded.reset(seeded=False)
    return seeded


@pytest.fixture(scope="session", autouse=True)
def scheduler_off() -> Iterator[None]:
    """Services built by tests run no scheduled jobs: otherwise the real clock decides whether a
    digest or a scorecard lands in a test's chats (on a Monday morning it does). Tests about jobs
    drive `Jobs` on a clock of their own; subprocesses inherit the setting through the environment."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JOBS_ENABLED", "false")
        yield


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresDatabase]:
    """This test process's PostgreSQL database, migrated, its seed read and the database left empty."""
    try:
        asyncio.run(_recreate_pg_database())
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI and is not reachable at {PG_ADMIN_DSN}: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_DSN} ({exc}); CI runs these")
    url = _pg_url(PG_TEST_DB)
    upgrade(url)
    yield asyncio.run(_read_seed(url))
    asyncio.run(_drop_pg_database())


@pytest.fixture(scope="session")
def postgres_url(postgres: PostgresDatabase) -> str:
    return postgres.url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file, copied for each test (migrating per test would be slow)."""
    path = tmp_path_factory.mktemp("template") / "houqin.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@dataclass(frozen=True)
class SeededFile:
    path: Path
    stamps: Stamps


@pytest.fixture(scope="session")
def sqlite_seeded(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> SeededFile:
    """The migrated file with the demo organisation in it, copied for each test that uses `db`."""
    path = tmp_path_factory.mktemp("seeded") / "houqin.db"
    shutil.copy(sqlite_template, path)
    return SeededFile(path, asyncio.run(_seed_and_read_stamps(f"sqlite+aiosqlite:///{path}")))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The migrated database of this test: seeded already when the test also uses `db`, else empty."""
    seeded = "db" in request.fixturenames
    if request.param == "sqlite":
        template: Path = (
            request.getfixturevalue("sqlite_seeded").path if seeded else request.getfixturevalue("sqlite_template")
        )
        path = tmp_path / "houqin.db"
        shutil.copy(template, path)
        return f"sqlite+aiosqlite:///{path}"
    postgres: PostgresDatabase = request.getfixturevalue("postgres")
    asyncio.run(postgres.reset(seeded))
    return postgres.url


async def _truncate(url: str) -> None:
    db = Database(url)
    try:
        tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
        async with db.unit_of_work() as session:
            await session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    finally:
        await db.dispose()


@pytest.fixture
async def db(database_url: str, request: pytest.FixtureRequest) -> AsyncIterator[Database]:
    """The database with the demo organisation in it."""
    template: SeededFile | PostgresDatabase = request.getfixturevalue(
        "sqlite_seeded" if database_url.startswith("sqlite") else "postgres"
    )
    database = Database(database_url)
    await _restamp(database, template.stamps)
    yield database
    await database.dispose()


@pytest.fixture
async def bot_api() -> AsyncIterator[FakeBotAPI]:
    """A fake Telegram Bot API served on 127.0.0.1 for the length of a test."""
    async with FakeBotAPI() as api:
        yield api


# Lines tests hand over for the end of the run (the reliability scenarios' counts and seeds), as
# ("summary", line) in their user_properties: pytest-xdist carries those from its workers to the main
# process, where a list filled by the workers would stay empty.
SUMMARY: list[str] = []


@pytest.fixture(autouse=True, scope="session")
def areas_actions_declared() -> None:
    """The areas' privileged actions join authz's table as Houqin's start-up does (authz.declare):
    a test calling an area's handler directly, in a process that has built no Houqin yet, is judged
    by the same table (otherwise the outcome would hang on which tests ran before it)."""
    authz.declare(AREAS)


# A test's engine compiles a statement only if no test in this process has (tests/compiled.py).
share_between_engines()


# Every HTTP client a test builds (python-telegram-bot's, the fakes' own, the tests') loads the CA
# bundle into a new SSL context: 90 ms of CPU each, twice a test, for fakes that speak plain HTTP on
# 127.0.0.1. One default context per process serves them all (a context is safe to share).
_HTTPX_TRANSPORTS = vars(httpx._transports.default)
_create_ssl_context = _HTTPX_TRANSPORTS["create_ssl_context"]


@functools.cache
def _default_ssl_context() -> ssl.SSLContext:
    context: ssl.SSLContext = _create_ssl_context()
    return context


def _shared_ssl_context(verify: Any = True, cert: Any = None, trust_env: bool = True) -> ssl.SSLContext:
    if verify is True and cert is None and trust_env:
        return _default_ssl_context()
    context: ssl.SSLContext = _create_ssl_context(verify=verify, cert=cert, trust_env=trust_env)
    return context


_HTTPX_TRANSPORTS["create_ssl_context"] = _shared_ssl_context


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "teardown":
        SUMMARY.extend(str(value) for name, value in report.user_properties if name == "summary")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if SUMMARY:
        terminalreporter.section("reliability")
        for line in SUMMARY:
            terminalreporter.write_line(line)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks what a test needs that `make check` leaves out: the PostgreSQL server (the postgresql
    twin of a test, or a test on the server itself) and a process of its own (the real `houqin run`
    of tests/e2e and of the reliability scenarios). Other tests that start a process say so with
    @pytest.mark.subprocess; tests/browser is marked browser.

    The longest go first (marked slow, then the reliability scenarios and the heavy tests, tens of
    seconds each). The Makefile asks pytest-xdist for work stealing (--dist worksteal): each worker is
    handed an equal run of consecutive tests, and one that runs out takes the second half of the
    longest queue left. So the long ones start at once, at the head of the first worker's run, and the
    others even out around them, instead of all waiting at the end for a long one picked up last.
    (xdist's default load scheduling never takes back what it handed out: the first worker's first
    lot held every long test, and it ran alone for the last 170 s of a 490 s run.)"""
    items.sort(
        key=lambda item: (
            item.get_closest_marker("slow") is None,
            item.get_closest_marker("reliability") is None and item.get_closest_marker("heavy") is None,
        )
    )
    for item in items:
        callspec = getattr(item, "callspec", None)
        twin = callspec is not None and callspec.params.get("database_url") == "postgresql"
        if twin or {"postgres", "postgres_url"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgresql)
        if item.get_closest_marker("reliability") or item.path.parent.name == "e2e":
            item.add_marker(pytest.mark.subprocess)


def pytest_collection_finish(session: pytest.Session) -> None:
    """What collecting loaded (Houqin and its libraries: about 330,000 objects) stays for the whole
    run, so it is frozen out of the garbage collector's sight as `houqin run` freezes what it loaded
    (bot.service.settle_memory), and young objects are collected every 10,000 rather than every 700.
    Measured in make check's tests: 11.4 → 6.0 s of CPU spent collecting."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


def pytest_unconfigure(config: pytest.Config) -> None:
    """A pytest-xdist worker that has reported everything leaves without tearing its interpreter
    down. Freeing its heap took seconds, and the run's main process waits for every worker to exit:
    in make check, from the last test's end to the result went from 6.1–7.5 s to 1.8–3.0 s. Only a
    worker, and never under coverage, whose data is saved as the interpreter ends."""
    if os.environ.get("PYTEST_XDIST_WORKER") and "coverage" not in sys.modules:
        atexit.register(_leave_at_once)  # the last registered runs first


def _leave_at_once() -> None:
    if "multiprocessing.util" in sys.modules:
        # What the skipped teardown would do for multiprocessing (its own atexit hook, which runs after
        # this one): otherwise the upload parsers' forkserver leaves its socket's folder in TMPDIR.
        from multiprocessing import util

        util._exit_function()  # type: ignore[attr-defined]
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("houqin reliability")
    group.addoption(
        "--long",
        action="store_true",
        default=False,
        help="tests/reliability: the long variant (more people, conversations, kills and replays)",
    )
    group.addoption(
        "--reliability-seed",
        type=int,
        default=None,
        help="tests/reliability: seed for every random choice (default: a fresh one, printed with the results)",
    )


@pytest.fixture
async def separate_process(db: Database) -> AsyncIterator[Callable[..., Houqin]]:
    """Makes engines as separate Houqin processes would have them: each with its own connection pool."""
    opened: list[Database] = []

    def engine(clock: Callable[[], datetime] = utcnow) -> Houqin:
        database = Database(db.url)
        opened.append(database)
        return Houqin(database, AREAS, "zh_CN", ZoneInfo("Asia/Shanghai"), clock=clock)

    yield engine
    for database in opened:
        await database.dispose()
