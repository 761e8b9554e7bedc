"""A repair ticket's life after intake: assignment, the status machine, who may move it, and who hears.

Every action re-reads the ticket and re-checks the actor here, on the server: a button only says
which action someone asked for, never that they may. Refusals change nothing and are audited.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import NoReturn
from zoneinfo import ZoneInfo

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core import audit, authz, ids, refusals
from handlers.core.actor import RepairActor
from handlers.core.i18n import Label, Lines, Msg, Renderable, msg
from handlers.core.outbox import Notice, notify
from handlers.core.people import people_with_role
from handlers.core.refusals import Refused
from handlers.core.rules import RepairRules
from handlers.core.specialties import specialties_of
from storage.models import (
    Person,
    PersonRole,
    Photo,
    Room,
    Ticket,
    TicketComment,
    TicketEvent,
    TicketFollower,
)

# Statuses in which someone still has to act.
WORKING = ("assigned", "accepted", "in_progress", "waiting_parts", "reopened")
OPEN = ("new", *WORKING, "resolved")
STATUSES = (*OPEN, "closed", "cancelled")

# action -> (statuses it may start from, status it leads to)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "accept": (("new", "assigned"), "accepted"),
    "decline": (("assigned", "accepted"), "new"),
    "start": (("accepted", "waiting_parts", "reopened"), "in_progress"),
    "parts": (("in_progress",), "waiting_parts"),
    "resolve": (("in_progress", "waiting_parts"), "resolved"),
    "confirm": (("resolved",), "closed"),
    "dispute": (("resolved",), "reopened"),
    "cancel": (("new", "assigned", "accepted"), "cancelled"),
    "assign": (("new", *WORKING), "assigned"),
    "autoclose": (("resolved",), "closed"),
    # Supervisors (admins, logistics admins, the technician's manager) from /ticket close|reopen.
    "close": (("resolved",), "closed"),
    "reopen": (("resolved", "closed"), "reopened"),
}
LOW_RATING = 2
# The manager's low-rating notice waits this long for the reporter's comment (sent at once with it,
# or with none if they skip it; after this, without it, and edited in place if it comes later).
COMMENT_WAIT = timedelta(minutes=10)


# --- who may do what --------------------------------------------------------------------------


specialties = specialties_of


async def supervises(session: AsyncSession, person: Person, ticket: Ticket) -> bool:
    """Admins and logistics admins supervise every ticket; a manager those of their own technicians."""
    assignee = ticket.assignee
    department = assignee.department.code if assignee is not None and assignee.department is not None else None
    return authz.allowed(person, "ticket.supervise", department=department)


async def may(session: AsyncSession, person: Person, action: str, ticket: Ticket) -> bool:
    is_assignee = ticket.assignee_id == person.id
    if action == "accept":
        queued_for_me = ticket.status == "new" and ticket.category in specialties(person)
        return is_assignee or queued_for_me
    if action in ("decline", "start", "parts", "resolve"):
        return is_assignee or await supervises(session, person, ticket)
    if action in ("confirm", "dispute", "rate"):
        return ticket.reporter_id == person.id
    if action == "cancel":
        return ticket.reporter_id == person.id or await supervises(session, person, ticket)
    if action in ("assign", "close", "reopen"):
        return await supervises(session, person, ticket)
    if action in ("comment", "view"):
        # Not followers: whoever reported the same thing again may be anyone in the building, and the
        # reporter, the description, the photos and the comment thread are the reporter's and the staff's.
        return (
            ticket.reporter_id == person.id
            or is_assignee
            or await supervises(session, person, ticket)
            or (action == "view" and ticket.status == "new" and ticket.category in specialties(person))
        )
    if action == "progress":
        # What a follower may see: status, category, place and the status changes (progress_view).
        return await may(session, person, "view", ticket) or await is_follower(session, ticket, person)
    return False


FOLLOWERS_OF = select(TicketFollower.person_id).where(TicketFollower.ticket_id == bindparam("ticket_id"))


async def followers_of(session: AsyncSession, ticket: Ticket) -> list[int]:
    found = await session.scalars(FOLLOWERS_OF, {"ticket_id": ticket.id})
    return list(found.all())


async def is_follower(session: AsyncSession, ticket: Ticket, person: Person) -> bool:
    found = await session.scalar(
        select(TicketFollower.id).where(TicketFollower.ticket_id == ticket.id, TicketFollower.person_id == person.id)
    )
    return found is not None


async def load(actor: RepairActor, ticket_ref: str | int, action: str, read: Ticket | None = None) -> Ticket:
    """The ticket, if it exists and the actor may do `action` to it now; else Refused (and audited).
    Given the ticket as the caller already `read` it, judged on that same reading (not read again)."""
    ticket_id = ticket_ref if isinstance(ticket_ref, int) else ids.parse_id(ticket_ref)
    if read is not None:
        ticket: Ticket | None = read
    elif ticket_id is not None:
        ticket = await actor.session.get(Ticket, ticket_id, populate_existing=True)
    else:
        ticket = await actor.session.scalar(select(Ticket).where(Ticket.number == str(ticket_ref).upper()))
    if ticket is None:
        raise Refused(msg("ticket.error.not_found", ticket=str(ticket_ref)[:24]), audit=False)
    if not await may(actor.session, actor.person, action, ticket):
        if action == "comment" and await is_follower(actor.session, ticket, actor.person):
            # Followers hear the progress but take no part in the thread: say so rather than a bare no.
            refusals.refuse(
                actor, f"ticket.{action}", ticket.number, msg("ticket.error.follower_comment", number=ticket.number)
            )
        refuse(actor, "view" if action == "progress" else action, ticket)
    if action in TRANSITIONS and ticket.status not in TRANSITIONS[action][0]:
        # Legal for this person, but not from where the ticket is now (an old card, a race).
        raise Refused(
            msg("ticket.error.not_now", number=ticket.number, status=msg(f"repair.status.{ticket.status}")),
            audit=False,
        )
    return ticket


def refuse(actor: RepairActor, action: str, ticket: Ticket) -> NoReturn:
    refusals.refuse(actor, f"ticket.{action}", ticket.number, msg("ticket.error.not_allowed", number=ticket.number))


# --- moving a ticket --------------------------------------------------------------------------


async def move(actor: RepairActor, ticket: Ticket, action: str, note: str | None = None) -> None:
    """Change the status, recording who, when and why, and tell everyone who needs to know."""
    before = ticket.status
    ticket.status = TRANSITIONS[action][1]
    if action == "resolve":
        ticket.resolved_at = actor.now
    if ticket.status == "closed":
        ticket.closed_at = actor.now
    if action in ("dispute", "reopen"):
        ticket.reopen_count += 1
    actor_id = actor.person.id  # None when the system acts (auto-close)
    actor.session.add(
        TicketEvent(
            ticket_id=ticket.id, from_status=before, to_status=ticket.status, actor_id=actor_id, note=note, at=actor.now
        )
    )
    audit.done(actor, f"ticket.{action}", ticket.number, **{"from": before, "to": ticket.status})
    await actor.session.flush()
    await tell_everyone(actor, ticket, action, note)


def recorded(actor: RepairActor, ticket: Ticket, before: str, note: str | None) -> None:
    """The ticket's move from `before` to its status now, in its history."""
    actor.session.add(
        TicketEvent(
            ticket_id=ticket.id,
            from_status=before,
            to_status=ticket.status,
            actor_id=actor.person.id,
            note=note,
            at=actor.now,
        )
    )


async def assign(actor: RepairActor, ticket: Ticket, technician: Person, *, automatic: bool = False) -> None:
    previous = ticket.assignee
    ticket.assignee_id, ticket.assignee = technician.id, technician
    ticket.assigned_at = actor.now
    before = ticket.status
    ticket.status = "assigned"
    note = "auto" if automatic else None
    recorded(actor, ticket, before, note=f"{note or ''}→{technician.display_name}")
    if not automatic:
        audit.done(
            actor,
            action="ticket.assign",
            record=ticket.number,
            to=technician.id,
            **{"from": previous.id if previous else None},
        )
    await actor.session.flush()
    if previous is not None and previous.id != technician.id:
        await notify(
            actor.session,
            Notice(
                previous.id, card(ticket, actor, previous, taken_by=technician), card_key=card_key(ticket, previous)
            ),
            actor.now,
        )
    await tell_everyone(actor, ticket, "assign", None)


def _least_busy() -> Select[Person]:
    """The technician of a category (`category`) with the fewest open tickets; ties go to whoever
    waited longest."""
    load_ = (
        select(func.count(Ticket.id))
        .where(Ticket.assignee_id == PersonRole.person_id, Ticket.status.in_(WORKING))
        .scalar_subquery()
    )
    last = select(func.max(Ticket.assigned_at)).where(Ticket.assignee_id == PersonRole.person_id).scalar_subquery()
    return (
        select(Person)
        .join(PersonRole, PersonRole.person_id == Person.id)
        .where(PersonRole.role == "technician", PersonRole.scope == bindparam("category"), Person.left_at.is_(None))
        .order_by(load_, last.asc().nulls_first(), Person.id)
        .limit(1)
    )


# Run for every report: built once (issue 17's profile).
LEAST_BUSY = _least_busy()


async def auto_assign(actor: RepairActor, ticket: Ticket, exclude: Sequence[int] = ()) -> Person | None:
    """The technician of this category with the fewest open tickets; ties go to whoever waited longest."""
    query = LEAST_BUSY.where(Person.id.not_in(exclude)) if exclude else LEAST_BUSY
    candidate: Person | None = await actor.session.scalar(query, {"category": ticket.category})
    if candidate is None:
        await tell_the_queue(actor, ticket)
        return None
    await assign(actor, ticket, candidate, automatic=True)
    return candidate


async def requeue_held_by(actor: RepairActor, leaver: Person) -> None:
    """Someone who leaves (handlers/core/membership.leave): the tickets they were working on go back to
    the queue, unassigned and new, and the logistics admins see them waiting as after a decline."""
    held = await actor.session.scalars(
        select(Ticket).where(Ticket.assignee_id == leaver.id, Ticket.status.in_(WORKING)).order_by(Ticket.id)
    )
    for ticket in held.unique().all():
        before = ticket.status
        ticket.assignee_id, ticket.assignee = None, None
        ticket.status = "new"
        recorded(actor, ticket, before, note="left")
        audit.done(actor, action="ticket.requeue", record=ticket.number, left=leaver.id, **{"from": before})
        await actor.session.flush()
        await tell_the_queue(actor, ticket)


async def tell_the_queue(actor: RepairActor, ticket: Ticket) -> None:
    """Nobody matches or the assignee declined: logistics admins see it waiting, with an Assign button."""
    for person in await people_with_role(actor.session, "logistics_admin"):
        await notify(
            actor.session,
            Notice(
                person.id, card(ticket, actor, person), buttons_for(ticket, "queue"), card_key=card_key(ticket, person)
            ),
            actor.now,
        )


async def technicians_for(session: AsyncSession, category: str) -> list[Person]:
    return await people_with_role(session, "technician", category)


def due_at(created: datetime, urgency: str, rules: RepairRules) -> datetime:
    return created + rules.sla[urgency]


def is_overdue(ticket: Ticket, now: datetime) -> bool:
    return ticket.status in ("new", *WORKING) and ticket.due_at is not None and ticket.due_at < now


async def overdue(session: AsyncSession, now: datetime, older_than: timedelta = timedelta(0)) -> list[Ticket]:
    """Open, not yet resolved, past their due time (by more than `older_than`), most overdue first:
    what the reminder jobs chase and /my shows."""
    found = await session.scalars(
        select(Ticket)
        .where(Ticket.status.in_(("new", *WORKING)), Ticket.due_at < now - older_than)
        .order_by(Ticket.due_at, Ticket.id)
    )
    return list(found.unique().all())


async def close_unconfirmed(actor: RepairActor) -> list[str]:
    """Resolved tickets nobody confirmed within the rules' window close themselves."""
    stale = await actor.session.scalars(
        select(Ticket).where(Ticket.status == "resolved", Ticket.resolved_at < actor.now - actor.rules.auto_close_after)
    )
    closed = []
    for ticket in stale.all():
        await move(actor, ticket, "autoclose")
        closed.append(str(ticket.number))
    return closed


# --- who hears about it -----------------------------------------------------------------------


def card_key(ticket: Ticket, person: Person) -> str:
    return f"ticket:{ticket.id}:{person.id}"


async def tell_everyone(actor: RepairActor, ticket: Ticket, action: str, note: str | None) -> None:
    session, now = actor.session, actor.now
    if ticket.assignee is not None:
        notice = Notice(
            ticket.assignee.id,
            card(ticket, actor, ticket.assignee),
            buttons_for(ticket, "assignee"),
            card_key(ticket, ticket.assignee),
            photos=tuple(photo.id for photo in ticket.photos),
        )
        await notify(session, notice, now)
    if ticket.reporter_id != actor.person.id:
        update = status_update(ticket, action, note)
        await notify(session, Notice(ticket.reporter_id, update, buttons_for(ticket, "reporter")), now)
    # Followers hear the new status only: the notes (a reason, the parts awaited, a rating) are between
    # the reporter and the staff, like the description.
    followed = msg(
        "ticket.notice.followed",
        number=ticket.number,
        category=msg(f"repair.category.{ticket.category}"),
        location=place(ticket),
        status=msg(f"repair.status.{ticket.status}"),
    )
    for person_id in set(await followers_of(session, ticket)) - {actor.person.id, ticket.reporter_id}:
        await notify(session, Notice(person_id, followed), now)
    if action == "dispute" and ticket.assignee is not None:
        # The card far up the chat changed; the technician also needs to hear that it came back.
        await notify(session, Notice(ticket.assignee.id, status_update(ticket, action, note)), now)
        await tell_managers_of_low_rating(session, ticket, now, wait=True)


async def tell_managers_of_low_rating(session: AsyncSession, ticket: Ticket, now: datetime, wait: bool) -> None:
    """A low rating is the technician's manager's business: told with the reporter's comment. Asked
    for right after the rating, it may come a little later: the notice waits for it (`wait`), and one
    version per manager and ticket (a card key) means the later one replaces or edits the earlier."""
    if ticket.assignee is None or ticket.assignee.department is None:
        return
    notice = msg(
        "ticket.notice.low_rating",
        number=ticket.number,
        technician=ticket.assignee.display_name,
        rating=ticket.rating or 0,
        comment=ticket.rating_comment or "—",
    )
    for manager in await people_with_role(session, "manager", ticket.assignee.department.code):
        key = f"low-rating:{ticket.id}:{manager.id}"
        later = now + COMMENT_WAIT if wait else None
        await notify(session, Notice(manager.id, notice, card_key=key, not_before=later), now)


def status_update(ticket: Ticket, action: str, note: str | None) -> Msg:
    who = ticket.assignee.display_name if ticket.assignee else "—"
    key = {
        "assign": "ticket.notice.assigned",
        "accept": "ticket.notice.accepted",
        "decline": "ticket.notice.back_in_queue",
        "start": "ticket.notice.started",
        "parts": "ticket.notice.waiting_parts",
        "resolve": "ticket.notice.resolved",
        "confirm": "ticket.notice.closed",
        "autoclose": "ticket.notice.autoclosed",
        "dispute": "ticket.notice.reopened",
        "cancel": "ticket.notice.cancelled",
        "close": "ticket.notice.closed_by_supervisor",
        "reopen": "ticket.notice.reopened_by_supervisor",
    }[action]
    return msg(key, number=ticket.number, technician=who, note=note or "—")


def buttons_for(ticket: Ticket, viewer: str) -> tuple[tuple[tuple[Renderable, str], ...], ...]:
    """The buttons a card shows for the ticket's current status; payloads name the ticket and action."""

    def b(action: str, key: str | None = None) -> tuple[Renderable, str]:
        return msg(key or f"ticket.button.{action}"), f"tk:{ticket.id}:{action}"

    if viewer == "queue":
        return ((b("assign"),),)
    if viewer == "reporter":
        if ticket.status == "resolved":
            stars = tuple((Label("★" * n, "★" * n), f"tk:{ticket.id}:rate{n}") for n in range(1, 6))
            return (stars[:3], stars[3:])
        return ((b("comment"),),) if ticket.status in OPEN else ()
    rows: dict[str, tuple[tuple[tuple[Renderable, str], ...], ...]] = {
        "new": ((b("accept"),),),
        "assigned": ((b("accept"), b("decline")),),
        "accepted": ((b("start"), b("decline")),),
        "in_progress": ((b("parts"), b("resolve")),),
        "waiting_parts": ((b("start", "ticket.button.resume"), b("resolve")),),
        "reopened": ((b("start"),),),
    }
    found = rows.get(ticket.status, ())
    return (*found, (b("comment"),)) if found else ()


def photo_count(count: int) -> Msg:
    """How many photos a ticket has, as its card and the reporter's summary say it: none, or how many."""
    return msg("repair.photos", count=count) if count else msg("repair.photos.none")


def card(ticket: Ticket, actor: RepairActor, viewer: Person, taken_by: Person | None = None) -> Msg:
    """The ticket as its assignee (or the queue) sees it: everything needed to go and fix it."""
    due = ticket.due_at.astimezone(actor.zone).strftime("%m-%d %H:%M") if ticket.due_at else "—"
    status: Renderable = msg(f"repair.status.{ticket.status}")
    if taken_by is not None:
        status = msg("ticket.card.taken_by", technician=taken_by.display_name)
    elif is_overdue(ticket, actor.now):
        status = msg("ticket.card.overdue", status=status)
    return msg(
        "ticket.card",
        number=ticket.number,
        category=msg(f"repair.category.{ticket.category}"),
        urgency=msg(f"repair.urgency.{ticket.urgency}"),
        location=place(ticket),
        description=ticket.description,
        reporter=ticket.reporter.display_name,
        photos=photo_count(len(ticket.photos)),
        due=due,
        status=status,
    )


def progress_view(ticket: Ticket, actor: RepairActor) -> Msg:
    """The ticket as a follower sees it: what, where, how far, and when it moved; never who reported it,
    the description, the photos or the comments (a follower may be anyone who reported the same thing)."""
    progress = tuple(
        msg(
            "ticket.progress_line",
            at=event.at.astimezone(actor.zone).strftime("%m-%d %H:%M"),
            status=msg(f"repair.status.{event.to_status}"),
        )
        for event in ticket.history
    )
    return msg(
        "ticket.follower_view",
        number=ticket.number,
        category=msg(f"repair.category.{ticket.category}"),
        location=place(ticket),
        status=msg(f"repair.status.{ticket.status}"),
        progress=Lines(progress),
    )


def room_label(room: Room) -> Label:
    # "201 第一会议室", but "101 宿舍" rather than "101 101 宿舍" when the name already says the number.
    def with_code(name: str) -> str:
        return name if room.code in name else f"{room.code} {name}"

    return Label(with_code(room.name_zh), with_code(room.name_en))


def place(ticket: Ticket) -> Label:
    """Where the ticket is: building and room, or the words the reporter typed."""
    if ticket.room is None:
        text = ticket.location_text or "—"
        return Label(text, text)
    room: Room = ticket.room
    label = room_label(room)
    return Label(f"{room.building.name_zh} {label.zh}", f"{room.building.name_en} {label.en}")


async def history(session: AsyncSession, ticket: Ticket, zone: ZoneInfo) -> Lines:
    names = {row.id: row.display_name for row in await session.execute(select(Person.id, Person.display_name))}
    lines: list[Renderable] = []
    for event in ticket.history:
        lines.append(
            msg(
                "ticket.history_line",
                at=event.at.astimezone(zone).strftime("%m-%d %H:%M"),
                status=msg(f"repair.status.{event.to_status}"),
                actor=names.get(event.actor_id or 0, "Houqin"),
            )
        )
    comments = await session.scalars(
        select(TicketComment).where(TicketComment.ticket_id == ticket.id).order_by(TicketComment.id)
    )
    for comment in comments.all():
        lines.append(
            msg(
                "ticket.comment_line",
                at=comment.at.astimezone(zone).strftime("%m-%d %H:%M"),
                author=names.get(comment.author_id, "?"),
                body=comment.body,
            )
        )
    return Lines(tuple(lines))


async def may_see_photo(session: AsyncSession, person: Person, photo: Photo) -> bool:
    """A ticket's photo, for anyone who may view the ticket (its sender always may: Area.photos)."""
    ticket = await session.get(Ticket, photo.ticket_id) if photo.ticket_id else None
    return ticket is not None and await may(session, person, "view", ticket)
