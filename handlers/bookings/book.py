"""/book (预订): a meeting room in a few taps — which room (or any room for N people with a
projector), the day, a free start time, how long, a title — and a B-2026-000123 with an .ics file.

/book my lists the person's coming bookings with Cancel (and Check in when it is time), /book today
the day's agenda of every room or of one, /book cancel B-… cancels (the booker, or logistics, who
then tell the booker). Logistics admins make rooms bookable with /book room. The reminder, the
check-in window and the release of rooms nobody came to are handlers/bookings/attendance.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from functools import partial

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.bookings import access, admin, attendance, calendar_file, digest, ledger, vehicles
from handlers.bookings import demo as bookings_demo
from handlers.bookings.agenda_picture import RoomDay, Slot, render_agenda
from handlers.bookings.rooms import (
    CLOSES,
    EQUIPMENT,
    GRID,
    LENGTHS,
    LONGEST,
    OPENS,
    bookable,
    calendar,
    closed_for,
    described,
    fits,
    grid,
    make_bookable,
    opening,
    room_at,
    room_name,
    today_of,
)
from handlers.bookings.steps import DayStep, DurationStep, TimeSlotStep, read_clock, read_date, read_minutes
from handlers.core import audit, authz, files, ids, uploads
from handlers.core.area import AdminEntry, Area, Export
from handlers.core.flow import (
    Action,
    ChoiceStep,
    ConfirmStep,
    Flow,
    Goto,
    NumberStep,
    Option,
    Rows,
    StepContext,
    Submitted,
    TextStep,
    Upload,
    as_is,
    said,
)
from handlers.core.i18n import Lines, Msg, Renderable, msg
from handlers.core.outbox import Notice, notify
from handlers.core.people import people_with_role
from storage.models import Booking, BookingResource

ANY = "any"
ONCE, WEEKLY, WORKDAYS = "once", "weekly", "workdays"
REST, NONE = "rest", "none"
# A series longer than this is a typo in its end date, not a meeting.
MOST_OCCURRENCES = 60
MAX_LISTED = 10
MANAGE = access.MANAGE


# --- the flow's questions -----------------------------------------------------------------------


async def room_options(ctx: StepContext) -> list[Option]:
    rooms = [Option(str(found.id), described(found)) for found in await bookable(ctx)]
    return [*rooms, Option(ANY, msg("booking.any_room"))] if rooms else []


async def equipment_options(ctx: StepContext) -> list[Option]:
    return [Option("none", msg("booking.equipment.none"))] + [
        Option(word, msg(f"booking.equipment.{word}")) for word in EQUIPMENT
    ]


async def check_people(ctx: StepContext, people: int) -> Msg | None:
    """A room too small for the meeting is refused here, naming what it seats; for any room, when
    none seats that many, the largest."""
    rooms = await bookable(ctx)
    chosen = [found for found in rooms if str(found.id) == ctx.data.get("resource")]
    if chosen and people > chosen[0].capacity:
        return msg("booking.error.room_too_small", room=room_name(chosen[0]), count=people, seats=chosen[0].capacity)
    largest = max((found.capacity for found in rooms), default=0)
    return msg("booking.error.too_many", count=people, largest=largest) if people > largest else None


async def candidates(ctx: StepContext) -> list[BookingResource]:
    """The rooms this booking may go to: the one chosen, or every one that fits (smallest first)."""
    rooms = await bookable(ctx)
    if ctx.data.get("resource") == ANY:
        people, wanted = int(ctx.data.get("people", 1)), ctx.data.get("equipment")
        return [found for found in rooms if fits(found, people, wanted)]
    return [found for found in rooms if str(found.id) == ctx.data.get("resource")]


def day_of(ctx: StepContext) -> date:
    return date.fromisoformat(ctx.data["day"])


def start_of(ctx: StepContext) -> datetime:
    hour, minute = (int(part) for part in ctx.data["start"].split(":"))
    return datetime.combine(day_of(ctx), OPENS, tzinfo=ctx.zone).replace(hour=hour, minute=minute)


async def free_rooms(ctx: StepContext, starts: datetime, ends: datetime) -> list[BookingResource]:
    """The candidate rooms free for all of [starts, ends), in the order they are tried."""
    rooms = await candidates(ctx)
    taken = {b.resource_id for b in await ledger.busy(ctx.session, [r.id for r in rooms], starts, ends)}
    return [found for found in rooms if found.id not in taken and not closed_for(found, starts, ends)]


async def free_starts(ctx: StepContext, day: date) -> list[datetime]:
    """The grid's start times still to come that day at which some candidate room is free."""
    rooms = await candidates(ctx)
    opens, closes = opening(day, ctx.zone)
    held = await ledger.busy(ctx.session, [r.id for r in rooms], opens, closes)
    found = []
    for starts in grid(day, ctx.zone):
        if starts < ctx.now:
            continue
        ends = starts + timedelta(minutes=GRID)
        if any(
            not closed_for(room, starts, ends)
            and not any(b.resource_id == room.id and b.starts < ends and b.ends > starts for b in held)
            for room in rooms
        ):
            found.append(starts)
    return found


async def check_day(ctx: StepContext, day: date) -> Msg | None:
    return None if await free_starts(ctx, day) else msg("booking.error.day_full", day=day.isoformat())


async def slot_options(ctx: StepContext) -> list[Option]:
    return [Option(f"{s:%H:%M}", as_is(f"{s:%H:%M}")) for s in await free_starts(ctx, day_of(ctx))]


async def judge_start(ctx: StepContext, minutes: int) -> Msg | None:
    day = day_of(ctx)
    starts = datetime.combine(day, OPENS, tzinfo=ctx.zone).replace(hour=minutes // 60, minute=minutes % 60)
    if minutes % GRID:
        return msg("booking.error.grid", minutes=GRID)
    opens, closes = opening(day, ctx.zone)
    if starts < opens or starts + timedelta(minutes=GRID) > closes:
        return msg("booking.error.outside_hours", opens=f"{OPENS:%H:%M}", closes=f"{CLOSES:%H:%M}")
    if starts < ctx.now:
        return msg("booking.error.past_time", start=f"{starts:%H:%M}")
    return None


async def fitting_lengths(ctx: StepContext) -> list[int]:
    return [minutes for minutes in LENGTHS if await judge_length(ctx, minutes) is None]


async def judge_length(ctx: StepContext, minutes: int) -> Msg | None:
    starts = start_of(ctx)
    ends = starts + timedelta(minutes=minutes)
    if minutes % GRID:
        return msg("booking.error.grid_length", minutes=GRID)
    if minutes > LONGEST:
        return msg("booking.error.too_long", max=LONGEST // 60)
    if ends > opening(day_of(ctx), ctx.zone)[1]:
        return msg("booking.error.ends_after_hours", closes=f"{CLOSES:%H:%M}")
    if not await free_rooms(ctx, starts, ends):
        return msg("booking.error.overlaps", start=f"{starts:%H:%M}", end=f"{ends:%H:%M}")
    return None


def title_of(ctx: StepContext) -> str:
    return str(ctx.data.get("title") or ctx.data.get("kept_title") or "")


async def summary(ctx: StepContext) -> Msg:
    starts = start_of(ctx)
    ends = starts + timedelta(minutes=int(ctx.data["length"]))
    rooms = await candidates(ctx)
    room: Renderable = (
        room_name(rooms[0])
        if ctx.data["resource"] != ANY and rooms
        else msg("booking.any_room_for", count=int(ctx.data.get("people", 1)))
    )
    said = msg(
        "booking.summary",
        room=room,
        day=day_of(ctx).isoformat(),
        start=f"{starts:%H:%M}",
        end=f"{ends:%H:%M}",
        title=title_of(ctx),
    )
    if ctx.data.get("repeat", ONCE) == ONCE:
        return said
    booked = len(await occurrences(ctx)) - (len(await clashes(ctx)) if ctx.data.get("clashes") == REST else 0)
    series = msg(
        "booking.repeat.summary",
        how=msg(f"booking.repeat.{ctx.data['repeat']}"),
        until=ctx.data["until"],
        count=booked,
        summary=said,
    )
    return series


async def book(ctx: StepContext) -> Submitted:
    """Try the candidate rooms in order; the database says which, if any, is still free."""
    starts = start_of(ctx)
    title = title_of(ctx)
    if starts < ctx.now:
        ctx.data["kept_title"] = title
        raise Goto("day", msg("booking.error.past_time", start=f"{starts:%H:%M}"))
    if ctx.data.get("repeat", ONCE) != ONCE:
        return await book_series(ctx, title)
    made = await first_free(ctx, starts, title)
    if made is None:
        # Beaten to it: back to the slots (as they are now), the title kept.
        ctx.data["kept_title"] = title
        raise Goto("start", msg("booking.error.taken", start=f"{starts:%H:%M}"))
    return await confirmed(ctx, [made])


async def first_free(ctx: StepContext, starts: datetime, title: str) -> Booking | None:
    ends = starts + timedelta(minutes=int(ctx.data["length"]))
    for room in await free_rooms(ctx, starts, ends):
        made = await ledger.reserve(
            ctx.session,
            resource_id=room.id,
            booker_id=ctx.person.id,
            title=title,
            starts=starts,
            ends=ends,
            channel=ctx.channel,
            now=ctx.now,
            status=ledger.PENDING if room.needs_approval else ledger.CONFIRMED,
        )
        if made is not None:
            return made
    return None


async def confirmed(ctx: StepContext, made: list[Booking], missed: Sequence[date] = ()) -> Submitted:
    waiting = [booking for booking in made if booking.status == ledger.PENDING]
    if waiting:
        await ask_approval(ctx, waiting)
        made = [booking for booking in made if booking.status != ledger.PENDING]
        if not made:
            pending = msg("booking.pending", count=len(waiting), lines=Lines(tuple(line_of(b, ctx) for b in waiting)))
            return Submitted(pending, str(waiting[0].number))
    sheet = calendar_file.ics([(booking, room_name(booking.resource).render(ctx.locale)) for booking in made])
    first = made[0]
    name = f"{first.number}.ics" if len(made) == 1 else f"{first.number}-{len(made)}.ics"
    attached = await files.keep(ctx.session, ctx.person.id, name, calendar_file.CONTENT_TYPE, sheet, ctx.now)
    if len(made) == 1 and not missed:
        told: Renderable = msg(
            "booking.done",
            number=str(first.number),
            when=when_of(first, ctx),
            room=room_name(first.resource),
            title=first.title,
        )
    else:
        parts: list[Renderable] = [msg("booking.repeat.done", count=len(made), title=first.title)]
        parts += [line_of(booking, ctx) for booking in made]
        if missed:
            parts.append(msg("booking.repeat.missed", dates=", ".join(day.isoformat() for day in missed)))
        told = Lines(tuple(parts))
    return Submitted(told, str(first.number), files=(attached,))


# --- rooms that need approval ------------------------------------------------------------------


async def ask_approval(ctx: StepContext, waiting: Sequence[Booking]) -> None:
    """A card for each logistics admin per booking waiting: Approve or Reject, judged on the press."""
    approvers = await people_with_role(ctx.session, "logistics_admin")
    for booking in waiting:
        card = msg("booking.approval.card", booker=ctx.person.display_name, line=line_of(booking, ctx))
        buttons = (
            (
                (msg("booking.button.approve"), f"bk:{booking.id}:approve"),
                (msg("booking.button.reject"), f"bk:{booking.id}:reject"),
            ),
        )
        for approver in approvers:
            if approver.id != ctx.person.id:
                await notify(ctx.session, Notice(approver.id, card, buttons), ctx.now)


async def decide(ctx: StepContext, booking: Booking | None, ref: str, approve: bool) -> Msg:
    """A logistics admin approves or rejects a pending booking: once (a conditional UPDATE), audited,
    the booker told — with the .ics when approved."""
    if booking is None:
        return msg("booking.error.not_found", number=ref[:24])
    if (refused := access.refusal(ctx, str(booking.number))) is not None:
        return refused
    changed = await ctx.session.execute(
        update(Booking)
        .where(Booking.id == booking.id, Booking.status == ledger.PENDING)
        .values(status=ledger.CONFIRMED if approve else "cancelled")
        .values(**({} if approve else {"ended_at": ctx.now, "ended_by": ctx.person.id}))
        .execution_options(synchronize_session=False)
    )
    if not changed.rowcount:  # type: ignore[attr-defined]
        return msg("booking.approval.decided", number=str(booking.number))
    await ctx.session.refresh(booking)
    audit.done(ctx, MANAGE, str(booking.number), did="approve" if approve else "reject")
    when = when_of(booking, ctx)
    if approve:
        sheet = calendar_file.ics([(booking, room_name(booking.resource).render(ctx.locale))])
        attached = await files.keep(
            ctx.session, booking.booker_id, f"{booking.number}.ics", calendar_file.CONTENT_TYPE, sheet, ctx.now
        )
        told = msg("booking.approval.approved", number=str(booking.number), when=when, room=room_name(booking.resource))
        await notify(ctx.session, Notice(booking.booker_id, told, files=(attached,)), ctx.now)
    else:
        told = msg("booking.approval.rejected", number=str(booking.number), when=when, who=ctx.person.display_name)
        await notify(ctx.session, Notice(booking.booker_id, told), ctx.now)
    return msg(
        "booking.approval.done_approve" if approve else "booking.approval.done_reject", number=str(booking.number)
    )


# --- recurring: weekly or every working day until a date ------------------------------------------


async def occurrences(ctx: StepContext) -> list[date]:
    """The days of the series: the first, then weekly or every working day up to `until`, skipping
    the organisation's holidays (make-up days count as working days)."""
    first, until = day_of(ctx), date.fromisoformat(ctx.data["until"])
    office = await calendar(ctx)
    step = timedelta(days=7 if ctx.data["repeat"] == WEEKLY else 1)
    days: list[date] = []
    day = first
    while day <= until and len(days) < MOST_OCCURRENCES:
        if office.works_on(day):
            days.append(day)
        day += step
    return days


def at_day(ctx: StepContext, day: date) -> datetime:
    starts = start_of(ctx)
    return datetime.combine(day, starts.timetz().replace(tzinfo=None), tzinfo=ctx.zone)


async def clashes(ctx: StepContext) -> list[date]:
    length = timedelta(minutes=int(ctx.data["length"]))
    return [
        day for day in await occurrences(ctx) if not await free_rooms(ctx, at_day(ctx, day), at_day(ctx, day) + length)
    ]


async def clash_options(ctx: StepContext) -> list[Option]:
    if not await clashes(ctx):
        return []
    return [Option(REST, msg("booking.repeat.book_rest")), Option(NONE, msg("booking.repeat.book_none"))]


async def clash_prompt(ctx: StepContext) -> Msg:
    found = await clashes(ctx)
    return msg("booking.repeat.clashes", count=len(found), dates=", ".join(day.isoformat() for day in found))


async def check_until(ctx: StepContext, day: date) -> Msg | None:
    if day <= day_of(ctx):
        return msg("booking.repeat.until_before", day=day_of(ctx).isoformat())
    return None


async def book_series(ctx: StepContext, title: str) -> Submitted:
    if ctx.data.get("clashes") == NONE:
        return Submitted(msg("booking.repeat.none_booked"), "")
    made, missed = [], []
    for day in await occurrences(ctx):
        booking = await first_free(ctx, at_day(ctx, day), title)
        if booking is None:
            missed.append(day)
        else:
            made.append(booking)
    if not made:
        ctx.data["kept_title"] = title
        raise Goto("start", msg("booking.error.taken", start=f"{start_of(ctx):%H:%M}"))
    return await confirmed(ctx, made, missed)


def when_of(booking: Booking, ctx: StepContext) -> str:
    starts, ends = booking.starts_at.astimezone(ctx.zone), booking.ends_at.astimezone(ctx.zone)
    return f"{starts:%Y-%m-%d %H:%M}–{ends:%H:%M}"


BOOK = Flow(
    "booking",
    msg("booking.title"),
    msg("booking.description"),
    (
        ChoiceStep("resource", msg("booking.ask.room"), options=room_options, columns=1),
        NumberStep(
            "people",
            msg("booking.ask.people"),
            min_value=1,
            max_value=500,
            check=check_people,
            quick=(4, 8, 12, 20),
        ),
        ChoiceStep(
            "equipment",
            msg("booking.ask.equipment"),
            when=lambda data: data.get("resource") == ANY,
            options=equipment_options,
            columns=3,
        ),
        DayStep("day", msg("booking.ask.day"), calendar=calendar, check=check_day),
        TimeSlotStep(
            "start", msg("booking.ask.start"), options=slot_options, columns=4, page_size=12, judge=judge_start
        ),
        DurationStep("length", msg("booking.ask.length"), lengths=fitting_lengths, judge=judge_length),
        ChoiceStep(
            "repeat",
            msg("booking.ask.repeat"),
            options=(
                Option(ONCE, msg("booking.repeat.once")),
                Option(WEEKLY, msg("booking.repeat.weekly")),
                Option(WORKDAYS, msg("booking.repeat.workdays")),
            ),
            columns=3,
        ),
        DayStep(
            "until",
            msg("booking.ask.until"),
            when=lambda data: data.get("repeat") not in (None, ONCE),
            check=check_until,
            horizon_days=180,
        ),
        TextStep("title", msg("booking.ask.title"), max_length=100, when=lambda data: not data.get("kept_title")),
        ChoiceStep(
            "clashes",
            msg("booking.repeat.clashes"),
            when=lambda data: data.get("repeat") not in (None, ONCE),
            dynamic_prompt=clash_prompt,
            options=clash_options,
            skip_without_options=True,
            columns=1,
        ),
        ConfirmStep("confirm", msg("booking.ask.confirm"), summary=summary),
    ),
    book,
    listed=False,
)


# --- /book and its buttons ------------------------------------------------------------------------


async def found(session: AsyncSession, ref: str) -> Booking | None:
    """A booking by its number (B-2026-000123) or its row id."""
    words = ref.strip().upper()
    if words.startswith("B-"):
        booking: Booking | None = await session.scalar(select(Booking).where(Booking.number == words[:20]))
        return booking
    booking_id = ids.parse_id(words)
    return None if booking_id is None else await session.get(Booking, booking_id, populate_existing=True)


def buttons_for(booking: Booking, ctx: StepContext) -> Rows:
    row: list[tuple[Renderable, str]] = [(msg("booking.button.cancel"), f"bk:{booking.id}:cancel")]
    if attendance.may_check_in(booking, ctx.now):
        row.insert(0, (msg("booking.button.checkin"), f"bk:{booking.id}:checkin"))
    return (tuple(row),)


def line_of(booking: Booking, ctx: StepContext) -> Msg:
    return msg(
        "booking.line",
        number=str(booking.number),
        when=when_of(booking, ctx),
        room=room_name(booking.resource),
        title=booking.title,
        waiting=msg("booking.waiting_approval") if booking.status == ledger.PENDING else "",
    )


async def mine(ctx: StepContext) -> Action:
    query = (
        select(Booking)
        .where(Booking.booker_id == ctx.person.id, Booking.status.in_(ledger.HOLDING), Booking.ends_at > ctx.now)
        .order_by(Booking.starts_at)
        .limit(MAX_LISTED)
    )
    coming = list(await ctx.session.scalars(query))
    trips = await vehicles.mine(ctx)
    if not coming and not trips:
        return said(msg("booking.my.none"))
    rooms = (
        (msg("booking.my.title", count=len(coming)), ()),
        *((line_of(booking, ctx), buttons_for(booking, ctx)) for booking in coming),
    )
    asked = ((msg("booking.trip.mine", count=len(trips)), ()), *((trip, ()) for trip in trips))
    return Action(say=(*(rooms if coming else ()), *(asked if trips else ())))


async def agenda(ctx: StepContext, args: str) -> Action:
    """The day's bookings room by room (one room when named: /book today A 201)."""
    words = args.split()
    day = ctx.now.astimezone(ctx.zone).date()
    if words and (typed := read_date(words[0], day)) is not None:
        day, words = typed, words[1:]
    rooms = await bookable(ctx)
    if len(words) == 2:
        named = await room_at(ctx.session, words[0], words[1])
        rooms = [found for found in rooms if named is not None and found.room_id == named.id]
        if not rooms:
            return said(msg("booking.error.no_such_room", room=" ".join(words)[:40]))
    if not rooms:
        return said(msg("booking.error.no_rooms"))
    held = await today_of(ctx.session, [room.id for room in rooms], day, ctx.zone)
    title = msg("booking.today.title", day=day.isoformat())
    parts: list[Renderable] = [title]
    pictured: list[RoomDay] = []
    for room in rooms:
        mine_here = [b for b in held if b.resource_id == room.id]
        parts.append(msg("booking.today.room", room=room_name(room), count=len(mine_here)))
        slots = []
        for booking in mine_here:
            starts, ends = booking.starts_at.astimezone(ctx.zone), booking.ends_at.astimezone(ctx.zone)
            parts.append(
                msg(
                    "booking.today.entry",
                    start=f"{starts:%H:%M}",
                    end=f"{ends:%H:%M}",
                    title=booking.title,
                    who=booking.booker.display_name,
                )
            )
            slots.append(Slot(hours_of(starts), hours_of(ends), f"{starts:%H:%M}–{ends:%H:%M} {booking.title}"))
        if not mine_here:
            parts.append(msg("booking.today.free"))
        pictured.append(RoomDay(room_name(room).render(ctx.locale), tuple(slots)))
    # The same day as a picture, drawn after the delivery commits: rooms down the side, hours across.
    picture = partial(
        render_agenda,
        title.render(ctx.locale).removeprefix("📅 "),
        tuple(pictured),
        hours_of(OPENS),
        hours_of(CLOSES),
        msg("booking.today.free").render(ctx.locale).strip(),
    )
    return Action(
        say=((Lines(tuple(parts)), ()),), later=(files.Later(f"rooms-{day.isoformat()}.png", files.PNG, picture),)
    )


def hours_of(moment: datetime | time) -> float:
    return moment.hour + moment.minute / 60


async def move(ctx: StepContext, words: list[str]) -> Msg:
    """/book move B-… [DATE] HH:MM [MINUTES]: new times for a booking, by its booker or logistics,
    judged like a new booking's (a working day, open hours, the grid, not past, not too long) and
    kept only if the room is free then."""
    if words and words[0].upper().startswith("V-"):
        return await move_trip(ctx, words)
    booking = await found(ctx.session, words[0]) if words else None
    if booking is None:
        return msg("booking.error.not_found", number=(words[0] if words else "")[:24])
    if booking.booker_id != ctx.person.id and (refused := access.refusal(ctx, str(booking.number))) is not None:
        return refused
    if booking.status != ledger.CONFIRMED or booking.ends_at <= ctx.now:
        return msg("booking.error.not_cancellable", number=str(booking.number))
    rest = words[1:]
    today = ctx.now.astimezone(ctx.zone).date()
    day = booking.starts_at.astimezone(ctx.zone).date()
    if rest and (typed := read_date(rest[0], today)) is not None:
        day, rest = typed, rest[1:]
    at = read_clock(rest[0]) if rest else None
    minutes = int((booking.ends_at - booking.starts_at).total_seconds() // 60)
    if len(rest) == 2:
        minutes = read_minutes(rest[1]) or 0
    if at is None or len(rest) > 2 or minutes <= 0:
        return msg("booking.move.usage")
    starts = datetime.combine(day, at, tzinfo=ctx.zone)
    ends = starts + timedelta(minutes=minutes)
    opens, closes = opening(day, ctx.zone)
    office = await calendar(ctx)
    problem: Msg | None = None
    if not office.works_on(day):
        problem = msg(
            "booking.error.holiday" if day in office.holidays else "booking.error.day_off", day=day.isoformat()
        )
    elif (at.hour * 60 + at.minute) % GRID or minutes % GRID:
        problem = msg("booking.error.grid", minutes=GRID)
    elif starts < opens or ends > closes:
        problem = msg("booking.error.outside_hours", opens=f"{OPENS:%H:%M}", closes=f"{CLOSES:%H:%M}")
    elif starts < ctx.now:
        problem = msg("booking.error.past_time", start=f"{starts:%H:%M}")
    elif minutes > LONGEST:
        problem = msg("booking.error.too_long", max=LONGEST // 60)
    elif closed_for(booking.resource, starts, ends):
        problem = msg("booking.error.day_full", day=day.isoformat())
    if problem is not None:
        return problem
    if not await ledger.move(ctx.session, booking, starts, ends):
        return msg("booking.error.overlaps", start=f"{starts:%H:%M}", end=f"{ends:%H:%M}")
    if booking.booker_id != ctx.person.id:
        audit.done(ctx, MANAGE, str(booking.number), did="move")
        told = msg(
            "booking.moved_for_you", number=str(booking.number), when=when_of(booking, ctx), who=ctx.person.display_name
        )
        await notify(ctx.session, Notice(booking.booker_id, told), ctx.now)
    return msg("booking.moved", number=str(booking.number), when=when_of(booking, ctx))


async def move_trip(ctx: StepContext, words: list[str]) -> Msg:
    """/book move V-… [DATE] HH:MM MINUTES: a trip's new times (vehicles.move judges them)."""
    today = ctx.now.astimezone(ctx.zone).date()
    rest, day = words[1:], today
    if rest and (typed := read_date(rest[0], today)) is not None:
        day, rest = typed, rest[1:]
    at = read_clock(rest[0]) if rest else None
    minutes = read_minutes(rest[1]) if len(rest) == 2 else None
    if at is None or minutes is None or minutes <= 0:
        return msg("booking.move.usage")
    return await vehicles.move(ctx, words[0], datetime.combine(day, at, tzinfo=ctx.zone), minutes)


async def cancel(ctx: StepContext, booking: Booking | None, ref: str) -> Msg:
    """The booker cancels their own; logistics anyone's (audited, the booker told)."""
    if booking is None:
        return msg("booking.error.not_found", number=ref[:24])
    own = booking.booker_id == ctx.person.id
    if not own and (refused := access.refusal(ctx, str(booking.number))) is not None:
        return refused
    if booking.status not in ledger.HOLDING or booking.ends_at <= ctx.now:
        return msg("booking.error.not_cancellable", number=str(booking.number))
    # Conditional: of two cancels (or a cancel and the no-show release) at once, one changes it.
    changed = await ctx.session.execute(
        update(Booking)
        .where(Booking.id == booking.id, Booking.status.in_(ledger.HOLDING))
        .values(status="cancelled", ended_at=ctx.now, ended_by=ctx.person.id)
    )
    if not changed.rowcount:  # type: ignore[attr-defined]
        return msg("booking.error.not_cancellable", number=str(booking.number))
    if not own:
        audit.done(ctx, MANAGE, str(booking.number), did="cancel")
        told = msg(
            "booking.cancelled_for_you",
            number=str(booking.number),
            when=when_of(booking, ctx),
            who=ctx.person.display_name,
        )
        await notify(ctx.session, Notice(booking.booker_id, told), ctx.now)
    return msg("booking.cancelled", number=str(booking.number))


async def manage_room(ctx: StepContext, words: list[str]) -> Action:
    """/book room A 201 12 [projector] [video] [approval] [dept CODE,CODE]: a room made bookable, or
    changed; with `approval`, its bookings wait for a logistics admin's approval."""
    if (refused := access.refusal(ctx)) is not None:
        return said(refused)
    if len(words) < 3 or not words[2].isdigit() or not 1 <= int(words[2]) <= 500:
        return said(msg("booking.room.usage"))
    room = await room_at(ctx.session, words[0], words[1])
    if room is None:
        return said(msg("booking.error.no_such_room", room=" ".join(words[:2])[:40]))
    rest = [word.lower() for word in words[3:]]
    departments: list[str] = []
    if "dept" in rest:
        at = rest.index("dept")
        departments = [code.upper() for code in ",".join(words[3 + at + 1 :]).split(",") if code]
        rest = rest[:at]
    approval = "approval" in rest or "审批" in rest
    rest = [word for word in rest if word not in ("approval", "审批")]
    unknown = [word for word in rest if word not in EQUIPMENT]
    if unknown:
        return said(msg("booking.room.usage"))
    resource = await make_bookable(ctx.session, room, int(words[2]), rest, departments, needs_approval=approval)
    audit.done(ctx, MANAGE, f"room:{resource.id}", did="room", capacity=resource.capacity)
    return said(msg("booking.room.done", room=described(resource)))


async def book_command(ctx: StepContext, args: str) -> Action:
    """/book · /book car · /book my · /book today [DATE] [BUILDING ROOM] · /book cancel B-…|V-… ·
    logistics: /book room … · /book vehicle …"""
    words = args.split()
    sub = words[0].lower() if words else ""
    if sub == "":
        if not await bookable(ctx):
            return said(msg("booking.error.no_rooms"))
        return Action(start=(BOOK.name, {}))
    if sub in ("my", "我的"):
        return await mine(ctx)
    if sub in ("today", "今天"):
        return await agenda(ctx, " ".join(words[1:]))
    if sub in ("cancel", "取消") and len(words) == 2 and words[1].upper().startswith("V-"):
        return said(await vehicles.cancel(ctx, words[1]))
    if sub in ("cancel", "取消") and len(words) == 2:
        return said(await cancel(ctx, await found(ctx.session, words[1]), words[1]))
    if sub in ("car", "用车") and len(words) == 1:
        if not await vehicles.vehicles(ctx.session):
            return said(msg("booking.trip.no_vehicles"))
        return Action(start=(vehicles.TRIP.name, {}))
    if sub == "vehicle":
        return await vehicles.add_vehicle(ctx, words[1:])
    if sub in ("move", "改期"):
        return said(await move(ctx, words[1:]))
    if sub == "room":
        return await manage_room(ctx, words[1:])
    if sub == "admin":
        return await admin.overview(ctx)
    if sub in ("close", "open"):
        return await admin.close(ctx, words[1:], closing=sub == "close")
    return said(msg("booking.usage"))


async def on_button(ctx: StepContext, value: str) -> Action:
    """bk:<booking>:cancel | checkin | approve | reject — re-read and re-judged on every press."""
    ref, _, act = value.partition(":")
    booking = await found(ctx.session, ref)
    if act == "cancel":
        return said(await cancel(ctx, booking, ref))
    if act == "checkin":
        return said(await attendance.check_in(ctx, booking))
    if act in ("approve", "reject"):
        return said(await decide(ctx, booking, ref, act == "approve"))
    return said(msg("dialog.error.forged_button"))


async def scanned(ctx: StepContext, value: str) -> Action:
    """The room's door QR (/start bkin_<resource>): checks in the booking whose window is open now."""
    resource_id = ids.parse_id(value)
    booking = None if resource_id is None else await attendance.due_in(ctx.session, resource_id, ctx.now)
    return said(await attendance.check_in(ctx, booking, by_door=True))


async def my_part(ctx: StepContext) -> list[Renderable]:
    count = await ctx.session.scalar(
        select(Booking.id)
        .where(Booking.booker_id == ctx.person.id, Booking.status == ledger.CONFIRMED, Booking.ends_at > ctx.now)
        .limit(1)
    )
    return [msg("booking.my.hint")] if count is not None else []


AREA = Area(
    "bookings",
    flows=(BOOK, vehicles.TRIP, vehicles.ASSIGN, vehicles.FINISH),
    commands={"book": book_command},
    buttons={"bk": on_button, "vt": vehicles.on_button},
    links={"bkin": scanned},
    mine=my_part,
    actions={
        MANAGE: authz.rule(*authz.STORES),
        vehicles.APPROVE: authz.rule("manager", department=True),
        "export.bookings": authz.rule(*authz.STORES),
    },
    admin=(AdminEntry("book", MANAGE, admin.admin_entry, on_its_own=True, place=120),),
    uploads={"book": Upload(admin.import_upload, uploads.TABLE, MANAGE)},
    exports={"bookings": Export(admin.COLUMNS, admin.export_rows)},
    jobs=(attendance.JOB,),
    digest=(digest.DIGEST,),
    demo=(bookings_demo.write,),
)
