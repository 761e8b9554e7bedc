"""The bookable rooms: which a person may book, which fit a meeting, when they open and close, and
the logistics admins' `/book room` that makes a room of the rooms table bookable."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core import org_settings
from handlers.core.adminkit import Joined
from handlers.core.flow import StepContext
from handlers.core.i18n import Label, Msg, msg
from handlers.core.rooms import DoorBuilding, DoorRoom
from handlers.core.schedule import Schedule
from storage.models import Booking, BookingResource, Building, Room

EQUIPMENT = ("projector", "video")
# When rooms may be booked on a working day, on the half-hour grid.
OPENS, CLOSES = time(8, 0), time(18, 0)
GRID = 30
# The longest one booking may be.
LONGEST = 240
LENGTHS = (30, 60, 90, 120, 180, 240)


def room_name(resource: BookingResource) -> Label:
    room = resource.room
    if room is None:
        return Label(f"#{resource.id}", f"#{resource.id}")
    building = room.building
    return Label(f"{building.name_zh} {room.code} {room.name_zh}", f"{building.name_en} {room.code} {room.name_en}")


def equipment_of(resource: BookingResource) -> list[str]:
    return [word for word in resource.equipment.split(",") if word]


def described(resource: BookingResource) -> Msg:
    """The room as a choice shows it: its name, how many it seats, what it has."""
    kit = [msg(f"booking.equipment.{word}") for word in equipment_of(resource) if word in EQUIPMENT]
    return msg(
        "booking.room_line",
        room=room_name(resource),
        count=resource.capacity,
        equipment=msg("booking.equipment_list", items=Joined(tuple(kit))) if kit else "",
        approval=msg("booking.needs_approval") if resource.needs_approval else "",
    )


def may_book(resource: BookingResource, department_code: str | None) -> bool:
    allowed = [code for code in resource.departments.split(",") if code]
    return not allowed or department_code in allowed


async def bookable(ctx: StepContext) -> list[BookingResource]:
    """The open rooms this person may book, smallest first (a small meeting leaves the big room free)."""
    query = (
        select(BookingResource)
        .where(BookingResource.kind == "room", BookingResource.active.is_(True))
        .order_by(BookingResource.capacity, BookingResource.id)
    )
    department = ctx.person.department.code if ctx.person.department is not None else None
    return [found for found in await ctx.session.scalars(query) if may_book(found, department)]


def fits(resource: BookingResource, people: int, wanted: str | None) -> bool:
    return resource.capacity >= people and (wanted in (None, "none") or wanted in equipment_of(resource))


async def calendar(ctx: StepContext) -> Schedule:
    """The organisation's calendar as /settings left it (working days, holidays, make-up days)."""
    return await org_settings.office(ctx.session, ctx.zone, ctx.calendar)


def opening(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    return datetime.combine(day, OPENS, tzinfo=zone), datetime.combine(day, CLOSES, tzinfo=zone)


def closed_for(resource: BookingResource, starts: datetime, ends: datetime) -> bool:
    """Closed for maintenance at any moment of [starts, ends)."""
    if resource.closed_from is None:
        return False
    until = resource.closed_until or datetime.max.replace(tzinfo=starts.tzinfo)
    return resource.closed_from < ends and until > starts


def grid(day: date, zone: ZoneInfo) -> list[datetime]:
    opens, closes = opening(day, zone)
    steps = int((closes - opens) / timedelta(minutes=GRID))
    return [opens + timedelta(minutes=GRID * n) for n in range(steps)]


async def room_at(session: AsyncSession, building: str, code: str) -> Room | None:
    query = select(Room).join(Room.building).where(Building.code == building.upper(), Room.code == code)
    found: Room | None = await session.scalar(query)
    return found


async def make_bookable(
    session: AsyncSession,
    room: Room,
    capacity: int,
    equipment: Sequence[str],
    departments: Sequence[str] = (),
    *,
    needs_approval: bool = False,
) -> BookingResource:
    """Make a room bookable, or change what it seats and has (its bookings stay)."""
    resource = await session.scalar(select(BookingResource).where(BookingResource.room_id == room.id))
    if resource is None:
        resource = BookingResource(kind="room", room_id=room.id, capacity=capacity)
        session.add(resource)
    resource.capacity = capacity
    resource.equipment = ",".join(word for word in EQUIPMENT if word in equipment)
    resource.departments = ",".join(departments)
    resource.needs_approval = needs_approval
    resource.active = True
    await session.flush()
    await session.refresh(resource)
    return resource


async def today_of(session: AsyncSession, resource_ids: list[int], day: date, zone: ZoneInfo) -> list[Booking]:
    opens, closes = datetime.combine(day, time(0), tzinfo=zone), datetime.combine(day, time(0), tzinfo=zone)
    closes += timedelta(days=1)
    query = (
        select(Booking)
        .where(
            Booking.resource_id.in_(resource_ids),
            Booking.status.in_(("confirmed", "pending")),
            Booking.starts_at < closes,
            Booking.ends_at > opens,
        )
        .order_by(Booking.starts_at)
    )
    return list(await session.scalars(query))


async def door_check_ins(session: AsyncSession) -> list[tuple[int, DoorRoom]]:
    """The bookable rooms, each with the resource id its check-in code carries (`houqin qr`)."""
    found = await session.scalars(
        select(BookingResource)
        .where(BookingResource.kind == "room", BookingResource.active.is_(True), BookingResource.room_id.is_not(None))
        .order_by(BookingResource.id)
    )
    signs = []
    for resource in found.all():
        room = await session.get(Room, resource.room_id)
        if room is not None:
            building = DoorBuilding(room.building.code, room.building.name_zh, room.building.name_en)
            signs.append((resource.id, DoorRoom(room.id, room.code, room.name_zh, room.name_en, building)))
    return signs
