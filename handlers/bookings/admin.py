"""The logistics admins' side of bookings: /book admin (the bookable rooms and vehicles),
/book close A 201 FROM TO and /book open A 201 (maintenance), a CSV or XLSX of rooms captioned
/book import (checked whole: one bad row imports nothing), and /export bookings csv|xlsx."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.bookings import access
from handlers.bookings.rooms import EQUIPMENT, described, make_bookable, room_at, room_name
from handlers.bookings.steps import read_date
from handlers.core import audit, uploads
from handlers.core.adminkit import MAX_ROWS, Period, when
from handlers.core.conversation import DocumentIn
from handlers.core.flow import Action, StepContext, said
from handlers.core.i18n import Lines, Renderable, msg, translate
from handlers.core.sheets import Cell
from storage.models import Booking, BookingResource, Trip

MANAGE = access.MANAGE
# The most rows one import takes.
MOST_ROWS = 500


async def overview(ctx: StepContext) -> Action:
    if (refusal := access.refusal(ctx)) is not None:
        return said(refusal)
    found = list(await ctx.session.scalars(select(BookingResource).order_by(BookingResource.kind, BookingResource.id)))
    parts: list[Renderable] = [msg("booking.admin.title", count=len(found))]
    for resource in found:
        line: Renderable = (
            described(resource)
            if resource.kind == "room"
            else msg("booking.vehicle_line", vehicle=f"{resource.plate} {resource.model}", count=resource.capacity)
        )
        parts.append(line)
        if resource.closed_from is not None and resource.closed_until is not None:
            parts.append(
                msg(
                    "booking.admin.closed",
                    first=resource.closed_from.astimezone(ctx.zone).date().isoformat(),
                    last=(resource.closed_until.astimezone(ctx.zone).date() - timedelta(days=1)).isoformat(),
                )
            )
    parts.append(msg("booking.admin.usage"))
    return said(Lines(tuple(parts)))


async def close(ctx: StepContext, words: list[str], closing: bool) -> Action:
    """/book close A 201 FROM TO (days, both included) · /book open A 201."""
    if (refusal := access.refusal(ctx)) is not None:
        return said(refusal)
    wanted = 4 if closing else 2
    if len(words) != wanted:
        return said(msg("booking.admin.usage"))
    room = await room_at(ctx.session, words[0], words[1])
    resource = (
        None
        if room is None
        else await ctx.session.scalar(select(BookingResource).where(BookingResource.room_id == room.id))
    )
    if resource is None:
        return said(msg("booking.error.no_such_room", room=" ".join(words[:2])[:40]))
    if not closing:
        resource.closed_from = resource.closed_until = None
        audit.done(ctx, MANAGE, f"room:{resource.id}", did="open")
        return said(msg("booking.admin.opened", room=room_name(resource)))
    today = ctx.now.astimezone(ctx.zone).date()
    first, last = read_date(words[2], today), read_date(words[3], today)
    if first is None or last is None or last < first:
        return said(msg("booking.admin.bad_period"))
    resource.closed_from = datetime.combine(first, time(0), tzinfo=ctx.zone)
    resource.closed_until = datetime.combine(last + timedelta(days=1), time(0), tzinfo=ctx.zone)
    audit.done(ctx, MANAGE, f"room:{resource.id}", did="close", first=first.isoformat(), last=last.isoformat())
    held = await ctx.session.scalar(
        select(Booking.id)
        .where(
            Booking.resource_id == resource.id,
            Booking.status.in_(("confirmed", "pending")),
            Booking.starts_at < resource.closed_until,
            Booking.ends_at > resource.closed_from,
        )
        .limit(1)
    )
    closed = msg("booking.admin.closed_done", room=room_name(resource), first=first.isoformat(), last=last.isoformat())
    return said(Lines((closed, msg("booking.admin.closed_has_bookings"))) if held is not None else closed)


async def import_upload(ctx: StepContext, args: str, document: DocumentIn) -> Action:
    """A CSV or XLSX captioned /book import: building, room, seats, equipment, departments."""
    if args.strip().lower() != "import":
        return said(msg("booking.import.caption"))
    if (refusal := access.refusal(ctx)) is not None:
        return said(refusal)
    try:
        rows = await uploads.read(document, uploads.TABLE)
    except uploads.FileProblem as problem:
        return said(problem.message())
    body = [row for row in rows[1:] if any(cell.strip() for cell in row)]
    if not body or len(body) > MOST_ROWS:
        return said(msg("booking.import.empty", max=MOST_ROWS))
    problems: list[Renderable] = []
    ready = []
    for number, row in enumerate(body, start=2):
        cells = [*row, "", "", "", "", ""][:5]
        building, code, seats, kit, departments = (cell.strip() for cell in cells)
        room = await room_at(ctx.session, building, code)
        equipment = [word for word in kit.replace("，", ",").replace(" ", ",").lower().split(",") if word]
        if room is None:
            problems.append(msg("booking.import.no_room", row=number, room=f"{building} {code}"[:40]))
        elif not seats.isdigit() or not 1 <= int(seats) <= 500:
            problems.append(msg("booking.import.bad_seats", row=number))
        elif any(word not in EQUIPMENT for word in equipment):
            problems.append(msg("booking.import.bad_equipment", row=number, known=", ".join(EQUIPMENT)))
        else:
            codes = [code.strip().upper() for code in departments.replace("，", ",").split(",") if code.strip()]
            ready.append((room, int(seats), equipment, codes))
    if problems:
        return said(Lines((msg("booking.import.refused", count=len(problems)), *problems[:10])))
    for room, seats, equipment, codes in ready:
        await make_bookable(ctx.session, room, seats, equipment, codes)
    audit.done(ctx, MANAGE, document.name[:100], did="import", rows=len(ready))
    return said(msg("booking.import.done", count=len(ready)))


# --- /export bookings ----------------------------------------------------------------------------

COLUMNS = (
    "number",
    "booking_kind",
    "booking_resource",
    "booker",
    "booking_title",
    "booking_starts",
    "booking_ends",
    "status",
    "checked_in",
    "mileage_km",
)


async def export_rows(session: AsyncSession, period: Period | None, zone: ZoneInfo, locale: str) -> list[list[Cell]]:
    rooms = select(Booking).order_by(Booking.starts_at).limit(MAX_ROWS)
    trips = select(Trip).order_by(Trip.starts_at).limit(MAX_ROWS)
    if period is not None:
        start, end = period.bounds(zone)
        rooms = rooms.where(Booking.starts_at >= start, Booking.starts_at < end)
        trips = trips.where(Trip.starts_at >= start, Trip.starts_at < end)
    found: list[list[Cell]] = [
        [
            booking.number or "",
            translate(locale, "booking.kind.room"),
            room_name(booking.resource).render(locale),
            booking.booker.display_name,
            booking.title,
            when(booking.starts_at, zone),
            when(booking.ends_at, zone),
            translate(locale, f"booking.status.{booking.status}"),
            when(booking.checked_in_at, zone),
            "",
        ]
        for booking in await session.scalars(rooms)
    ]
    found += [
        [
            trip.number or "",
            translate(locale, "booking.kind.vehicle"),
            f"{trip.vehicle.plate} {trip.vehicle.model}" if trip.vehicle is not None else "",
            trip.requester.display_name,
            f"{trip.destination} · {trip.purpose}",
            when(trip.starts_at, zone),
            when(trip.ends_at, zone),
            translate(locale, f"booking.trip.status.{trip.status}"),
            "",
            trip.mileage_km if trip.mileage_km is not None else "",
        ]
        for trip in await session.scalars(trips)
    ]
    return found[:MAX_ROWS]


async def admin_entry(ctx: StepContext, args: str) -> Action:
    """/admin's Meeting rooms button: the overview."""
    return await overview(ctx)
