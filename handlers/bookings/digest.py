"""The bookings' part of the weekly digest (place 70): each room's use of its open hours and its
busiest weekday, the no-show rate, and the vehicles' trips and mileage by department. A department's
manager reads their own people's bookings and trips; logistics and admins the organisation's."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.bookings.rooms import CLOSES, OPENS, room_name
from handlers.core.charts import Chart
from handlers.core.digest import Scope, Section, Week
from handlers.core.i18n import Label, Renderable, msg
from storage.models import Booking, BookingResource, Department, Person, Trip

# Bookings of the week read for the weekday breakdown: a week of one office's rooms is hundreds.
MOST_READ = 5000


@dataclass(frozen=True)
class Held:
    room: Label
    starts: datetime
    ends: datetime


@dataclass(frozen=True)
class Bookings:
    held: Sequence[Held] = ()
    booked: int = 0
    no_shows: int = 0
    # (department, trips, km), most trips first.
    trips: Sequence[tuple[Renderable, int, int]] = field(default_factory=tuple)
    working_days: int = 5

    def lines(self, zone: ZoneInfo) -> Sequence[Renderable]:
        if not self.booked and not self.trips:
            return ()
        said: list[Renderable] = []
        if self.booked:
            rate = round(100 * self.no_shows / self.booked)
            said.append(msg("booking.digest.rooms", count=self.booked, no_shows=self.no_shows, rate=rate))
            open_hours = self.working_days * (CLOSES.hour - OPENS.hour)
            by_room: dict[Label, list[Held]] = defaultdict(list)
            for held in self.held:
                by_room[held.room].append(held)
            for room, bookings in sorted(by_room.items(), key=lambda item: -len(item[1])):
                hours = sum((h.ends - h.starts).total_seconds() for h in bookings) / 3600
                busiest = Counter(h.starts.astimezone(zone).weekday() for h in bookings).most_common(1)[0][0]
                said.append(
                    msg(
                        "booking.digest.room",
                        room=room,
                        hours=f"{hours:g}",
                        percent=round(100 * hours / open_hours) if open_hours else 0,
                        weekday=msg(f"booking.weekday.{busiest}"),
                        days=by_weekday(bookings, zone),
                    )
                )
        for department, trips, km in self.trips:
            said.append(msg("booking.digest.trips", department=department, count=trips, km=km))
        return said

    def chart(self, scope: Scope, locale: str, zone: ZoneInfo) -> Chart | None:
        return None


def by_weekday(bookings: Sequence[Held], zone: ZoneInfo) -> Renderable:
    """A room's hours on each weekday of the week (Monday to Friday, to Sunday when it was used then)."""
    hours = [0.0] * 7
    for held in bookings:
        hours[held.starts.astimezone(zone).weekday()] += (held.ends - held.starts).total_seconds() / 3600
    days = 7 if hours[5] or hours[6] else 5
    shown = " · ".join(f"{h:g}" for h in hours[:days])
    return msg("booking.digest.week" if days == 7 else "booking.digest.weekdays", days=shown)


def working_days(week: Week) -> int:
    days = int((week.end - week.start) / timedelta(days=1))
    return sum(1 for n in range(days) if (week.start + timedelta(days=n)).weekday() < 5) or 5


async def week_of_bookings(session: AsyncSession, scope: Scope, week: Week) -> Bookings:
    rooms = (
        select(BookingResource, Booking.starts_at, Booking.ends_at, Booking.status)
        .join(Booking, Booking.resource_id == BookingResource.id)
        .where(Booking.starts_at >= week.start, Booking.starts_at < week.end, Booking.status != "cancelled")
    )
    trips = (
        select(Department, func.count(Trip.id), func.coalesce(func.sum(Trip.mileage_km), 0))
        .join(Department, Department.id == Trip.department_id, isouter=True)
        .where(Trip.starts_at >= week.start, Trip.starts_at < week.end, Trip.status.in_(("assigned", "finished")))
        .group_by(Department.id)
    )
    if scope.department is not None:
        rooms = rooms.join(Person, Person.id == Booking.booker_id).where(Person.department_id == scope.department.id)
        trips = trips.where(Trip.department_id == scope.department.id)
    found = (await session.execute(rooms.limit(MOST_READ))).all()
    held = [Held(room_name(resource), starts, ends) for resource, starts, ends, status in found if status != "released"]
    released = sum(1 for *_, status in found if status == "released")
    by_department: list[tuple[Renderable, int, int]] = [
        (
            Label(d.name_zh, d.name_en) if d is not None else msg("booking.digest.no_department"),
            int(n or 0),
            int(km or 0),
        )
        for d, n, km in (await session.execute(trips)).all()
    ]
    return Bookings(
        held=held,
        booked=len(found),
        no_shows=released,
        trips=tuple(sorted(by_department, key=lambda row: -row[1])),
        working_days=working_days(week),
    )


DIGEST = Section(70, week_of_bookings)
