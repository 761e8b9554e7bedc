"""Two processes doing a first thing at the same moment: making the server key, and meeting someone
new on their home screen. The second to write finds the first's row and goes on with it.

On PostgreSQL the race is real: the first process's transaction has written and not yet committed
when the second writes the same key, which waits for the first to commit and is then refused by
the unique key; the test holds the first transaction open until the second is seen waiting. SQLite
takes its write lock at BEGIN, so there the second waits before it reads and finds the row at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import func, select, text

from handlers.core import keys
from handlers.core.conversation import Sender
from handlers.core.engine import Houqin
from handlers.core.people import identify
from storage.db import Database
from storage.models import ChannelAccount, Person, ServiceSecret, utcnow

T = TypeVar("T")
NEWCOMER = Sender("slack", "UNEW", "DUNEW", "新同事", "zh-CN")


async def waiting_for_us(db: Database, task: asyncio.Task[T]) -> None:
    """Until the other process waits for a lock our open transaction holds (PostgreSQL), or has
    begun waiting for our commit at all (SQLite, which cannot be watched waiting)."""
    if db.dialect == "sqlite":
        await asyncio.sleep(0.2)
        return
    async with asyncio.timeout(15):
        while not task.done():
            async with db.engine.connect() as connection:
                waiting = await connection.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    )
                )
            if waiting:
                return
            await asyncio.sleep(0.02)
    raise AssertionError(f"the other process did not wait for us: {task.result()!r}")


async def test_a_process_making_the_server_key_while_another_does_takes_the_first_ones(db: Database) -> None:
    other = Database(db.url)

    async def make_in_other_process() -> bytes:
        async with other.unit_of_work() as session:
            return await keys.server_key(session)

    try:
        async with db.unit_of_work() as session:
            session.add(ServiceSecret(name=keys.NAME, value="a1" * 32))
            await session.flush()
            second = asyncio.create_task(make_in_other_process())
            await waiting_for_us(db, second)
        assert await second == b"a1" * 32
    finally:
        await other.dispose()
    async with db.unit_of_work() as session:
        assert await session.scalar(select(func.count()).select_from(ServiceSecret)) == 1


async def test_a_newcomer_opening_their_home_screen_in_two_processes_at_once_is_one_person(
    db: Database, separate_process: Callable[..., Houqin]
) -> None:
    second = separate_process()
    async with db.unit_of_work() as session:
        await identify(session, NEWCOMER, (), utcnow())  # the first process meets them
        home = asyncio.create_task(second.overview(NEWCOMER))
        await waiting_for_us(db, home)
    reply, locale = await home
    assert locale == "zh_CN" and reply.text == "你目前没有未完成的申请。"
    async with db.unit_of_work() as session:
        people = await session.scalars(
            select(Person.display_name).join(ChannelAccount).where(ChannelAccount.external_id == "UNEW")
        )
        assert people.all() == ["新同事"]
