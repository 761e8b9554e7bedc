"""Shared fixtures: a migrated, demo-seeded database per test, on SQLite and on PostgreSQL.

PostgreSQL runs must happen in CI (CI=true): there a missing server fails the run instead of skipping.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from sqlalchemy import text

from bot.service import AREAS
from handlers.engine import Houqin
from storage.db import Database
from storage.demo import seed
from storage.migrate import upgrade
from storage.models import Base, utcnow
from tests.fakes.telegram_api import FakeBotAPI

PG_ADMIN_DSN = os.environ.get("HOUQIN_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
PG_TEST_DB = f"houqin_test_{os.getpid()}"


def _pg_url(database: str) -> str:
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{database}"


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


@pytest.fixture(scope="session", autouse=True)
def scheduler_off() -> Iterator[None]:
    """Services built by tests run no scheduled jobs: otherwise the real clock decides whether a
    digest or a scorecard lands in a test's chats (on a Monday morning it does). Tests about jobs
    drive `Jobs` on a clock of their own; subprocesses inherit the setting through the environment."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JOBS_ENABLED", "false")
        yield


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    try:
        asyncio.run(_recreate_pg_database())
    except (OSError, asyncpg.PostgresError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI and is not reachable at {PG_ADMIN_DSN}: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {PG_ADMIN_DSN} ({exc}); CI runs these")
    url = _pg_url(PG_TEST_DB)
    upgrade(url)
    yield url
    asyncio.run(_drop_pg_database())


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file, copied for each test (migrating per test would be slow)."""
    path = tmp_path_factory.mktemp("template") / "houqin.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "houqin.db"
        shutil.copy(template, path)
        return f"sqlite+aiosqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    asyncio.run(_truncate(url))
    return url


async def _truncate(url: str) -> None:
    db = Database(url)
    try:
        tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
        async with db.unit_of_work() as session:
            await session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    finally:
        await db.dispose()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """The database with the demo organisation in it."""
    database = Database(database_url)
    async with database.unit_of_work() as session:
        await seed(session)
    yield database
    await database.dispose()


@pytest.fixture
async def bot_api() -> AsyncIterator[FakeBotAPI]:
    """A fake Telegram Bot API served on 127.0.0.1 for the length of a test."""
    async with FakeBotAPI() as api:
        yield api


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
