"""Around a booking's start: a reminder 15 minutes before, check-in (the reminder's button, /book my,
or the room's door QR) from 15 minutes before to 15 minutes after the start, and the room released
when nobody checked in by then, the booker told (a no-show, counted by its status).

One job every five minutes does both; the sends log keeps each reminder to one, and the release is a
conditional UPDATE, so two processes, a catch-up or a check-in at the same moment change a booking once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.bookings import access
from handlers.core import authz
from handlers.core.flow import StepContext
from handlers.core.i18n import Msg, msg
from handlers.core.jobs import Job, Running, local_format
from handlers.core.outbox import Notice, notify
from handlers.core.sends import Delivery, deliver_all, fixed
from storage.models import Booking

REMIND_BEFORE = timedelta(minutes=15)
# Check-in opens this long before the start and closes this long after it; then the room is released.
OPENS_BEFORE = timedelta(minutes=15)
GRACE = timedelta(minutes=15)
CONFIRMED, RELEASED, PENDING = "confirmed", "released", "pending"


def may_check_in(booking: Booking, now: datetime) -> bool:
    return (
        booking.status == CONFIRMED
        and booking.checked_in_at is None
        and booking.starts_at - OPENS_BEFORE <= now < booking.starts_at + GRACE
    )


async def due_in(session: AsyncSession, resource_id: int, now: datetime) -> Booking | None:
    """The booking of this room whose check-in window is open now, if any."""
    query = select(Booking).where(
        Booking.resource_id == resource_id,
        Booking.status == CONFIRMED,
        Booking.checked_in_at.is_(None),
        Booking.starts_at <= now + OPENS_BEFORE,
        Booking.starts_at > now - GRACE,
    )
    found: Booking | None = await session.scalar(query.order_by(Booking.starts_at).limit(1))
    return found


async def check_in(ctx: StepContext, booking: Booking | None, by_door: bool = False) -> Msg:
    """By the booker's button (or logistics'), or by whoever scans the room's door: they are there."""
    if booking is None:
        return msg("booking.checkin.nothing_due" if by_door else "booking.error.not_found", number="")
    if not by_door and booking.booker_id != ctx.person.id and not authz.allowed(ctx.person, access.MANAGE):
        return msg("booking.checkin.not_yours", number=str(booking.number))
    if not may_check_in(booking, ctx.now):
        return msg("booking.checkin.not_now", number=str(booking.number))
    changed = await ctx.session.execute(
        update(Booking)
        .where(Booking.id == booking.id, Booking.status == CONFIRMED, Booking.checked_in_at.is_(None))
        .values(checked_in_at=ctx.now)
    )
    if not changed.rowcount:  # type: ignore[attr-defined]
        return msg("booking.checkin.not_now", number=str(booking.number))
    return msg("booking.checkin.done", number=str(booking.number))


async def end_each(
    running: Running, now: datetime, still: ColumnElement[bool], status: str, told: str, starts_before: datetime
) -> int:
    """Each booking that is `still` so and began before `starts_before` (within two days) moves to
    `status` by a conditional UPDATE (of two processes, one does it), its booker told `told`."""
    ended = 0
    async with running.db.unit_of_work() as session:
        recent = Booking.starts_at > now - timedelta(days=2)
        found = await session.scalars(select(Booking).where(still, Booking.starts_at <= starts_before, recent))
        for booking in list(found):
            changed = await session.execute(
                update(Booking).where(Booking.id == booking.id, still).values(status=status, ended_at=now)
            )
            if changed.rowcount:  # type: ignore[attr-defined]
                ended += 1
                said = msg(told, number=str(booking.number), title=booking.title)
                await notify(session, Notice(booking.booker_id, said), now)
    return ended


async def release_no_shows(running: Running, now: datetime) -> int:
    """Rooms nobody checked in to within the grace: released, the booker told. Returns how many."""
    unattended = and_(Booking.status == CONFIRMED, Booking.checked_in_at.is_(None))
    return await end_each(running, now, unattended, RELEASED, "booking.released", now - GRACE)


async def expire_undecided(running: Running, now: datetime) -> int:
    """Bookings of rooms that need approval still pending at their start: nobody decided in time, so
    the time is given back and the booker told. Returns how many."""
    return await end_each(running, now, Booking.status == PENDING, "cancelled", "booking.approval.expired", now)


async def remind(running: Running, now: datetime) -> str:
    async with running.db.unit_of_work() as session:
        soon = list(
            await session.scalars(
                select(Booking).where(
                    Booking.status == CONFIRMED,
                    Booking.checked_in_at.is_(None),
                    Booking.starts_at > now,
                    Booking.starts_at <= now + REMIND_BEFORE,
                )
            )
        )
    zone = running.schedule.zone
    deliveries = [
        Delivery(
            "bookings.reminder",
            str(booking.number),
            booking.booker_id,
            str(booking.number),
            fixed(
                Notice(
                    booking.booker_id,
                    msg(
                        "booking.reminder",
                        number=str(booking.number),
                        title=booking.title,
                        start=f"{booking.starts_at.astimezone(zone):%H:%M}",
                    ),
                    (((msg("booking.button.checkin"), f"bk:{booking.id}:checkin"),),),
                )
            ),
        )
        for booking in soon
    ]
    return str(await deliver_all(running.db, deliveries, now))


async def attend(running: Running, scheduled: datetime, now: datetime) -> object:
    released = await release_no_shows(running, now)
    expired = await expire_undecided(running, now)
    return f"released {released}; undecided {expired}; reminders: {await remind(running, now)}"


JOB = Job(
    "bookings.attendance",
    "booking reminders 15 minutes before; rooms nobody checked in to released",
    lambda schedule: {"minute": "*/5"},
    local_format("%Y-%m-%dT%H:%M"),
    attend,
    lookback=timedelta(hours=1),
    rank=35,
)
