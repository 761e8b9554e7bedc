"""The bookings' part of the demo's past (handlers/core/demo.py): two meeting rooms and two vehicles
made bookable, and the last week of working days booked — meetings in both rooms (a few nobody came
to, released as no-shows) and trips driven and finished with their mileage."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.bookings import ledger
from handlers.bookings.rooms import make_bookable, room_at
from handlers.bookings.vehicles import number_of
from handlers.core.demo import Past, demo_people
from storage.models import BookingResource, Person, Trip

ROOMS = (("A", "201", 12, ["projector"]), ("B", "102", 60, ["projector", "video"]))
VEHICLES = (("沪A·D1234", 7, "商务车", "zhou.jun"), ("沪A·D5678", 4, "轿车", "sun.qiang"))
TITLES = ("部门例会", "项目评审", "预算讨论", "新人培训", "Weekly sync", "供应商洽谈", "Interview")
PLACES = (("市财政局", "报送材料"), ("浦东机场", "接送专家"), ("区教育局", "参加会议"), ("仓库", "运送物资"))


async def write(session: AsyncSession, past: Past) -> dict[str, int]:
    rng = past.rng
    people = await demo_people(session)
    rooms: list[BookingResource] = []
    for building, code, seats, kit in ROOMS:
        found = await room_at(session, building, code)
        if found is not None:
            rooms.append(await make_bookable(session, found, seats, kit))
    vehicles = []
    for plate, seats, model, driver_handle in VEHICLES:
        driver = await session.scalar(select(Person).where(Person.handle == driver_handle))
        if driver is None:
            continue
        vehicle = BookingResource(kind="vehicle", plate=plate, capacity=seats, model=model, drivers=str(driver.id))
        session.add(vehicle)
        vehicles.append((vehicle, driver))
    await session.flush()
    if not (people and rooms):
        return {}
    week = [day for day in (past.last - timedelta(days=n) for n in range(6, -1, -1)) if past.works_on(day)]
    booked = trips = 0
    for day in week:
        for room in rooms:
            for hour in sorted(rng.sample(range(8, 17), rng.randint(2, 4))):
                starts = at(day, hour, past)
                made = await ledger.reserve(
                    session,
                    resource_id=room.id,
                    booker_id=rng.choice(people).id,
                    title=rng.choice(TITLES),
                    starts=starts,
                    ends=starts + timedelta(minutes=rng.choice((30, 60, 60, 90))),
                    channel="web",
                    now=starts - timedelta(days=rng.randint(1, 5)),
                )
                if made is None:
                    continue
                booked += 1
                no_show = rng.random() < 0.1
                made.status = "released" if no_show else "confirmed"
                made.checked_in_at = None if no_show else starts + timedelta(minutes=rng.randint(-10, 5))
        for vehicle, driver in vehicles:
            if rng.random() < 0.6:
                trips += 1
                await trip(session, past, day, vehicle, driver, rng.choice(people))
    await session.flush()
    return {"past room bookings": booked, "past trips": trips}


def at(day: date, hour: int, past: Past) -> datetime:
    return datetime.combine(day, time(hour, 30 * past.rng.randint(0, 1)), past.zone)


async def trip(
    session: AsyncSession, past: Past, day: date, vehicle: BookingResource, driver: Person, who: Person
) -> None:
    rng = past.rng
    starts = at(day, rng.randint(8, 14), past)
    destination, purpose = rng.choice(PLACES)
    made = Trip(
        requester_id=who.id,
        department_id=who.department_id,
        destination=destination,
        passengers=rng.randint(1, vehicle.capacity),
        purpose=purpose,
        starts_at=starts,
        ends_at=starts + timedelta(hours=rng.randint(1, 3)),
        status="finished",
        channel="web",
        created_at=starts - timedelta(days=2),
        vehicle_id=vehicle.id,
        driver_id=driver.id,
        mileage_km=rng.randint(8, 90),
        closed_at=starts + timedelta(hours=4),
    )
    session.add(made)
    await session.flush()
    made.number = number_of(made.id, made.created_at)
