"""Where bookings are made and read: the one conditional INSERT that never double-books a resource,
and the busy times the free slots are worked out from.

The check a person sees (only free slots are offered) is a courtesy; the promise is kept here. The
INSERT … SELECT … WHERE NOT EXISTS (an overlapping booking, confirmed or pending) is one statement: on SQLite
every transaction holds the write lock from BEGIN (storage/db.py), so no other writer can slip in
between its check and its write. On PostgreSQL the resource's row is locked first (bookings of one
room queue, each seeing the one before once it commits), and the exclusion constraint (migration
0015_bookings) refuses an overlap whatever wrote it; a refusal is taken as "taken".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, insert, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Booking, BookingResource

CONFIRMED, PENDING = "confirmed", "pending"
STATUSES = ("confirmed", "pending", "cancelled", "released")
# What holds a room's time: a booking made, or one waiting for a logistics admin's approval.
HOLDING = (CONFIRMED, PENDING)


@dataclass(frozen=True)
class Busy:
    resource_id: int
    starts: datetime
    ends: datetime


def number_of(booking_id: int, made: datetime) -> str:
    return f"B-{made.year}-{booking_id:06d}"


async def reserve(
    session: AsyncSession,
    *,
    resource_id: int,
    booker_id: int,
    title: str,
    starts: datetime,
    ends: datetime,
    channel: str,
    now: datetime,
    status: str = CONFIRMED,
) -> Booking | None:
    """The booking, made (`status` pending for a room that needs approval: it holds the time all the
    same); or None when the resource is no longer free then (nothing written)."""
    table = Booking.__table__
    overlapping = select(Booking.id).where(
        Booking.resource_id == resource_id,
        Booking.status.in_(HOLDING),
        Booking.starts_at < ends,
        Booking.ends_at > starts,
    )
    values = {
        "resource_id": resource_id,
        "booker_id": booker_id,
        "title": title,
        "starts_at": starts,
        "ends_at": ends,
        "status": status,
        "channel": channel,
        "created_at": now,
    }
    row = select(*(literal(value, table.c[name].type).label(name) for name, value in values.items())).where(
        ~exists(overlapping)
    )
    statement = insert(Booking).from_select(list(values), row).returning(Booking.id)
    # One booking of a resource at a time: PostgreSQL checks an exclusion constraint against rows
    # still uncommitted, so two inserts waiting on each other deadlock (measured: 50 at once); the
    # resource's row lock, held to commit, queues them and each sees the one before (SQLite: a no-op,
    # its write lock is already held).
    await session.execute(select(BookingResource.id).where(BookingResource.id == resource_id).with_for_update())
    try:
        async with session.begin_nested():
            made = (await session.execute(statement)).scalar_one_or_none()
    except IntegrityError:
        return None  # PostgreSQL's exclusion constraint: another booking got there first
    if made is None:
        return None
    await session.execute(update(Booking).where(Booking.id == made).values(number=number_of(made, now)))
    return await session.get(Booking, made, populate_existing=True)


async def busy(session: AsyncSession, resource_ids: list[int], starts: datetime, ends: datetime) -> list[Busy]:
    """The bookings (made or awaiting approval) of these resources that overlap [starts, ends)."""
    if not resource_ids:
        return []
    query = select(Booking.resource_id, Booking.starts_at, Booking.ends_at).where(
        Booking.resource_id.in_(resource_ids),
        Booking.status.in_(HOLDING),
        Booking.starts_at < ends,
        Booking.ends_at > starts,
    )
    return [Busy(resource, start, end) for resource, start, end in (await session.execute(query)).all()]


async def move(session: AsyncSession, booking: Booking, starts: datetime, ends: datetime) -> bool:
    """Change a confirmed booking's times: only if nothing else of its resource overlaps the new ones
    (the same guarantee as reserve: the resource's row locked, one conditional UPDATE, and on
    PostgreSQL the exclusion constraint). False, and nothing changed, when they are taken."""
    await session.execute(select(BookingResource.id).where(BookingResource.id == booking.resource_id).with_for_update())
    others = select(Booking.id).where(
        Booking.resource_id == booking.resource_id,
        Booking.id != booking.id,
        Booking.status.in_(HOLDING),
        Booking.starts_at < ends,
        Booking.ends_at > starts,
    )
    statement = (
        update(Booking)
        .where(Booking.id == booking.id, Booking.status == CONFIRMED, ~exists(others))
        .values(starts_at=starts, ends_at=ends, checked_in_at=None)
        .execution_options(synchronize_session=False)
    )
    try:
        async with session.begin_nested():
            changed = await session.execute(statement)
    except IntegrityError:
        return False
    if not changed.rowcount:  # type: ignore[attr-defined]
        return False
    await session.refresh(booking)
    return True
