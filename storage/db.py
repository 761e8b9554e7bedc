"""The database connection and the unit of work every use case runs in."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from contextvars import ContextVar
from functools import partial
from pathlib import Path
from typing import Any

import aiosqlite
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError, InterfaceError, InvalidatePoolError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

SQLITE_BUSY_TIMEOUT_S = 30
BUSY_TIMEOUT = f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}"
# How a unit of work that may write begins on SQLite (see _tune_sqlite).
BEGIN_WRITING = "BEGIN IMMEDIATE"
# An execution option: this connection's transaction only reads (SQLite then begins it deferred).
READS_ONLY = "houqin_reads_only"

# Set while a brief unit of work runs (Database.unit_of_work(brief=True)): see SqliteConnection.
_BRIEF: ContextVar[bool] = ContextVar("houqin_brief_unit_of_work", default=False)


class SqliteConnection(aiosqlite.Connection):
    """aiosqlite hands every call to its own thread and waits for the answer through the event loop:
    a wake-up of each side per statement, which cost more than the statements themselves (measured,
    issue 17: 5.5 → 3.4 ms of CPU per update). In a brief unit of work that holds SQLite's write lock
    the statements run on the loop's own thread instead: with WAL and the lock ours, none of them
    waits on another process, and a brief unit of work's are short. Taking the lock (BEGIN IMMEDIATE,
    which may wait up to the busy timeout for another process), COMMIT (the fsync) and ROLLBACK still
    go to the thread, as does everything else: a digest's or an export's long queries leave the loop
    free while SQLite works without the GIL."""

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        sqlite = self._connection
        if self._running and sqlite is not None and fn == sqlite.rollback and not sqlite.in_transaction:
            # The pool's reset of a connection given back after a COMMIT: SQLite would do nothing, so
            # the trip to the thread and back (one per unit of work) is saved.
            return None
        if (
            _BRIEF.get()
            and self._running
            and sqlite is not None
            and sqlite.in_transaction
            and fn != sqlite.commit
            and fn != sqlite.rollback
        ):
            return fn(*args, **kwargs)
        return await super()._execute(fn, *args, **kwargs)  # type: ignore[no-untyped-call]

    def cursor(self) -> OneTripCursor:  # type: ignore[override]
        return OneTripCursor(self)

    def begin_at_once(self) -> bool:
        """Take the write lock on the loop's thread if no other connection holds it: True when taken.
        Asked with a busy timeout of nought, so it never waits; when the lock is held, BEGIN goes to
        the connection's thread as before and waits its turn there. Saves a trip per unit of work."""
        sqlite = self._connection
        if not self._running or sqlite is None or sqlite.in_transaction:
            return False
        sqlite.execute("PRAGMA busy_timeout=0").close()
        try:
            sqlite.execute(BEGIN_WRITING).close()
        except sqlite3.OperationalError as busy:
            if busy.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:  # SQLITE_BUSY and its extended codes
                raise
            return False
        finally:
            sqlite.execute(BUSY_TIMEOUT).close()
        return True


class OneTripCursor:
    """What SQLAlchemy's aiosqlite dialect uses as a cursor, for one trip to the connection's thread
    per statement. aiosqlite's own makes a trip each to open the cursor, execute, fetch the rows and
    close it: four per SELECT, each a wake-up of both threads (about 170,000 of them in make check's
    tests). Here the statement runs, its rows are read and the sqlite3 cursor is closed in one trip;
    what SQLAlchemy asks afterwards (description, rowcount, the rows) is answered from what it left.
    Houqin never streams a result from SQLite, so holding all rows at once costs nothing extra."""

    arraysize = 1

    def __init__(self, connection: SqliteConnection) -> None:
        self._connection = connection
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self._rows: list[Any] = []

    # SQLAlchemy opens it as aiosqlite's (`async with connection.cursor()`): nothing to open here.
    async def __aenter__(self) -> OneTripCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    def _run(self, operation: str, parameters: Any, many: bool) -> None:
        # On the connection's thread (or the loop's, in a brief unit of work: SqliteConnection).
        cursor = self._connection._conn.cursor()
        try:
            if many:
                cursor.executemany(operation, parameters)
            else:
                cursor.execute(operation, () if parameters is None else parameters)
            self.description = cursor.description
            self._rows = cursor.fetchall() if cursor.description else []
            self.rowcount, self.lastrowid = cursor.rowcount, cursor.lastrowid
        finally:
            cursor.close()

    async def execute(self, operation: str, parameters: Any = None) -> OneTripCursor:
        await self._connection._execute(self._run, operation, parameters, False)
        return self

    async def executemany(self, operation: str, parameters: Any) -> OneTripCursor:
        await self._connection._execute(self._run, operation, parameters, True)
        return self

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        taken = self._rows[: size or self.arraysize]
        del self._rows[: len(taken)]
        return taken

    async def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows

    async def close(self) -> None:
        self._rows = []


class EndsItsTransactionOnClose(sqlite3.Connection):
    """A connection given up in the middle of a transaction (its task cancelled: a client gone, a
    shutdown) is closed by SQLAlchemy without a rollback. With one of its statements still open,
    SQLite keeps it as a zombie, write lock and all, until that statement is garbage-collected:
    every other writer waits out its busy timeout meanwhile (measured: seconds to minutes, in about
    one of a hundred cancellations). Ending the transaction first frees the lock at once."""

    def close(self) -> None:
        with suppress(sqlite3.Error):
            if self.in_transaction:
                self.rollback()
        super().close()


def _sqlite_connector(path: str) -> Callable[[], SqliteConnection]:
    """What SQLAlchemy's aiosqlite dialect would open for this file, as a SqliteConnection."""

    def connect() -> SqliteConnection:
        opener = partial(
            sqlite3.connect,
            path,
            timeout=SQLITE_BUSY_TIMEOUT_S,
            check_same_thread=False,
            factory=EndsItsTransactionOnClose,
        )
        connection = SqliteConnection(opener, iter_chunk_size=64)
        connection._thread.daemon = True  # as the dialect does: a forgotten connection must not hold exit
        return connection

    return connect


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[-1]
        if path and path != ":memory:" and "?" not in path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            # SQLite has one writer and every transaction takes the write lock at BEGIN. With several
            # pooled connections, overlapping transactions spin in SQLite's busy loop and some wait
            # seconds (measured: p99 1.6 s for 20 browser users); one connection queues them in order.
            kwargs = {"pool_size": 1, "max_overflow": 0, "pool_timeout": 60, **kwargs}
            engine = create_async_engine(url, async_creator=_sqlite_connector(path), **kwargs)
        else:
            connect_args = {"timeout": SQLITE_BUSY_TIMEOUT_S, "factory": EndsItsTransactionOnClose}
            engine = create_async_engine(url, connect_args=connect_args, **kwargs)
        _tune_sqlite(engine)
        return engine
    engine = create_async_engine(url, **kwargs)
    _ping_after_idle(engine)
    return engine


# A pooled connection idle longer than this is pinged before use (see _ping_after_idle).
IDLE_BEFORE_PING_S = 1.0
_IDLE_SINCE = "houqin_idle_since"


def _ping_after_idle(engine: AsyncEngine) -> None:
    """SQLAlchemy's pool_pre_ping, for connections that sat idle: a connection the server dropped
    (a restart, an idle timeout, a failover) is found and replaced before a unit of work uses it.
    pool_pre_ping asked the server at every checkout: a round trip per unit of work, about 0.25 ms of
    CPU and 0.3 ms of waiting on this machine's loopback (issue 17), two or three times per update.
    Under load a connection goes back to work within milliseconds; one the server dropped meanwhile
    fails its statement as in any outage, which every caller already waits out and tries again."""
    dialect = engine.sync_engine.dialect

    @event.listens_for(engine.sync_engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)  # none: opened for this checkout
        if since is None or time.monotonic() - since < IDLE_BEFORE_PING_S:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as lost:
            # The pool drops every connection opened before now and opens a new one for this checkout.
            raise InvalidatePoolError("an idle connection was lost") from lost


def _tune_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # WAL lets the browser chat read while Telegram writes; foreign keys are off by default in SQLite.
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(BUSY_TIMEOUT)
        # What is deleted is overwritten, not left in the file's free pages: a sent reply to an
        # anonymous suggester, forgotten, must not be readable from a copy of the file.
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Take the write lock at BEGIN: a deferred transaction that later upgrades to a write can fail
        # with "database is locked" instead of waiting its turn. What only reads and must not queue
        # behind a writer (the health probe) says so: in WAL a deferred read takes no lock.
        reads_only = connection.get_execution_options().get(READS_ONLY, False)
        if reads_only:
            connection.exec_driver_sql("BEGIN")
            return
        ours = connection.connection.driver_connection  # a file's SqliteConnection; :memory: is aiosqlite's own
        if not (isinstance(ours, SqliteConnection) and ours.begin_at_once()):
            connection.exec_driver_sql(BEGIN_WRITING)


# PostgreSQL's classes for a lost connection (08…) and a server shutting down or starting (57P…).
CONNECTION_SQLSTATES = ("08", "57P")


def is_outage(exc: BaseException) -> bool:
    """The database could not be reached (restarting, down, the network cut): worth waiting for and
    trying again, unlike a fault in handling one particular update."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OperationalError | InterfaceError | ConnectionError | TimeoutError):
            return True
        if isinstance(seen, DBAPIError) and seen.connection_invalidated:
            return True
        if str(getattr(seen, "sqlstate", "") or "").startswith(CONNECTION_SQLSTATES):
            # The driver's own word that the connection went (asyncpg's "closed in the middle of
            # operation" reaches SQLAlchemy untranslated and not always marked as a disconnect).
            return True
        if isinstance(seen, OSError) and not isinstance(seen, FileNotFoundError | PermissionError):
            return True  # a refused or reset connection, before SQLAlchemy could wrap it
        seen = seen.__cause__ or seen.__context__
    return False


def log_failure(log: logging.Logger, exc: BaseException, work: str, *args: object) -> None:
    """A fault gets its traceback; an unreachable database gets one line, since the work waits and
    is tried again (a traceback per try would bury the real faults during an outage)."""
    if is_outage(exc):
        log.warning(f"database unreachable; {work} waits (%s)", *args, exc)
    else:
        log.error(f"{work} failed", *args, exc_info=exc)


class Database:
    """Owns the engine; hands out units of work (one transaction each)."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def unit_of_work(self, *, brief: bool = False) -> AsyncIterator[AsyncSession]:
        """Commit when the block ends normally, roll back when it raises. `brief`: a handful of short
        statements (a delivery's turn, a reply's mark, the outbox's claims and the browser's
        fetch, a step described, a sender's heartbeat; the demo's past, many of them with nothing else
        on the loop), run on SQLite without thread hops (SqliteConnection).
        Not for jobs that read much while serving (digests, exports, housekeeping).
        A turn that is an admin's report now and then holds the loop for its queries: on SQLite's one
        connection every other unit of work would wait for them anyway."""
        marked = _BRIEF.set(True) if brief else None
        try:
            async with self.sessions() as session, session.begin():
                yield session
        finally:
            if marked is not None:
                _BRIEF.reset(marked)

    async def ping(self) -> bool:
        try:
            async with self.engine.connect() as connection:
                await connection.execution_options(**{READS_ONLY: True})
                await connection.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    async def dispose(self) -> None:
        await self.engine.dispose()
