"""Backups of Houqin's database, one file each, taken while Houqin runs, and their restore.

Everything Houqin keeps is in the database, photos included, so the one file is all of it. SQLite is
copied through its online backup API (a consistent copy, page by page, while others go on writing);
PostgreSQL through `pg_dump` in its custom format, which `pg_restore` reads. A restore goes into an
empty database only (or, forced, over one), and the caller migrates after it: a backup taken before an
upgrade comes back at its own schema and is brought up to date.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import sqlite3
from datetime import datetime
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from storage.db import Database

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"


class BackupError(Exception):
    """What went wrong, said so that the person at the terminal knows what to do."""


def engine_of(url: str) -> str:
    name = make_url(url).get_backend_name()
    if name not in ("sqlite", "postgresql"):
        raise BackupError(f"backups know SQLite and PostgreSQL, not {name}")
    return name


def default_name(url: str, at: datetime) -> str:
    suffix = "sqlite3" if engine_of(url) == "sqlite" else "pgdump"
    return f"houqin-{at.strftime('%Y%m%d-%H%M%S')}.{suffix}"


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if database in (None, "", ":memory:"):
        raise BackupError("an in-memory SQLite database has nothing to back up")
    return Path(str(database))


def _libpq(url: str) -> str:
    """The URL as pg_dump and pg_restore take it (no SQLAlchemy driver name)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} is not installed: install PostgreSQL's client tools (apt-get install postgresql-client)"
        )
    return found


async def backup(url: str, dest: Path) -> Path:
    """Write the whole database to `dest` (a new file; its folder is made) while Houqin may be running."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Its own partial file: a backup asked for by hand while the daily one runs does not write into it.
    partial = dest.with_name(f"{dest.name}.{os.getpid()}.{secrets.token_hex(4)}.partial")
    if engine_of(url) == "sqlite":
        await asyncio.to_thread(_sqlite_copy, _sqlite_path(url), partial)
    else:
        await _run(_pg_tool("pg_dump"), "--format=custom", "--no-owner", f"--file={partial}", f"--dbname={_libpq(url)}")
    # Named only once whole: a backup interrupted halfway is never mistaken for one.
    partial.replace(dest)
    return dest


def _sqlite_copy(source: Path, dest: Path) -> None:
    if not source.exists():
        raise BackupError(f"there is no database at {source}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as src, sqlite3.connect(dest) as dst:
        # Whole in one step: SQLite restarts a stepped copy whenever another connection writes.
        src.backup(dst)
    src.close()
    dst.close()


async def restore(url: str, source: Path, *, force: bool = False) -> None:
    """Bring a backup back into the database at `url`: refused unless that database is empty, or
    `force` says to replace what is there. The caller migrates afterwards."""
    engine, taken_from = engine_of(url), await asyncio.to_thread(_taken_from, source)
    if taken_from != engine:
        raise BackupError(f"{source} is a {taken_from} backup: restore it into a {taken_from} DATABASE_URL")
    if not force and (tables := await tables_of(url)):
        raise BackupError(
            f"the database is not empty ({len(tables)} tables, e.g. {sorted(tables)[0]}): restore into a new one, "
            "or add --force to replace everything in it"
        )
    if engine == "sqlite":
        await asyncio.to_thread(_sqlite_copy, source, _sqlite_path(url))
    else:
        clean = ["--clean", "--if-exists"] if force else []
        await _run(
            _pg_tool("pg_restore"),
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            *clean,
            f"--dbname={_libpq(url)}",
            str(source),
        )


def _taken_from(source: Path) -> str:
    """Which database a backup file holds, from its first bytes."""
    if not source.is_file():
        raise BackupError(f"there is no backup at {source}")
    with source.open("rb") as handle:
        head = handle.read(len(SQLITE_MAGIC))
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PG_DUMP_MAGIC):
        return "postgresql"
    raise BackupError(f"{source} is not a Houqin backup (neither a SQLite file nor a pg_dump custom archive)")


async def tables_of(url: str) -> list[str]:
    if engine_of(url) == "sqlite" and not await asyncio.to_thread(_sqlite_path(url).exists):
        return []
    db = Database(url)
    try:
        async with db.engine.connect() as connection:
            return await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    finally:
        await db.dispose()


async def _run(*command: str) -> None:
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, errors = await process.communicate()
    if process.returncode != 0:
        said = errors.decode(errors="replace").strip().splitlines()
        raise BackupError(f"{Path(command[0]).name} failed: {said[-1] if said else f'exit {process.returncode}'}")


def keep_last(folder: Path, keep: int) -> list[Path]:
    """Remove all but the newest `keep` backups Houqin wrote in `folder`; returns those removed."""
    ours = sorted(folder.glob("houqin-*.sqlite3")) + sorted(folder.glob("houqin-*.pgdump"))
    ours.sort(key=lambda path: path.name.split(".")[0])
    gone = ours[: max(0, len(ours) - keep)]
    for path in gone:
        path.unlink(missing_ok=True)
    return gone
