"""Alembic, driven from Python so `houqin migrate` needs no alembic.ini on disk."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import SQLAlchemyError

if TYPE_CHECKING:
    # Alembic is imported where a migration runs or the schema is in doubt: loading it costs about a
    # fifth of a second, which `houqin run` would otherwise spend at every start.
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest migration. A database that records exactly this is current without asking Alembic; any
# other answer (older, newer, none, this line left behind by a new migration) is compared with the
# heads Alembic finds, so a stale value costs only time. tests/storage/test_schema.py holds it to them.
HEAD = "0016_assignment_by_index"
VERSION_TABLE = "alembic_version"  # Alembic's default, which migrations/env.py keeps


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
        async with engine.connect() as connection:
            recorded = await connection.run_sync(_recorded)
    except (OSError, SQLAlchemyError) as exc:
        raise SchemaNotCurrent(
            f"cannot reach the database ({type(exc).__name__}: {str(exc).splitlines()[0]})"
        ) from None
    finally:
        await engine.dispose()
    if recorded != {HEAD} and recorded != _alembic_heads():
        raise SchemaNotCurrent("the database schema is not up to date: run `houqin migrate` first")


def _recorded(connection: Connection) -> set[str]:
    """The revisions the database records: Alembic's version table, read as a plain table (none when
    it was never migrated)."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return set()
    return set(connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())


def _alembic_heads() -> set[str]:
    """The newest migrations as Alembic finds them, asked only when the database is not at HEAD."""
    from alembic.script import ScriptDirectory

    return set(ScriptDirectory.from_config(alembic_config("")).get_heads())
