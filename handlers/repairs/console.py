"""The repairs in the web console: the ticket table (filters, sort, search, a page at a time), a
ticket's page (history, photos, comments, what the viewer may do), the actions assign / close /
reopen / comment, the week's figures for the home page and the mark the live queue polls.

Who sees what is the chat's rule: those who hold `ticket.supervise` everywhere (admins, logistics
admins) see every ticket; a manager sees their department's — reported by its people or assigned to
its technicians, as their weekly digest counts them (digest.ticket_scope). Every action goes through
tickets.load / move / assign and actions.relay_comment, exactly as the card buttons and /ticket do, so
the rules, the notices and the audit lines are the chat's.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import aliased, undefer

from handlers.core import console, ids
from handlers.core.actor import Actor
from handlers.core.adminkit import Period
from handlers.core.charts import Chart, Series
from handlers.core.console import ConsolePage, Paged, Reach, Viewer
from handlers.core.digest import Scope, Week, hours, percent, stars
from handlers.core.i18n import Label, msg, translate
from handlers.core.people import people_with_role
from handlers.core.refusals import Refused
from handlers.core.rules import RepairRules
from handlers.repairs import actions, digest, tickets
from handlers.repairs.figures import CATEGORIES as CATEGORIES  # the table's filter offers them
from storage.models import Building, Person, Photo, Room, Ticket, TicketComment, TicketEvent

ACTION = "ticket.supervise"
STATUSES = tickets.STATUSES
# What the table may be sorted by: the query string's word → the column (descending with a leading "-").
SORTS: dict[str, Any] = {
    "created": Ticket.created_at,
    "due": Ticket.due_at,
    "number": Ticket.number,
    "status": Ticket.status,
    "category": Ticket.category,
}
DEFAULT_SORT = "-created"
# The actions a ticket's page offers, each the chat's own (tickets.TRANSITIONS; comment: actions.relay_comment).
ACTIONS = ("assign", "close", "reopen", "comment")
OPEN_NOT_RESOLVED = digest.OPEN_NOT_RESOLVED


def scope_of(reach: Reach) -> ColumnElement[bool]:
    """The tickets a reach covers: all, or those of its departments (as their digest counts them)."""
    if reach.everything:
        return Ticket.id.is_not(None)
    return or_(*(digest.ticket_scope(Scope(department)) for department in reach.departments))


def actor_of(viewer: Viewer) -> Actor[RepairRules]:
    return Actor(viewer.session, viewer.person, viewer.channel, viewer.now, viewer.zone, viewer.rules)


# --- the table ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TicketFilters:
    status: str = ""
    category: str = ""
    building: int | None = None
    technician: int | None = None
    overdue: bool = False
    since: Any = None  # a local date (from), or None
    until: Any = None  # a local date (to, included), or None
    search: str = ""
    sort: str = DEFAULT_SORT
    page: int = 1

    def query(self, **changed: Any) -> dict[str, str]:
        """As a query string's values (for links that keep the filters: sort, pages)."""
        values = {
            "status": self.status,
            "category": self.category,
            "building": str(self.building or ""),
            "technician": str(self.technician or ""),
            "overdue": "1" if self.overdue else "",
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
            "q": self.search,
            "sort": self.sort,
            "page": str(self.page),
        }
        return console.query_string(values, changed)


def filters_from(params: Mapping[str, str]) -> TicketFilters:
    """What a query string asks for; anything not one of the known values is simply not a filter."""
    status = params.get("status", "")
    category = params.get("category", "")
    sort = params.get("sort", DEFAULT_SORT)
    return TicketFilters(
        status=status if status in (*tickets.STATUSES, "open") else "",
        category=category if category in CATEGORIES else "",
        building=console.id_param(params, "building"),
        technician=console.id_param(params, "technician"),
        overdue=params.get("overdue") == "1",
        since=console.day_param(params, "since"),
        until=console.day_param(params, "until"),
        search=params.get("q", "").strip()[:60],
        sort=sort if sort.removeprefix("-") in SORTS else DEFAULT_SORT,
        page=console.page_number(params),
    )


@dataclass(frozen=True)
class TicketRow:
    id: int
    number: str
    category: str
    status: str
    urgency: str
    place: Label
    reporter: str
    technician: str | None
    created_at: datetime
    due_at: datetime | None
    overdue: bool


@dataclass(frozen=True)
class Choices:
    """What the filters offer: the buildings and technicians there are."""

    buildings: list[tuple[int, Label]]
    technicians: list[tuple[int, str]]


def conditions(viewer: Viewer, reach: Reach, filters: TicketFilters) -> list[ColumnElement[bool]]:
    found = [scope_of(reach)]
    if filters.status == "open":
        found.append(Ticket.status.in_(tickets.OPEN))
    elif filters.status:
        found.append(Ticket.status == filters.status)
    if filters.category:
        found.append(Ticket.category == filters.category)
    if filters.building is not None:
        found.append(Ticket.building_id == filters.building)
    if filters.technician is not None:
        found.append(Ticket.assignee_id == filters.technician)
    if filters.overdue:
        found.extend((Ticket.status.in_(OPEN_NOT_RESOLVED), Ticket.due_at < viewer.now))
    found.extend(console.on_days(Ticket.created_at, filters.since, filters.until, viewer.zone))
    if filters.search:
        found.append(console.matching(filters.search, Ticket.number, Ticket.description, Ticket.location_text))
    return found


async def ticket_table(viewer: Viewer, reach: Reach, filters: TicketFilters) -> Paged[TicketRow]:
    """One page of the tickets the viewer may see that match the filters, in the order asked."""
    session = viewer.session
    where = conditions(viewer, reach, filters)
    total = int(await session.scalar(select(func.count(Ticket.id)).where(*where)) or 0)
    order = console.ordered(SORTS, filters.sort)
    per_page = console.PER_PAGE
    page = console.within(filters.page, total, per_page)
    reporter, assignee = aliased(Person), aliased(Person)
    query = (
        select(
            Ticket.id,
            Ticket.number,
            Ticket.category,
            Ticket.status,
            Ticket.urgency,
            Ticket.location_text,
            Ticket.created_at,
            Ticket.due_at,
            reporter.display_name.label("reporter"),
            assignee.display_name.label("technician"),
            Room.code.label("room_code"),
            Room.name_zh.label("room_zh"),
            Room.name_en.label("room_en"),
            Building.name_zh.label("building_zh"),
            Building.name_en.label("building_en"),
        )
        .join(reporter, reporter.id == Ticket.reporter_id)
        .outerjoin(assignee, assignee.id == Ticket.assignee_id)
        .outerjoin(Room, Room.id == Ticket.room_id)
        .outerjoin(Building, Building.id == Room.building_id)
        .where(*where)
        .order_by(order.nulls_last(), Ticket.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    rows = [
        TicketRow(
            id=row.id,
            number=str(row.number),
            category=row.category,
            status=row.status,
            urgency=row.urgency,
            place=place_of(row),
            reporter=row.reporter,
            technician=row.technician,
            created_at=row.created_at,
            due_at=row.due_at,
            overdue=row.status in OPEN_NOT_RESOLVED and row.due_at is not None and row.due_at < viewer.now,
        )
        for row in await session.execute(query)
    ]
    return Paged(rows, page, per_page, total)


def place_of(row: Any) -> Label:
    if row.room_code is None:
        text = row.location_text or "—"
        return Label(text, text)
    zh = row.room_zh if row.room_code in row.room_zh else f"{row.room_code} {row.room_zh}"
    en = row.room_en if row.room_code in row.room_en else f"{row.room_code} {row.room_en}"
    return Label(f"{row.building_zh} {zh}", f"{row.building_en} {en}")


async def choices(viewer: Viewer) -> Choices:
    buildings = await viewer.session.execute(
        select(Building.id, Building.name_zh, Building.name_en).order_by(Building.code)
    )
    technicians = await people_with_role(viewer.session, "technician")
    return Choices(
        [(row.id, Label(row.name_zh, row.name_en)) for row in buildings],
        [(person.id, person.display_name) for person in technicians],
    )


async def queue_mark(viewer: Viewer, reach: Reach) -> str:
    """What the live queue polls: changes whenever a ticket the viewer sees is opened, moves or gets a
    comment. Three MAX/COUNT over indexed columns, so polling all day costs next to nothing."""
    session, mine = viewer.session, scope_of(reach)
    newest, count = (await session.execute(select(func.max(Ticket.id), func.count(Ticket.id)).where(mine))).one()
    moved = await session.scalar(
        select(func.max(TicketEvent.id)).join(Ticket, Ticket.id == TicketEvent.ticket_id).where(mine)
    )
    said = await session.scalar(
        select(func.max(TicketComment.id)).join(Ticket, Ticket.id == TicketComment.ticket_id).where(mine)
    )
    return f"{newest or 0}.{count or 0}.{moved or 0}.{said or 0}"


# --- one ticket ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    at: datetime
    from_status: str | None
    to_status: str
    actor: str
    note: str | None


@dataclass(frozen=True)
class Comment:
    at: datetime
    author: str
    body: str


@dataclass(frozen=True)
class TicketPage:
    ticket: Ticket
    place: Label
    overdue: bool
    history: list[Event]
    comments: list[Comment]
    photos: list[int]
    # What this viewer may do to it now: a subset of ACTIONS, judged by the chat's own rules.
    may: tuple[str, ...]
    technicians: list[tuple[int, str, bool, int]] = field(default_factory=list)  # id, name, of its trade, open


async def find(viewer: Viewer, reach: Reach, number: str) -> Ticket:
    """The ticket of this number, if the viewer may see it; else Refused (audited when it exists: the
    chat's `ticket.view` refusal)."""
    ticket = await viewer.session.scalar(select(Ticket).where(Ticket.number == number.strip().upper()[:24]))
    if ticket is None:
        raise Refused(msg("ticket.error.not_found", ticket=number[:24]), audit=False)
    seen = await viewer.session.scalar(select(Ticket.id).where(Ticket.id == ticket.id, scope_of(reach)))
    if seen is None:
        tickets.refuse(actor_of(viewer), "view", ticket)
    return ticket


async def ticket_page(viewer: Viewer, reach: Reach, number: str) -> TicketPage:
    session = viewer.session
    ticket = await find(viewer, reach, number)
    ids_seen = {e.actor_id for e in ticket.history if e.actor_id is not None}
    comments = (
        await session.scalars(
            select(TicketComment).where(TicketComment.ticket_id == ticket.id).order_by(TicketComment.id)
        )
    ).all()
    ids_seen |= {c.author_id for c in comments}
    names = dict((await session.execute(select(Person.id, Person.display_name).where(Person.id.in_(ids_seen)))).all())
    history = [
        Event(e.at, e.from_status, e.to_status, names.get(e.actor_id or 0, "Houqin"), e.note) for e in ticket.history
    ]
    said = [Comment(c.at, names.get(c.author_id, "?"), c.body) for c in comments]
    photos = list(
        (await session.scalars(select(Photo.id).where(Photo.ticket_id == ticket.id).order_by(Photo.id))).all()
    )
    may: list[str] = []
    supervises = await tickets.supervises(session, viewer.person, ticket)
    for action in ("assign", "close", "reopen"):
        if supervises and ticket.status in tickets.TRANSITIONS[action][0]:
            may.append(action)
    if ticket.status in tickets.OPEN and await tickets.may(session, viewer.person, "comment", ticket):
        may.append("comment")
    technicians: list[tuple[int, str, bool, int]] = []
    if "assign" in may:
        workload = dict(
            (
                await session.execute(
                    select(Ticket.assignee_id, func.count(Ticket.id))
                    .where(Ticket.status.in_(tickets.WORKING))
                    .group_by(Ticket.assignee_id)
                )
            ).all()
        )
        trade = {p.id for p in await tickets.technicians_for(session, ticket.category)}
        people = await people_with_role(session, "technician")
        people.sort(key=lambda p: (p.id not in trade, workload.get(p.id, 0), p.id))
        technicians = [(p.id, p.display_name, p.id in trade, int(workload.get(p.id, 0))) for p in people]
    return TicketPage(
        ticket,
        tickets.place(ticket),
        tickets.is_overdue(ticket, viewer.now),
        history,
        said,
        photos,
        tuple(may),
        technicians,
    )


async def photo(viewer: Viewer, reach: Reach, photo_ref: str) -> Photo | None:
    """A ticket's photo for someone who may see that ticket here; None for any other (the same answer)."""
    photo_id = ids.parse_id(photo_ref)
    if photo_id is None:
        return None
    found = await viewer.session.scalar(
        select(Photo)
        .join(Ticket, Ticket.id == Photo.ticket_id)
        .where(Photo.id == photo_id, scope_of(reach))
        .options(undefer(Photo.content))  # deferred on the model: read with the row, not lazily after
    )
    if found is None or found.content is None:
        return None
    return found


# --- acting on it: the chat's functions -------------------------------------------------------------


async def act(viewer: Viewer, number: str, action: str, form: Mapping[str, str]) -> str:
    """Do `action` to the ticket as the viewer, through the chat's own functions; the catalog key of
    what to tell them. Refused (audited by those functions) when they may not, or not now."""
    actor = actor_of(viewer)
    found = await viewer.session.scalar(select(Ticket.id).where(Ticket.number == number.strip().upper()[:24]))
    if found is None or action not in ACTIONS:
        raise Refused(msg("ticket.error.not_found", ticket=number[:24]), audit=False)
    if action in ("close", "reopen"):
        # /ticket close|reopen NUMBER [note]
        note = form.get("note", "").strip()[:500] or None
        ticket = await tickets.load(actor, found, action)
        await tickets.move(actor, ticket, action, note=note)
        return f"ticket.done.{action}"
    if action == "assign":
        # /assign NUMBER technician (the reassign flow's submit)
        ticket = await tickets.load(actor, found, "assign")
        technician_id = ids.parse_id(form.get("technician", ""))
        technician = await viewer.session.get(Person, technician_id) if technician_id is not None else None
        if technician is None or not technician.has_role("technician") or technician.left_at is not None:
            raise Refused(msg("ticket.error.no_such_technician", name=form.get("technician", "")[:40], names="—"))
        await tickets.assign(actor, ticket, technician)
        return "ticket.done.assign"
    body = form.get("body", "").strip()[:1000]
    if not body:
        raise Refused(msg("console.error.empty_comment"), audit=False)
    ticket = await tickets.load(actor, found, "comment")
    await actions.relay_comment(actor, ticket, body)
    return "ticket.done.comment"


# --- the home page: the week's figures and what waits ---------------------------------------------------


@dataclass(frozen=True)
class WeekOfRepairs:
    """A scope's last seven days of repairs, as its weekly digest computes them, and the weeks' trend."""

    scope: Scope
    repairs: digest.Repairs
    rating: digest.Rating
    trend: digest.Trend

    def tiles(self, locale: str) -> list[tuple[str, str]]:
        """The week's figures as the home page shows them: (what, how much), the digest's own wording."""
        r = self.repairs
        median = hours(r.median_hours)
        return [
            ("console.week.opened", str(r.opened)),
            ("console.week.resolved", str(r.resolved)),
            ("console.week.sla", percent(r.within_sla, r.resolved)),
            ("console.week.median", median if isinstance(median, str) else median.render(locale)),
            ("console.week.overdue", str(r.overdue_total)),
            ("console.week.rating", stars(self.rating.average)),
        ]

    def chart(self, locale: str, zone: Any) -> dict[str, object]:
        """The trend as the browser draws it: the digest's own chart, as JSON."""
        drawn = self.trend.chart(self.scope, locale, zone)
        assert drawn is not None
        return console.chart_json(drawn)


def last_week(viewer: Viewer) -> Week:
    """The seven days up to the end of today (the organisation's days), measured now."""
    end = datetime.combine(viewer.today + timedelta(days=1), time(), viewer.zone)
    return Week(end - timedelta(days=7), end, viewer.now)


async def week_of(viewer: Viewer, reach: Reach, week: Week | None = None) -> list[WeekOfRepairs]:
    """The week per scope the viewer reads (the organisation, or each of their departments): the
    digest's own functions, so the console and the digest can never say two things."""
    week = week or last_week(viewer)
    scopes = [Scope()] if reach.everything else [Scope(department) for department in reach.departments]
    return [
        WeekOfRepairs(
            scope,
            await digest.week_of_repairs(viewer.session, scope, week),
            await digest.rating_of(viewer.session, scope, week),
            await digest.trend(viewer.session, scope, week),
        )
        for scope in scopes
    ]


async def waiting(viewer: Viewer, reach: Reach) -> int:
    """What waits for the viewer among the tickets: those nobody has taken and those past due."""
    mine = scope_of(reach)
    unassigned = and_(Ticket.status == "new", Ticket.assignee_id.is_(None))
    late = and_(Ticket.status.in_(OPEN_NOT_RESOLVED), Ticket.due_at < viewer.now)
    return int(await viewer.session.scalar(select(func.count(Ticket.id)).where(mine, or_(unassigned, late))) or 0)


PAGES: Sequence[ConsolePage] = (
    ConsolePage(
        "tickets", "console.nav.tickets", ACTION, place=10, waiting=waiting, waiting_label="console.wait.tickets"
    ),
)


# --- the statistics page: the period's weeks --------------------------------------------------------------


@dataclass(frozen=True)
class WeekCount:
    start: datetime
    opened: int
    resolved: int
    within_sla: int

    @property
    def sla(self) -> float | None:
        return round(100 * self.within_sla / self.resolved, 1) if self.resolved else None


async def weeks_of(viewer: Viewer, period: Period) -> list[WeekCount]:
    """Each bucket of the period (console.buckets): opened, resolved, resolved within the SLA — each
    counted as the weekly digest counts its week (created in it; resolved in it, on time by due_at)."""
    session = viewer.session
    found: list[WeekCount] = []
    spans = console.buckets(period, viewer.zone)

    def counted(column: Any, start: datetime, end: datetime, *more: Any) -> Any:
        return func.sum(case((and_(column >= start, column < end, *more), 1), else_=0))

    first, last = spans[0][0], spans[-1][1]
    opened = (
        await session.execute(
            select(*(counted(Ticket.created_at, s, e) for s, e in spans)).where(
                Ticket.created_at >= first, Ticket.created_at < last
            )
        )
    ).one()
    resolved = (
        await session.execute(
            select(
                *(counted(Ticket.resolved_at, s, e) for s, e in spans),
                *(counted(Ticket.resolved_at, s, e, Ticket.resolved_at <= Ticket.due_at) for s, e in spans),
            ).where(Ticket.resolved_at >= first, Ticket.resolved_at < last)
        )
    ).one()
    n = len(spans)
    for i, (start, _) in enumerate(spans):
        found.append(WeekCount(start, int(opened[i] or 0), int(resolved[i] or 0), int(resolved[n + i] or 0)))
    return found


async def charts(viewer: Viewer, period: Period) -> list[Chart]:
    """The statistics page's repairs: opened and resolved by week, and the share resolved on time."""
    weeks = await weeks_of(viewer, period)
    labels = [w.start.astimezone(viewer.zone).strftime("%m-%d") for w in weeks]
    t = functools.partial(translate, viewer.locale)
    return [
        Chart(
            title=t("console.stats.repairs_by_week"),
            categories=labels,
            series=[
                Series(t("console.week.opened"), [w.opened for w in weeks]),
                Series(t("console.week.resolved"), [w.resolved for w in weeks]),
            ],
            counts=True,
        ),
        Chart(
            title=t("console.stats.sla_by_week"),
            categories=labels,
            series=[Series(t("console.week.sla"), [w.sla for w in weeks])],
            kind="line",
            y_max=100,
        ),
    ]
