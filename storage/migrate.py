"""Alembic, driven from Python so `houqin migrate` needs no alembic.ini on disk."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

if TYPE_CHECKING:
    # Alembic is imported where a migration runs or the schema is in doubt: loading it costs about a
    # fifth of a second, which `houqin run` would otherwise spend at every start.
    from alembic.config import Config
    from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest migration. A database that records exactly this is current without asking Alembic; any
# other answer (older, newer, none, this line left behind by a new migration) goes to Alembic as
# before, so a stale value costs only time. tests/storage/test_schema.py holds it to Alembic's head.
HEAD = "0016_assignment_by_index"


def alembic_config(database_url: str) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url)
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(database_url), revision)


async def upgrade_async(database_url: str, revision: str = "head") -> None:
    # env.py runs its own event loop for the async driver, so keep it off ours.
    await asyncio.to_thread(upgrade, database_url, revision)


class SchemaNotCurrent(Exception):
    """The database is unreachable or not at the newest migration; the message says which."""


def check_current(database_url: str) -> None:
    """Raise SchemaNotCurrent unless the schema is at the newest migration."""
    asyncio.run(_check_current(database_url))


async def _check_current(database_url: str) -> None:
    from storage.db import make_engine

    engine = make_engine(database_url)
    try:
        if await _recorded(engine) == {HEAD}:
            return
    finally:
        await engine.dispose()
    await _check_with_alembic(database_url)


async def _recorded(engine: AsyncEngine) -> set[str] | None:
    """The revisions the database records (Alembic's version table, read as a plain table); None when
    it has no such table (never migrated)."""
    try:
        async with engine.connect() as connection:
            try:
                found = await connection.execute(text("SELECT version_num FROM alembic_version"))
            except SQLAlchemyError:
                return None
            return set(found.scalars())
    except (OSError, SQLAlchemyError) as exc:
        raise unreachable(exc) from None


def unreachable(exc: Exception) -> SchemaNotCurrent:
    return SchemaNotCurrent(f"cannot reach the database ({type(exc).__name__}: {str(exc).splitlines()[0]})")


async def _check_with_alembic(database_url: str) -> None:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from storage.db import make_engine

    heads = set(ScriptDirectory.from_config(alembic_config(database_url)).get_heads())
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            current = set(await connection.run_sync(lambda sync: MigrationContext.configure(sync).get_current_heads()))
    except (OSError, SQLAlchemyError) as exc:
        raise unreachable(exc) from None
    finally:
        await engine.dispose()
    if current != heads:
        raise SchemaNotCurrent("the database schema is not up to date: run `houqin migrate` first")
