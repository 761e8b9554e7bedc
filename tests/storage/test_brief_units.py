"""Where SQLite's statements run: a brief unit of work (a delivery's turn) on the event loop's own
thread once it holds the write lock; committing, waiting for a lock another connection holds and
every other unit of work on aiosqlite's thread (storage/db.py, SqliteConnection)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import event, text

from storage.db import Database


def on_each_connection(database: Database, prepare: Callable[[sqlite3.Connection], None]) -> None:
    """Run `prepare` on the sqlite3 connection under each connection the database opens."""

    @event.listens_for(database.engine.sync_engine, "connect")
    def _prepared(dbapi_connection: object, _record: object) -> None:
        prepare(dbapi_connection.driver_connection._connection)  # type: ignore[attr-defined]


def recording_threads(database: Database) -> list[tuple[str, bool]]:
    """(statement, whether it ran on this test's thread) for every statement, in order."""
    seen: list[tuple[str, bool]] = []
    here = threading.get_ident()

    def traced(statement: str) -> None:
        seen.append((statement.split()[0], threading.get_ident() == here))

    def on_thread(raw: sqlite3.Connection) -> None:
        # SQLite calls both back from whichever thread runs the statement.
        raw.create_function("on_loop_thread", 0, lambda: threading.get_ident() == here)
        raw.set_trace_callback(traced)

    on_each_connection(database, on_thread)
    return seen


async def test_a_brief_unit_of_work_runs_its_statements_on_the_loop_thread(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'brief.db'}")
    recording_threads(database)
    try:
        async with database.unit_of_work(brief=True) as session:
            assert await session.scalar(text("SELECT on_loop_thread()")) == 1
            await session.execute(text("CREATE TABLE notes (body TEXT)"))
            await session.execute(text("INSERT INTO notes VALUES ('kept')"))
        async with database.unit_of_work() as session:
            # Any other unit of work: the statement goes to aiosqlite's thread, the loop stays free.
            assert await session.scalar(text("SELECT on_loop_thread()")) == 0
            assert await session.scalar(text("SELECT body FROM notes")) == "kept"
    finally:
        await database.dispose()


async def test_a_free_lock_is_taken_on_the_loop_and_committing_stays_off_it(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'brief.db'}")
    statements = recording_threads(database)
    try:
        async with database.unit_of_work(brief=True) as session:
            await session.execute(text("SELECT 1"))  # connected: the pragmas of a new connection are run
        statements.clear()
        async with database.unit_of_work(brief=True) as session:
            await session.execute(text("SELECT 2"))
        # The lock asked for without waiting (busy timeout nought, then back); COMMIT syncs the file.
        assert statements == [("PRAGMA", True), ("BEGIN", True), ("PRAGMA", True), ("SELECT", True), ("COMMIT", False)]
    finally:
        await database.dispose()


async def test_a_lock_another_connection_holds_is_waited_for_off_the_loop(tmp_path: Path) -> None:
    """Another process writing (an import, a backup): BEGIN waits its turn on aiosqlite's thread
    while the loop serves everyone else, and goes ahead once the other commits."""
    path = tmp_path / "held.db"
    database = Database(f"sqlite+aiosqlite:///{path}")
    statements = recording_threads(database)
    writer = sqlite3.connect(path, isolation_level=None)

    async def note() -> None:
        async with database.unit_of_work(brief=True) as session:
            await session.execute(text("CREATE TABLE notes (body TEXT)"))

    try:
        assert await database.ping()  # connected, WAL set
        writer.execute("BEGIN IMMEDIATE")
        statements.clear()
        waiting = asyncio.create_task(note())
        await asyncio.sleep(0.3)  # the loop is free meanwhile: this test runs on it
        assert not waiting.done()
        writer.execute("COMMIT")
        await asyncio.wait_for(waiting, timeout=5)
        assert [ran for ran in statements if ran[0] == "BEGIN"] == [("BEGIN", True), ("BEGIN", False)]
        async with database.unit_of_work() as session:
            # The try without waiting left the busy timeout as it was.
            assert await session.scalar(text("PRAGMA busy_timeout")) == 30_000
            assert await session.scalar(text("SELECT count(*) FROM notes")) == 0
    finally:
        writer.close()
        await database.dispose()


async def test_a_brief_unit_of_work_that_fails_is_rolled_back(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'brief.db'}")
    try:
        async with database.unit_of_work() as session:
            await session.execute(text("CREATE TABLE notes (body TEXT)"))
        try:
            async with database.unit_of_work(brief=True) as session:
                await session.execute(text("INSERT INTO notes VALUES ('lost')"))
                raise RuntimeError("the turn failed")
        except RuntimeError:
            pass
        async with database.unit_of_work(brief=True) as session:
            assert await session.scalar(text("SELECT count(*) FROM notes")) == 0
    finally:
        await database.dispose()


async def test_the_health_probe_does_not_queue_behind_a_writer(tmp_path: Path) -> None:
    """/healthz while another process holds the write lock (an import, a backup): the probe reads,
    so it answers at once instead of waiting out the busy timeout and calling the database down."""
    path = tmp_path / "probe.db"
    database = Database(f"sqlite+aiosqlite:///{path}")
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        assert await database.ping()  # connected, WAL set
        writer.execute("BEGIN IMMEDIATE")
        assert await asyncio.wait_for(database.ping(), timeout=5)
        writer.execute("COMMIT")
        async with database.unit_of_work() as session:  # a unit of work after it takes the lock as before
            await session.execute(text("SELECT 1"))
            late = sqlite3.connect(path, timeout=0.1, isolation_level=None)
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                late.execute("BEGIN IMMEDIATE")
            late.close()
    finally:
        writer.close()
        await database.dispose()


async def test_a_unit_of_work_cancelled_mid_statement_leaves_no_write_lock_behind(tmp_path: Path) -> None:
    """A task given up while its statement runs (a client gone, a shutdown): SQLAlchemy closes the
    connection without a rollback, and SQLite must not keep the write lock for whoever comes next."""
    path = tmp_path / "cancelled.db"
    database = Database(f"sqlite+aiosqlite:///{path}")
    running, finish = threading.Event(), threading.Event()

    def slow_read() -> int:
        running.set()
        finish.wait(5)
        return 1

    on_each_connection(database, lambda raw: raw.create_function("slow_read", 0, slow_read))

    async def report() -> None:
        async with database.unit_of_work() as session:
            await session.execute(text("SELECT slow_read() FROM notes"))

    try:
        async with database.unit_of_work() as session:
            await session.execute(text("CREATE TABLE notes (body TEXT)"))
            await session.execute(text("INSERT INTO notes VALUES ('a'), ('b')"))
        task = asyncio.create_task(report())
        await asyncio.to_thread(running.wait, 5)  # BEGIN IMMEDIATE taken, the read under way
        task.cancel()
        finish.set()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        writer = sqlite3.connect(path, timeout=1, isolation_level=None)
        try:
            writer.execute("BEGIN IMMEDIATE")  # "database is locked" while a closed connection held it
            writer.execute("COMMIT")
        finally:
            writer.close()
    finally:
        finish.set()
        await database.dispose()
