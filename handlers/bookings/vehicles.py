"""Vehicles (用车申请): /book car asks where, how many, why, the day, from when and for how long; the
requester's department manager approves (or not); a logistics admin assigns a vehicle and a driver
among those free then; the requester and the driver are told (the driver gets a card with the trip
and its Trip finished button, which asks the mileage). The requester may cancel until it ends.

An assigned vehicle or driver is never on two trips at once: the assignment is one conditional
UPDATE that finds no other assigned trip of that vehicle or driver overlapping, on SQLite under the
write lock; on PostgreSQL the vehicle's and the driver's rows are locked first and two exclusion
constraints refuse an overlap whatever wrote it (migration 0015_bookings).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, Exists, exists, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from handlers.bookings import access
from handlers.bookings.steps import DayStep, DurationStep, TimeSlotStep
from handlers.core import audit, authz, ids
from handlers.core.flow import (
    Action,
    ChoiceStep,
    ConfirmStep,
    Flow,
    Goto,
    NumberStep,
    Option,
    StepContext,
    Submitted,
    TextStep,
    as_is,
    said,
)
from handlers.core.i18n import Label, Msg, msg
from handlers.core.outbox import Notice, notify
from handlers.core.people import find_person, people_with_role
from handlers.core.refusals import Refused
from storage.models import BookingResource, Person, Trip

MANAGE = access.MANAGE
# A department manager approves the trips of their department's people (judged against the trip's).
APPROVE = "booking.trip_approve"
OPEN = ("pending_manager", "pending_assignment", "assigned")
STATUSES = (*OPEN, "finished", "rejected", "cancelled")
# Trips start on the half hour between these hours, and last up to LONGEST minutes.
FIRST_START, LAST_START = 6, 22
LONGEST = 12 * 60
LENGTHS = (60, 120, 180, 240, 360, 480, 600, 720)


def number_of(trip_id: int, made: datetime) -> str:
    return f"V-{made.year}-{trip_id:06d}"


def vehicle_name(vehicle: BookingResource) -> Label:
    return Label(f"{vehicle.plate} {vehicle.model}", f"{vehicle.plate} {vehicle.model}")


def driver_ids(vehicle: BookingResource) -> list[int]:
    return [int(part) for part in vehicle.drivers.split(",") if part.isdigit()]


def when_of(trip: Trip, ctx: StepContext) -> str:
    starts, ends = trip.starts_at.astimezone(ctx.zone), trip.ends_at.astimezone(ctx.zone)
    until = f"{ends:%H:%M}" if ends.date() == starts.date() else f"{ends:%Y-%m-%d %H:%M}"
    return f"{starts:%Y-%m-%d %H:%M}–{until}"


def described(trip: Trip, ctx: StepContext) -> Msg:
    return msg(
        "booking.trip.card",
        number=str(trip.number),
        who=trip.requester.display_name,
        destination=trip.destination,
        count=trip.passengers,
        purpose=trip.purpose,
        when=when_of(trip, ctx),
    )


async def vehicles(session: AsyncSession) -> list[BookingResource]:
    query = select(BookingResource).where(BookingResource.kind == "vehicle", BookingResource.active.is_(True))
    return list(await session.scalars(query.order_by(BookingResource.capacity, BookingResource.id)))


# --- asking for a vehicle ------------------------------------------------------------------------


async def check_passengers(ctx: StepContext, count: int) -> Msg | None:
    largest = max((vehicle.capacity for vehicle in await vehicles(ctx.session)), default=0)
    return msg("booking.error.too_many", count=count, largest=largest) if count > largest else None


def day_of(ctx: StepContext) -> date:
    return date.fromisoformat(ctx.data["day"])


def start_of(ctx: StepContext) -> datetime:
    hour, minute = (int(part) for part in ctx.data["start"].split(":"))
    return datetime(day_of(ctx).year, day_of(ctx).month, day_of(ctx).day, hour, minute, tzinfo=ctx.zone)


async def start_options(ctx: StepContext) -> list[Option]:
    day = day_of(ctx)
    found = []
    for half_hours in range(FIRST_START * 2, LAST_START * 2 + 1):
        starts = datetime(day.year, day.month, day.day, half_hours // 2, 30 * (half_hours % 2), tzinfo=ctx.zone)
        if starts >= ctx.now:
            found.append(Option(f"{starts:%H:%M}", as_is(f"{starts:%H:%M}")))
    return found


async def judge_start(ctx: StepContext, minutes: int) -> Msg | None:
    if minutes % 30:
        return msg("booking.error.grid", minutes=30)
    if not FIRST_START * 60 <= minutes <= LAST_START * 60:
        return msg("booking.error.outside_hours", opens=f"{FIRST_START:02d}:00", closes=f"{LAST_START:02d}:00")
    day = day_of(ctx)
    if datetime(day.year, day.month, day.day, minutes // 60, minutes % 60, tzinfo=ctx.zone) < ctx.now:
        return msg("booking.error.past_time", start=f"{minutes // 60:02d}:{minutes % 60:02d}")
    return None


async def lengths(ctx: StepContext) -> list[int]:
    return list(LENGTHS)


async def judge_length(ctx: StepContext, minutes: int) -> Msg | None:
    if minutes % 30:
        return msg("booking.error.grid_length", minutes=30)
    if minutes > LONGEST:
        return msg("booking.error.too_long", max=LONGEST // 60)
    return None


async def trip_summary(ctx: StepContext) -> Msg:
    starts = start_of(ctx)
    ends = starts + timedelta(minutes=int(ctx.data["length"]))
    return msg(
        "booking.trip.summary",
        destination=ctx.data["destination"],
        count=int(ctx.data["passengers"]),
        purpose=ctx.data["purpose"],
        when=f"{starts:%Y-%m-%d %H:%M}–{ends:%H:%M}"
        if ends.date() == starts.date()
        else f"{starts:%Y-%m-%d %H:%M}–{ends:%Y-%m-%d %H:%M}",
    )


async def ask_for_vehicle(ctx: StepContext) -> Submitted:
    starts = start_of(ctx)
    if starts < ctx.now:
        raise Goto("day", msg("booking.error.past_time", start=f"{starts:%H:%M}"))
    department = ctx.person.department
    managers = [
        person
        for person in (await people_with_role(ctx.session, "manager", department.code) if department else [])
        if person.id != ctx.person.id
    ]
    trip = Trip(
        requester_id=ctx.person.id,
        department_id=department.id if department else None,
        destination=ctx.data["destination"],
        passengers=int(ctx.data["passengers"]),
        purpose=ctx.data["purpose"],
        starts_at=starts,
        ends_at=starts + timedelta(minutes=int(ctx.data["length"])),
        # No manager to ask (none, or the requester is theirs): straight to logistics.
        status="pending_manager" if managers else "pending_assignment",
        channel=ctx.channel,
        created_at=ctx.now,
    )
    ctx.session.add(trip)
    await ctx.session.flush()
    trip.number = number_of(trip.id, ctx.now)
    await ctx.session.flush()
    await ctx.session.refresh(trip)
    if managers:
        for manager in managers:
            await notify(ctx.session, approval_card(trip, ctx, manager.id), ctx.now)
        return Submitted(msg("booking.trip.asked", number=str(trip.number)), str(trip.number))
    await tell_logistics(ctx, trip)
    return Submitted(msg("booking.trip.asked_logistics", number=str(trip.number)), str(trip.number))


def approval_card(trip: Trip, ctx: StepContext, manager_id: int) -> Notice:
    return Notice(
        manager_id,
        msg("booking.trip.approve_card", trip=described(trip, ctx)),
        (
            (
                (msg("booking.trip.button.approve"), f"vt:{trip.id}:approve"),
                (msg("booking.trip.button.reject"), f"vt:{trip.id}:reject"),
            ),
        ),
    )


async def tell_logistics(ctx: StepContext, trip: Trip) -> None:
    for admin in await people_with_role(ctx.session, "logistics_admin"):
        card = Notice(
            admin.id,
            msg("booking.trip.assign_card", trip=described(trip, ctx)),
            (((msg("booking.trip.button.assign"), f"vt:{trip.id}:assign"),),),
        )
        await notify(ctx.session, card, ctx.now)


TRIP = Flow(
    "trip",
    msg("booking.trip.title"),
    msg("booking.trip.description"),
    (
        TextStep("destination", msg("booking.trip.ask.destination"), min_length=2, max_length=200),
        NumberStep(
            "passengers",
            msg("booking.trip.ask.passengers"),
            min_value=1,
            max_value=60,
            check=check_passengers,
            quick=(1, 2, 3, 4),
        ),
        TextStep("purpose", msg("booking.trip.ask.purpose"), min_length=2, max_length=300),
        DayStep("day", msg("booking.ask.day")),
        TimeSlotStep(
            "start", msg("booking.trip.ask.start"), options=start_options, columns=4, page_size=12, judge=judge_start
        ),
        DurationStep("length", msg("booking.trip.ask.length"), lengths=lengths, judge=judge_length),
        ConfirmStep("confirm", msg("booking.trip.ask.confirm"), summary=trip_summary),
    ),
    ask_for_vehicle,
    listed=False,
)


# --- the manager's decision ----------------------------------------------------------------------


async def decide(ctx: StepContext, trip: Trip, approve: bool) -> Msg:
    code = trip.department.code if trip.department else None
    if code is None or not authz.allowed(ctx.person, APPROVE, department=code):
        try:
            authz.require(ctx, APPROVE, str(trip.number), department=code or "-")
        except Refused as refused:
            return refused.reason
    # Of two approvers pressing at once, one decides; the other is told it was decided.
    changed = await ctx.session.execute(
        update(Trip)
        .where(Trip.id == trip.id, Trip.status == "pending_manager")
        .values(
            status="pending_assignment" if approve else "rejected",
            approver_id=ctx.person.id,
            closed_at=None if approve else ctx.now,
        )
    )
    if not changed.rowcount:  # type: ignore[attr-defined]
        return msg("booking.trip.already_decided", number=str(trip.number))
    await ctx.session.refresh(trip)
    audit.done(ctx, APPROVE, str(trip.number), did="approve" if approve else "reject")
    told = "booking.trip.approved_for_you" if approve else "booking.trip.rejected_for_you"
    await notify(
        ctx.session, Notice(trip.requester_id, msg(told, number=str(trip.number), who=ctx.person.display_name)), ctx.now
    )
    if approve:
        await tell_logistics(ctx, trip)
    return msg("booking.trip.approved" if approve else "booking.trip.rejected", number=str(trip.number))


# --- assigning a vehicle and a driver ------------------------------------------------------------


def overlapping(
    trip_id: int, starts: datetime, ends: datetime, *, vehicle_id: int | None = None, driver_id: int | None = None
) -> Exists:
    """Another assigned trip of this vehicle or this driver overlapping [starts, ends)."""
    other = aliased(Trip)
    holds: list[ColumnElement[bool]] = []
    if vehicle_id is not None:
        holds.append(other.vehicle_id == vehicle_id)
    if driver_id is not None:
        holds.append(other.driver_id == driver_id)
    return exists().where(
        other.id != trip_id,
        other.status == "assigned",
        or_(*holds),
        other.starts_at < ends,
        other.ends_at > starts,
    )


async def the_trip(ctx: StepContext) -> Trip | None:
    return await ctx.session.get(Trip, int(ctx.data["trip"]), populate_existing=True)


async def free_vehicles(ctx: StepContext) -> list[Option]:
    """Vehicles with enough seats, on no other trip then, with one of their drivers free too."""
    trip = await the_trip(ctx)
    if trip is None:
        return []
    found = []
    for vehicle in await vehicles(ctx.session):
        busy = await ctx.session.scalar(
            select(overlapping(trip.id, trip.starts_at, trip.ends_at, vehicle_id=vehicle.id))
        )
        with_driver = {**ctx.data, "vehicle": str(vehicle.id)}
        if vehicle.capacity >= trip.passengers and not busy and await free_drivers(replace(ctx, data=with_driver)):
            found.append(
                Option(
                    str(vehicle.id), msg("booking.vehicle_line", vehicle=vehicle_name(vehicle), count=vehicle.capacity)
                )
            )
    return found


async def free_drivers(ctx: StepContext) -> list[Option]:
    trip = await the_trip(ctx)
    vehicle = await ctx.session.get(BookingResource, int(ctx.data["vehicle"]))
    if trip is None or vehicle is None:
        return []
    found = []
    for driver_id in driver_ids(vehicle):
        driver = await ctx.session.get(Person, driver_id)
        busy = await ctx.session.scalar(select(overlapping(trip.id, trip.starts_at, trip.ends_at, driver_id=driver_id)))
        if driver is not None and driver.member and not busy:
            found.append(Option(str(driver_id), as_is(driver.display_name)))
    return found


async def assign_summary(ctx: StepContext) -> Msg:
    trip = await the_trip(ctx)
    vehicle = await ctx.session.get(BookingResource, int(ctx.data["vehicle"]))
    driver = await ctx.session.get(Person, int(ctx.data["driver"]))
    assert trip is not None and vehicle is not None and driver is not None
    return msg(
        "booking.trip.assign_summary",
        trip=described(trip, ctx),
        vehicle=vehicle_name(vehicle),
        driver=driver.display_name,
    )


async def assign(ctx: StepContext) -> Submitted:
    trip = await the_trip(ctx)
    assert trip is not None
    authz.require(ctx, MANAGE, str(trip.number))
    vehicle_id, driver_id = int(ctx.data["vehicle"]), int(ctx.data["driver"])
    if not await assigned(ctx.session, trip, vehicle_id, driver_id):
        raise Goto("vehicle", msg("booking.trip.error.taken"))
    await ctx.session.refresh(trip)
    assert trip.vehicle is not None and trip.driver is not None
    audit.done(ctx, MANAGE, str(trip.number), did="assign", vehicle=trip.vehicle.plate, driver=trip.driver.display_name)
    told = msg(
        "booking.trip.assigned_for_you",
        number=str(trip.number),
        vehicle=vehicle_name(trip.vehicle),
        driver=trip.driver.display_name,
        when=when_of(trip, ctx),
    )
    await notify(ctx.session, Notice(trip.requester_id, told), ctx.now)
    card = Notice(
        driver_id,
        msg("booking.trip.driver_card", trip=described(trip, ctx), vehicle=vehicle_name(trip.vehicle)),
        (((msg("booking.trip.button.finish"), f"vt:{trip.id}:finish"),),),
    )
    await notify(ctx.session, card, ctx.now)
    return Submitted(
        msg(
            "booking.trip.assigned",
            number=str(trip.number),
            vehicle=vehicle_name(trip.vehicle),
            driver=trip.driver.display_name,
        ),
        str(trip.number),
    )


async def assigned(session: AsyncSession, trip: Trip, vehicle_id: int, driver_id: int) -> bool:
    """The one write that assigns: only a trip still waiting, only a vehicle and a driver with no
    overlapping assigned trip. The vehicle's and the driver's rows are locked first (PostgreSQL:
    assignments of one vehicle or driver queue instead of deadlocking in the exclusion check)."""
    await session.execute(select(BookingResource.id).where(BookingResource.id == vehicle_id).with_for_update())
    await session.execute(select(Person.id).where(Person.id == driver_id).with_for_update())
    statement = (
        update(Trip)
        .where(
            Trip.id == trip.id,
            Trip.status == "pending_assignment",
            ~overlapping(trip.id, trip.starts_at, trip.ends_at, vehicle_id=vehicle_id, driver_id=driver_id),
        )
        .values(status="assigned", vehicle_id=vehicle_id, driver_id=driver_id)
        .execution_options(synchronize_session=False)
    )
    try:
        async with session.begin_nested():
            changed = await session.execute(statement)
    except IntegrityError:
        return False  # PostgreSQL's exclusion constraints: taken meanwhile
    return bool(changed.rowcount)  # type: ignore[attr-defined]


ASSIGN = Flow(
    "trip_assign",
    msg("booking.trip.assign_title"),
    msg("booking.trip.assign_title"),
    (
        ChoiceStep("vehicle", msg("booking.trip.ask.vehicle"), options=free_vehicles, columns=1),
        ChoiceStep("driver", msg("booking.trip.ask.driver"), options=free_drivers, columns=2),
        ConfirmStep("confirm", msg("booking.trip.ask.confirm_assign"), summary=assign_summary),
    ),
    assign,
    listed=False,
)


# --- the trip finished ---------------------------------------------------------------------------


async def finish(ctx: StepContext) -> Submitted:
    trip = await the_trip(ctx)
    assert trip is not None
    if trip.driver_id != ctx.person.id:
        authz.require(ctx, MANAGE, str(trip.number))
    changed = await ctx.session.execute(
        update(Trip)
        .where(Trip.id == trip.id, Trip.status == "assigned")
        .values(status="finished", mileage_km=int(ctx.data["mileage"]), closed_at=ctx.now)
    )
    if not changed.rowcount:  # type: ignore[attr-defined]
        return Submitted(msg("booking.trip.not_open", number=str(trip.number)), str(trip.number))
    return Submitted(
        msg("booking.trip.finished", number=str(trip.number), km=int(ctx.data["mileage"])), str(trip.number)
    )


FINISH = Flow(
    "trip_finish",
    msg("booking.trip.finish_title"),
    msg("booking.trip.finish_title"),
    (NumberStep("mileage", msg("booking.trip.ask.mileage"), min_value=0, max_value=5000),),
    finish,
    listed=False,
)


# --- buttons and commands ------------------------------------------------------------------------


async def on_button(ctx: StepContext, value: str) -> Action:
    """vt:<trip>:approve|reject|assign|finish — re-read and re-judged on every press."""
    ref, _, act = value.partition(":")
    trip_id = ids.parse_id(ref)
    trip = None if trip_id is None else await ctx.session.get(Trip, trip_id, populate_existing=True)
    if trip is None or act not in ("approve", "reject", "assign", "finish"):
        return said(msg("dialog.error.forged_button"))
    if act in ("approve", "reject"):
        return said(await decide(ctx, trip, act == "approve"))
    if act == "assign":
        if (refused := access.refusal(ctx, str(trip.number))) is not None:
            return said(refused)
        if trip.status != "pending_assignment":
            return said(msg("booking.trip.not_waiting", number=str(trip.number)))
        if not await free_vehicles(replace(ctx, data={"trip": trip.id})):
            return said(msg("booking.trip.nothing_free", number=str(trip.number)))
        return Action(start=(ASSIGN.name, {"trip": trip.id}))
    if trip.driver_id != ctx.person.id and not authz.allowed(ctx.person, MANAGE):
        return said(msg("booking.trip.not_your_trip", number=str(trip.number)))
    if trip.status != "assigned":
        return said(msg("booking.trip.not_open", number=str(trip.number)))
    return Action(start=(FINISH.name, {"trip": trip.id}))


async def requesters_trip(ctx: StepContext, number: str) -> Trip | Msg:
    """The trip, for its requester or logistics; else why not."""
    trip: Trip | None = await ctx.session.scalar(select(Trip).where(Trip.number == number.upper()[:20]))
    if trip is None:
        return msg("booking.error.not_found", number=number[:24])
    if trip.requester_id != ctx.person.id and (refused := access.refusal(ctx, str(trip.number))) is not None:
        return refused
    return trip


async def cancel(ctx: StepContext, number: str) -> Msg:
    trip = await requesters_trip(ctx, number)
    if not isinstance(trip, Trip):
        return trip
    changed = await ctx.session.execute(
        update(Trip)
        .where(Trip.id == trip.id, Trip.status.in_(OPEN), Trip.ends_at > ctx.now)
        .values(status="cancelled", closed_at=ctx.now)
    )
    if not changed.rowcount:  # type: ignore[attr-defined]
        return msg("booking.error.not_cancellable", number=str(trip.number))
    if trip.driver_id is not None:
        told = msg("booking.trip.cancelled_for_driver", number=str(trip.number), when=when_of(trip, ctx))
        await notify(ctx.session, Notice(trip.driver_id, told), ctx.now)
    return msg("booking.trip.cancelled", number=str(trip.number))


async def add_vehicle(ctx: StepContext, words: Sequence[str]) -> Action:
    """/book vehicle PLATE SEATS MODEL @driver …: a vehicle made bookable (or changed)."""
    if (refused := access.refusal(ctx)) is not None:
        return said(refused)
    if len(words) < 4 or not words[1].isdigit() or not 1 <= int(words[1]) <= 60:
        return said(msg("booking.vehicle.usage"))
    drivers = [await find_person(ctx.session, ref) for ref in words[3:]]
    if any(driver is None for driver in drivers):
        return said(msg("booking.vehicle.unknown_driver"))
    plate = words[0].upper()[:20]
    vehicle = await ctx.session.scalar(select(BookingResource).where(BookingResource.plate == plate))
    if vehicle is None:
        vehicle = BookingResource(kind="vehicle", plate=plate, capacity=int(words[1]))
        ctx.session.add(vehicle)
    vehicle.capacity, vehicle.model = int(words[1]), words[2][:50]
    vehicle.drivers = ",".join(str(driver.id) for driver in drivers if driver is not None)
    vehicle.active = True
    await ctx.session.flush()
    audit.done(ctx, MANAGE, f"vehicle:{vehicle.id}", did="vehicle", plate=plate)
    names = ", ".join(driver.display_name for driver in drivers if driver is not None)
    return said(msg("booking.vehicle.done", vehicle=vehicle_name(vehicle), count=vehicle.capacity, drivers=names))


async def mine(ctx: StepContext) -> list[Msg]:
    query = (
        select(Trip)
        .where(Trip.requester_id == ctx.person.id, Trip.status.in_(OPEN), Trip.ends_at > ctx.now)
        .order_by(Trip.starts_at)
        .limit(10)
    )
    return [
        msg(
            "booking.trip.line",
            number=str(trip.number),
            when=when_of(trip, ctx),
            destination=trip.destination,
            status=msg(f"booking.trip.status.{trip.status}"),
        )
        for trip in await ctx.session.scalars(query)
    ]


async def move(ctx: StepContext, number: str, starts: datetime, minutes: int) -> Msg:
    """New times for a trip, by its requester or logistics: an assigned trip keeps its vehicle and
    driver only if both are free at the new times (checked by the same conditional UPDATE and, on
    PostgreSQL, the exclusion constraints), else nothing changes."""
    trip = await requesters_trip(ctx, number)
    if not isinstance(trip, Trip):
        return trip
    ends = starts + timedelta(minutes=minutes)
    if minutes % 30 or (starts.hour * 60 + starts.minute) % 30:
        return msg("booking.error.grid", minutes=30)
    if minutes > LONGEST:
        return msg("booking.error.too_long", max=LONGEST // 60)
    if starts < ctx.now:
        return msg("booking.error.past_time", start=f"{starts:%H:%M}")
    if trip.status == "assigned":  # queue behind other assignments of this vehicle and driver
        await ctx.session.execute(
            select(BookingResource.id).where(BookingResource.id == trip.vehicle_id).with_for_update()
        )
        await ctx.session.execute(select(Person.id).where(Person.id == trip.driver_id).with_for_update())
    free = ~overlapping(trip.id, starts, ends, vehicle_id=trip.vehicle_id, driver_id=trip.driver_id)
    statement = (
        update(Trip)
        .where(Trip.id == trip.id, Trip.status.in_(OPEN), Trip.ends_at > ctx.now)
        .where(free if trip.status == "assigned" else Trip.id == trip.id)
        .values(starts_at=starts, ends_at=ends)
        .execution_options(synchronize_session=False)
    )
    try:
        async with ctx.session.begin_nested():
            changed = await ctx.session.execute(statement)
    except IntegrityError:
        changed = None
    if changed is None or not changed.rowcount:  # type: ignore[attr-defined]
        if trip.status not in OPEN:
            return msg("booking.error.not_cancellable", number=str(trip.number))
        return msg("booking.trip.error.busy_then", number=str(trip.number))
    await ctx.session.refresh(trip)
    if trip.driver_id is not None:
        told = msg("booking.trip.moved_for_driver", number=str(trip.number), when=when_of(trip, ctx))
        await notify(ctx.session, Notice(trip.driver_id, told), ctx.now)
    return msg("booking.moved", number=str(trip.number), when=when_of(trip, ctx))
