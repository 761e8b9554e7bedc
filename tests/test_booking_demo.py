"""The demo's bookings: two rooms and two vehicles, the last week of working days booked (a few
no-shows released) and trips finished with their mileage; written once, on both databases. Only the
bookings' own past is written here: tests/test_demo_past.py writes every area's together."""

from __future__ import annotations

from sqlalchemy import func, select

from handlers.bookings.book import AREA as BOOKINGS
from handlers.core.demo import write_past
from storage.db import Database
from storage.models import Booking, BookingResource, Trip
from tests.jobs.org import SCHEDULE, local

NOW = local(30, 9)  # Monday 30 November 2026: the past ends on Sunday the 29th


async def test_the_demo_books_the_rooms_and_vehicles_for_the_last_week(db: Database) -> None:
    added = await write_past(db, [BOOKINGS], NOW, SCHEDULE)
    assert added is not None and added["past room bookings"] > 10 and added["past trips"] > 2
    async with db.unit_of_work() as session:
        kinds = sorted(
            (r.kind, r.plate or (r.room.code if r.room else "")) for r in await session.scalars(select(BookingResource))
        )
        assert kinds == [("room", "102"), ("room", "201"), ("vehicle", "沪A·D1234"), ("vehicle", "沪A·D5678")]
        first = await session.scalar(select(func.min(Booking.starts_at)))
        last = await session.scalar(select(func.max(Booking.ends_at)))
        assert first is not None and last is not None
        assert local(23, 0) <= first and last <= local(28, 0)  # Monday 23 to Friday 27 November
        released = await session.scalar(select(func.count()).select_from(Booking).where(Booking.status == "released"))
        assert released is not None and released < added["past room bookings"]
        mileage = await session.scalar(select(func.sum(Trip.mileage_km)))
        assert mileage is not None and mileage > 0
    assert await write_past(db, [BOOKINGS], NOW, SCHEDULE) is None  # once per database
