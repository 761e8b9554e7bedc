"""Alembic, driven from Python so `houqin migrate` needs no alembic.ini on disk."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.exc import SQLAlchemyError

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url)
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
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
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from storage.db import make_engine

    heads = set(ScriptDirectory.from_config(alembic_config(database_url)).get_heads())
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            current = set(await connection.run_sync(lambda sync: MigrationContext.configure(sync).get_current_heads()))
    except (OSError, SQLAlchemyError) as exc:
        raise SchemaNotCurrent(
            f"cannot reach the database ({type(exc).__name__}: {str(exc).splitlines()[0]})"
        ) from None
    finally:
        await engine.dispose()
    if current != heads:
        raise SchemaNotCurrent("the database schema is not up to date: run `houqin migrate` first")
