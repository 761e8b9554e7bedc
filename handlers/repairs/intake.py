"""Repair requests (报修): the intake flow, its rules, and the queries about tickets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from handlers.core import audit, ids, org_settings
from handlers.core.actor import repair_actor
from handlers.core.area import Area
from handlers.core.faults import Fault, Reported
from handlers.core.flow import (
    Action,
    ChoiceStep,
    ConfirmStep,
    Flow,
    LocationStep,
    Option,
    PhotoStep,
    StepContext,
    Submitted,
    TextStep,
)
from handlers.core.i18n import Label, Lines, Msg, Renderable, msg
from handlers.core.rules import URGENCIES
from handlers.core.specialties import SPECIALTIES
from handlers.repairs import figures, tickets
from handlers.repairs import reminders as ticket_reminders
from storage.models import Building, Person, Photo, Room, Ticket, TicketEvent, TicketFollower

# A report is filed under the specialty that mends it, so it reaches the technicians who can fix it.
CATEGORIES = SPECIALTIES


# The questions of every report: built once (issue 17's profile).
BUILDINGS = select(Building).order_by(Building.code)
ROOMS_OF = select(Room).where(Room.building_id == bindparam("building_id")).order_by(Room.code)
OPEN_LIKE = (
    select(Ticket.id, Ticket.number, Ticket.reporter_id, Ticket.description, Ticket.status, Ticket.created_at)
    .where(
        Ticket.room_id == bindparam("room_id"),
        Ticket.category == bindparam("category"),
        Ticket.status.in_(tickets.OPEN),
        Ticket.created_at >= bindparam("since"),
    )
    .order_by(Ticket.id.desc())
    .limit(1)
)


async def building_options(ctx: StepContext) -> Sequence[Option]:
    buildings = await ctx.session.scalars(BUILDINGS)
    return [Option(str(b.id), Label(b.name_zh, b.name_en)) for b in buildings]


async def room_options(ctx: StepContext, building_id: str) -> Sequence[Option]:
    rooms = await ctx.session.scalars(ROOMS_OF, {"building_id": int(building_id)})
    return [Option(str(r.id), tickets.room_label(r)) for r in rooms]


async def summary(ctx: StepContext) -> Msg:
    data = ctx.data
    return msg(
        "repair.summary",
        category=msg(f"repair.category.{data['category']}"),
        location=await describe_location(ctx.session, data["location"]),
        description=data["description"],
        photos=tickets.photo_count(len(data.get("photos", []))),
        urgency=msg(f"repair.urgency.{data['urgency']}"),
    )


async def describe_location(session: AsyncSession, answer: dict[str, object]) -> Label:
    if "text" in answer:
        text = str(answer["text"])
        return Label(text, text)
    room = await session.get(Room, answer["room"])
    if room is None:
        return Label("?", "?")
    return Label(
        f"{room.building.name_zh} {room.code} {room.name_zh}",
        f"{room.building.name_en} {room.code} {room.name_en}",
    )


async def submit(ctx: StepContext) -> Submitted:
    data, session = ctx.data, ctx.session
    location = data["location"]
    room = await session.get(Room, location["room"]) if "room" in location else None
    photo_ids = tuple(int(i) for i in data.get("photos", []))
    ticket, technician = await open_ticket(
        ctx, data["category"], room, location.get("text"), data["description"], data["urgency"], photo_ids
    )
    return Submitted(submitted(ticket, technician), str(ticket.number))


async def open_ticket(
    ctx: StepContext,
    category: str,
    room: Room | None,
    location_text: str | None,
    description: str,
    urgency: str,
    photo_ids: Sequence[int],
) -> tuple[Ticket, Person | None]:
    """A new ticket in the person's name, its first history event, its audit line and its photos
    (only their own, still unattached ones), offered to a technician: by a report or a fault found."""
    session = ctx.session
    ticket = Ticket(
        reporter_id=ctx.person.id,
        category=category,
        building_id=room.building_id if room else None,
        room_id=room.id if room else None,
        location_text=location_text,
        description=description,
        urgency=urgency,
        status="new",
        channel=ctx.channel,
        created_at=ctx.now,
        due_at=tickets.due_at(ctx.now, urgency, await org_settings.sla_rules(session, ctx.rules)),
    )
    session.add(ticket)
    await session.flush()
    ticket.number = ticket_number(ticket.id, ctx.now.astimezone(ctx.zone).year)
    session.add(TicketEvent(ticket_id=ticket.id, to_status="new", actor_id=ctx.person.id, at=ctx.now))
    await session.flush()
    if photo_ids:
        # Only this person's own, still unattached photos: ids in dialog data are ours, but be strict.
        await session.execute(
            update(Photo)
            .where(Photo.id.in_(photo_ids), Photo.person_id == ctx.person.id, Photo.ticket_id.is_(None))
            .values(ticket_id=ticket.id)
        )
    audit.done(ctx, action="ticket.create", record=ticket.number)
    if photo_ids:
        await session.refresh(ticket, ["photos"])
    else:
        set_committed_value(ticket, "photos", [])  # a new ticket without photos: nothing to read back
    technician = await tickets.auto_assign(repair_actor(ctx), ticket)
    return ticket, technician


def submitted(ticket: Ticket, technician: Person | None) -> Msg:
    who = (
        msg("repair.submitted.assigned", technician=technician.display_name)
        if technician
        else msg("repair.submitted.queued")
    )
    return msg(
        "repair.submitted",
        number=ticket.number,
        category=msg(f"repair.category.{ticket.category}"),
        urgency=msg(f"repair.urgency.{ticket.urgency}"),
        technician=who,
    )


class Desk:
    """Faults found elsewhere (an inspection round) become tickets here (handlers/core/faults.py)."""

    async def report(self, ctx: StepContext, fault: Fault) -> Reported:
        room = await ctx.session.get(Room, fault.room_id) if fault.room_id is not None else None
        ticket, technician = await open_ticket(
            ctx,
            fault.category,
            room,
            None if room else (fault.location or "—"),
            fault.description,
            fault.urgency,
            fault.photo_ids,
        )
        return Reported(ticket.id, str(ticket.number), submitted(ticket, technician))

    async def still_open(self, session: AsyncSession, ticket_ids: Sequence[int]) -> dict[int, str]:
        if not ticket_ids:
            return {}
        found = await session.execute(
            select(Ticket.id, Ticket.number).where(Ticket.id.in_(ticket_ids), Ticket.status.in_(tickets.OPEN))
        )
        return {ticket_id: str(number) for ticket_id, number in found.all()}


# --- the same problem reported again ----------------------------------------------------------


@dataclass(frozen=True)
class Duplicate:
    """What the person is told about the open ticket their report may repeat: only its columns
    (loading the whole ticket would load its people, photos and history with it, twice a report)."""

    id: int
    number: str | None
    reporter_id: int
    description: str
    status: str
    created_at: datetime


async def open_duplicate(ctx: StepContext) -> Duplicate | None:
    """An open ticket of the same category in the same room, reported within the rules' window."""
    location = ctx.data.get("location") or {}
    if "room" not in location or "category" not in ctx.data:
        return None
    # Asked up to three times in one turn (to skip, to ask, to check the answer): once per transaction.
    memo = ctx.session.info.setdefault("open_duplicate", {})
    key = (location["room"], ctx.data["category"])
    if key not in memo:
        memo[key] = await find_duplicate(ctx, location["room"], ctx.data["category"])
    found: Duplicate | None = memo[key]
    return found


async def find_duplicate(ctx: StepContext, room_id: int, category: str) -> Duplicate | None:
    found = (
        await ctx.session.execute(
            OPEN_LIKE, {"room_id": room_id, "category": category, "since": ctx.now - ctx.rules.duplicate_window}
        )
    ).first()
    return Duplicate(*found) if found is not None else None


async def duplicate_options(ctx: StepContext) -> Sequence[Option]:
    found = await open_duplicate(ctx)
    if found is None:
        return []
    return [
        Option(f"follow{found.id}", msg("repair.duplicate.follow", number=found.number)),
        Option("new", msg("repair.duplicate.new_anyway")),
    ]


async def duplicate_prompt(ctx: StepContext) -> Msg:
    found = await open_duplicate(ctx)
    assert found is not None, "asked only when a duplicate exists"
    status = msg(f"repair.status.{found.status}")
    if await may_see(ctx, found):
        opened = found.created_at.astimezone(ctx.zone).strftime("%m-%d %H:%M")
        return msg(
            "repair.duplicate.found_described",
            number=found.number,
            description=found.description,
            status=status,
            opened=opened,
        )
    # Anyone may report in any room: tell them only that such a repair is open, and how long ago (in
    # hours, not to the minute, so the time does not point at whoever was in the room).
    return msg("repair.duplicate.found", number=found.number, status=status, ago=age(found.created_at, ctx.now))


async def may_see(ctx: StepContext, found: Duplicate) -> bool:
    """Whether the person may see the open ticket whole (its reporter, a supervisor, its technician)."""
    if found.reporter_id == ctx.person.id:
        return True
    if not ctx.person.roles:
        return False  # without a role, only one's own tickets
    ticket = await ctx.session.get(Ticket, found.id)
    return ticket is not None and await tickets.may(ctx.session, ctx.person, "view", ticket)


def age(opened: datetime, now: datetime) -> Msg:
    hours = int((now - opened).total_seconds() // 3600)
    if hours < 1:
        return msg("repair.duplicate.age.within_hour")
    if hours < 48:
        return msg("repair.duplicate.age.hours", hours=hours)
    return msg("repair.duplicate.age.days", count=hours // 24)


async def follow_instead(ctx: StepContext, choice: str) -> Submitted | None:
    if not choice.startswith("follow"):
        return None
    ticket = await ctx.session.get(Ticket, int(choice.removeprefix("follow")))
    assert ticket is not None
    if ticket.reporter_id != ctx.person.id and not await tickets.is_follower(ctx.session, ticket, ctx.person):
        ctx.session.add(TicketFollower(ticket_id=ticket.id, person_id=ctx.person.id, at=ctx.now))
    # Nothing of theirs is filed; photos sent so far belong to no ticket, and housekeeping forgets them.
    return Submitted(msg("repair.duplicate.following", number=ticket.number), str(ticket.number))


# --- starting from a QR code on a door ----------------------------------------------------------


async def start_in_room(ctx: StepContext, room_id: str) -> Action:
    """/start room_<id>: a repair with the place already filled in."""
    found = ids.parse_id(room_id)
    room = await ctx.session.get(Room, found) if found is not None else None
    if room is None:
        return Action(say=((msg("repair.error.unknown_room"), ()),), start=("repair", {}))
    label = tickets.room_label(room)
    here = Label(f"{room.building.name_zh} {label.zh}", f"{room.building.name_en} {label.en}")
    preset = {"location": {"building": room.building_id, "room": room.id}}
    return Action(say=((msg("repair.in_room", place=here), ()),), start=("repair", preset))


def ticket_number(ticket_id: int, year: int) -> str:
    return f"R-{year}-{ticket_id:06d}"


async def open_tickets_of(session: AsyncSession, person_id: int) -> Sequence[Ticket]:
    found = await session.scalars(
        select(Ticket)
        .where(Ticket.reporter_id == person_id, Ticket.status.in_(tickets.OPEN))
        .order_by(Ticket.id.desc())
        .limit(20)
    )
    return found.all()


async def assigned_to(session: AsyncSession, person_id: int) -> Sequence[Ticket]:
    found = await session.scalars(
        select(Ticket)
        .where(Ticket.assignee_id == person_id, Ticket.status.in_(tickets.WORKING))
        .order_by(Ticket.due_at)
        .limit(20)
    )
    return found.all()


def ticket_line(ticket: Ticket, zone: ZoneInfo, now: datetime) -> Msg:
    status: Msg = msg(f"repair.status.{ticket.status}")
    if tickets.is_overdue(ticket, now):
        status = msg("ticket.card.overdue", status=status)
    return msg(
        "my.ticket_line",
        number=ticket.number,
        category=msg(f"repair.category.{ticket.category}"),
        status=status,
        opened=ticket.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
    )


def no_markup(text: str) -> Msg | None:
    # Descriptions are shown back verbatim in cards; keep them to plain text.
    if "\x00" in text:
        return msg("dialog.error.bad_characters")
    return None


FLOW = Flow(
    name="repair",
    title=msg("repair.title"),
    description=msg("repair.description"),
    steps=(
        ChoiceStep(
            "category",
            msg("repair.ask_category"),
            options=tuple(Option(c, msg(f"repair.category.{c}")) for c in CATEGORIES),
        ),
        LocationStep("location", msg("repair.ask_building"), buildings=building_options, rooms=room_options),
        ChoiceStep(
            "duplicate",
            msg("repair.duplicate.found"),
            options=duplicate_options,
            columns=1,
            dynamic_prompt=duplicate_prompt,
            on_choose=follow_instead,
            skip_without_options=True,
        ),
        TextStep("description", msg("repair.ask_description"), min_length=5, max_length=1000, validate=no_markup),
        PhotoStep("photos", msg("repair.ask_photos"), max_photos=3),
        ChoiceStep(
            "urgency",
            msg("repair.ask_urgency"),
            options=tuple(Option(u, msg(f"repair.urgency.{u}")) for u in URGENCIES),
        ),
        ConfirmStep("confirm", msg("repair.ask_confirm"), summary=summary),
    ),
    submit=submit,
)


async def my_part(ctx: StepContext) -> list[Renderable]:
    """/my's (and App Home's) first lines: the person's open reports, then the jobs they are on."""
    mine = await open_tickets_of(ctx.session, ctx.person.id)
    jobs = await assigned_to(ctx.session, ctx.person.id)
    parts: list[Renderable] = []
    if mine:
        lines = Lines(tuple(ticket_line(t, ctx.zone, ctx.now) for t in mine))
        parts.append(msg("my.list", count=len(mine), lines=lines))
    if jobs:
        lines = Lines(tuple(ticket_line(t, ctx.zone, ctx.now) for t in jobs))
        parts.append(msg("my.jobs", count=len(jobs), lines=lines))
    return parts


AREA = Area(
    "repair",
    flows=(FLOW,),
    links={"room": start_in_room},
    mine=my_part,
    slash_commands=("repair",),
    reminders=ticket_reminders.RULES,
    keep_sends=(ticket_reminders.escalations_still_needed,),
    stats=(figures.repair_figures,),
    faults=Desk(),
)
