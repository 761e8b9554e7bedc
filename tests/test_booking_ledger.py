"""The booking ledger: an overlap is never written, touching bookings are fine, a cancelled booking
frees its time; on PostgreSQL the database itself refuses an overlapping row however it is written."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from handlers.bookings import ledger
from storage.db import Database
from storage.models import Booking, BookingResource, Person
from tests.bookings import TUESDAY_MORNING, rooms_bookable
from tests.jobs.org import local


async def reserve(db: Database, starts: datetime, hours: float = 1) -> Booking | None:
    async with db.unit_of_work() as session:
        room = await session.scalar(select(BookingResource).order_by(BookingResource.id).limit(1))
        wang = await session.scalar(select(Person).where(Person.handle == "wang.fang"))
        assert room is not None and wang is not None
        return await ledger.reserve(
            session,
            resource_id=room.id,
            booker_id=wang.id,
            title="评审",
            starts=starts,
            ends=starts + timedelta(hours=hours),
            channel="web",
            now=TUESDAY_MORNING,
        )


async def test_an_overlap_is_refused_and_touching_bookings_are_not(db: Database) -> None:
    await rooms_bookable(db)
    first = await reserve(db, local(25, 10))
    assert first is not None and first.number == f"B-2026-{first.id:06d}"
    assert await reserve(db, local(25, 10, 30)) is None  # 10:30–11:30 overlaps 10:00–11:00
    assert await reserve(db, local(25, 9), hours=3) is None  # around it
    assert await reserve(db, local(25, 11)) is not None  # from its end: touching, not overlapping
    assert await reserve(db, local(25, 9)) is not None  # up to its start
    async with db.unit_of_work() as session:
        await session.execute(update(Booking).where(Booking.id == first.id).values(status="cancelled"))
    assert await reserve(db, local(25, 10)) is not None  # a cancelled booking holds nothing


async def test_postgresql_refuses_an_overlapping_row_written_past_the_ledger(db: Database) -> None:
    if db.dialect != "postgresql":
        pytest.skip("the exclusion constraint is PostgreSQL's; SQLite relies on the ledger's one INSERT")
    await rooms_bookable(db)
    made = await reserve(db, local(25, 10))
    assert made is not None
    with pytest.raises(IntegrityError, match="ex_bookings_no_overlap"):
        async with db.unit_of_work() as session:
            session.add(
                Booking(
                    resource_id=made.resource_id,
                    booker_id=made.booker_id,
                    title="插队",
                    starts_at=local(25, 10, 30),
                    ends_at=local(25, 11, 30),
                    status="confirmed",
                    channel="web",
                )
            )
