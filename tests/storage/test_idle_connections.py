"""A pooled PostgreSQL connection the server dropped while it sat idle (a restart, an idle timeout,
a failover) is found and replaced before a unit of work uses it; one going straight back to work is
not asked first, which would cost every unit of work a round trip (storage/db.py:_ping_after_idle)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text

import storage.db
from storage.db import Database


@pytest.fixture
async def pooled(postgres_url: str) -> AsyncIterator[Database]:
    database = Database(postgres_url)
    yield database
    await database.dispose()


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
    pooled: Database, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await backend_of(pooled)
    pings = counting_pings(pooled, monkeypatch)
    monkeypatch.setattr(storage.db, "IDLE_BEFORE_PING_S", 0.0)  # every checkout counts as after idling
    other = Database(postgres_url)
    async with other.unit_of_work() as session:
        await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
    await other.dispose()

    second = await backend_of(pooled)  # no error: the ping found the connection gone

    assert second != first and pings == [1]


async def test_a_connection_back_at_work_within_the_second_is_not_pinged(
    pooled: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await backend_of(pooled)
    pings = counting_pings(pooled, monkeypatch)
    for _ in range(5):
        assert await backend_of(pooled) == first
    assert pings == []
