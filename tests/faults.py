"""Faults laid in the database itself, for the paths that only a failure runs: a trigger refuses
certain writes (as a bug striking one update, or a database refusing a commit, would), on SQLite and
PostgreSQL alike, until it is lifted. Nothing of Houqin's code is replaced."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import text

from storage.db import Database


@dataclass
class Refusal:
    db: Database
    table: str
    name: str

    async def lift(self) -> None:
        async with self.db.unit_of_work() as session:
            if self.db.dialect == "sqlite":
                await session.execute(text(f"DROP TRIGGER IF EXISTS {self.name}"))
                return
            await session.execute(text(f"DROP TRIGGER IF EXISTS {self.name} ON {self.table}"))
            await session.execute(text(f"DROP FUNCTION IF EXISTS {self.name}()"))


@asynccontextmanager
async def database_refuses(
    db: Database, table: str, *, on: str = "INSERT", when: str = "true", name: str = "laid_fault"
) -> AsyncIterator[Refusal]:
    """While inside: every `on` (INSERT, UPDATE) of a `table` row for which `when` holds (SQL over
    NEW) fails with an integrity error. Lifted on the way out (the PostgreSQL database outlives a test)."""
    refusal = Refusal(db, table, name)
    async with db.unit_of_work() as session:
        if db.dialect == "sqlite":
            await session.execute(
                text(
                    f"CREATE TRIGGER {name} BEFORE {on} ON {table} WHEN {when} BEGIN SELECT RAISE(ABORT, '{name}'); END"
                )
            )
        else:
            await session.execute(
                text(
                    f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    f"IF {when} THEN RAISE EXCEPTION '{name}' USING ERRCODE = 'check_violation'; END IF; "
                    "RETURN NEW; END $$"
                )
            )
            await session.execute(
                text(f"CREATE TRIGGER {name} BEFORE {on} ON {table} FOR EACH ROW EXECUTE FUNCTION {name}()")
            )
    try:
        yield refusal
    finally:
        await refusal.lift()
