"""The bookings' lines in the weekly digest: each room's hours and share of its open hours with its
busiest weekday, the no-show rate, and trips and mileage by department; a manager's digest counts
their department's people only."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from bot.areas import AREAS
from handlers.bookings import ledger
from handlers.digest.send import send_weekly
from storage.db import Database
from storage.models import BookingResource, Department, Person, Trip
from tests.bookings import rooms_bookable
from tests.jobs.org import SCHEDULE, local, person_id, sent_to


async def held(
    db: Database, room_index: int, who: str, day: int, hour: int, hours: int, status: str = "confirmed"
) -> None:
    async with db.unit_of_work() as session:
        rooms = list(await session.scalars(select(BookingResource).order_by(BookingResource.id)))
        person = await session.scalar(select(Person).where(Person.handle == who))
        assert person is not None
        made = await ledger.reserve(
            session,
            resource_id=rooms[room_index].id,
            booker_id=person.id,
            title="会议",
            starts=local(day, hour),
            ends=local(day, hour) + timedelta(hours=hours),
            channel="web",
            now=local(13),
        )
        assert made is not None
        made.status = status


async def test_the_digest_tells_room_use_no_shows_and_trips(db: Database) -> None:
    await rooms_bookable(db)
    await held(db, 0, "wang.fang", 16, 10, 2)  # Monday: room 201 for two hours
    await held(db, 0, "zhang.wei", 17, 14, 1, status="released")  # Tuesday: nobody came
    await held(db, 1, "wang.fang", 18, 9, 1)  # Wednesday: the lecture hall for one
    async with db.unit_of_work() as session:
        finance = await session.scalar(select(Department).where(Department.code == "finance"))
        wang = await session.scalar(select(Person).where(Person.handle == "wang.fang"))
        assert finance is not None and wang is not None
        session.add(
            Trip(
                number="V-2026-000001",
                requester_id=wang.id,
                department_id=finance.id,
                destination="市财政局",
                passengers=2,
                purpose="报送预算",
                starts_at=local(19, 13),
                ends_at=local(19, 16),
                status="finished",
                channel="web",
                mileage_km=45,
            )
        )
    readers = [await person_id(db, "lin.hua"), await person_id(db, "xu.ming")]
    tally = await send_weekly(db, SCHEDULE, local(23, 8), local(23, 8, 5), only=readers, areas=AREAS)
    assert tally.sent == 3  # 林华 reads the organisation's and, as its manager, logistics'
    [organisation] = [text for text in await sent_to(db, "lin.hua") if "organisation" in text.lower()]
    assert "🏢 Rooms: 3 bookings this week; no-shows: 1 (33%)" in organisation
    assert (
        "▪ Administration Building 201 Meeting room 1: used 2 h, 4% of its open hours, busiest on Monday"
        " (Mon–Fri 2 · 0 · 0 · 0 · 0 h)" in organisation
    )
    assert (
        "▪ Teaching Building 102 Lecture hall: used 1 h, 2% of its open hours, busiest on Wednesday"
        " (Mon–Fri 0 · 0 · 1 · 0 · 0 h)" in organisation
    )
    assert "🚗 Finance Office: 1 trip, 45 km" in organisation
    [hr] = await sent_to(db, "xu.ming")  # HR's manager: 张伟's no-show only
    assert "🏢 Rooms: 1 booking this week; no-shows: 1 (100%)" in hr and "Finance" not in hr
