"""A pooled PostgreSQL connection the server dropped while it sat idle (a restart, an idle timeout,
a failover) is found and replaced before a unit of work uses it; one going straight back to work is
not asked first, which would cost every unit of work a round trip (storage/db.py:_ping_after_idle)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

import storage.db
from storage.db import Database


async def backend_of(db: Database) -> int:
    async with db.unit_of_work() as session:
        return int(await session.scalar(text("SELECT pg_backend_pid()")) or 0)


def counting_pings(db: Database, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    dialect = db.engine.sync_engine.dialect
    pings: list[int] = []
    ping = dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        pings.append(1)
        return ping(dbapi_connection)

    monkeypatch.setattr(dialect, "do_ping", counted)
    return pings


async def test_a_connection_the_server_dropped_while_idle_is_replaced_unnoticed(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(postgres_url)
    try:
        first = await backend_of(db)
        pings = counting_pings(db, monkeypatch)
        monkeypatch.setattr(storage.db, "IDLE_BEFORE_PING_S", 0.0)  # every checkout counts as after idling
        async with Database(postgres_url).unit_of_work() as other:
            await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})

        second = await backend_of(db)  # no error: the ping found the connection gone

        assert second != first and pings == [1]
    finally:
        await db.dispose()


async def test_a_connection_back_at_work_within_the_second_is_not_pinged(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(postgres_url)
    try:
        first = await backend_of(db)
        pings = counting_pings(db, monkeypatch)
        for _ in range(5):
            assert await backend_of(db) == first
        assert pings == []
    finally:
        await db.dispose()
