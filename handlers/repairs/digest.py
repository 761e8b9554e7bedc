"""The repairs' part of the weekly digest: the week's tickets (opened, resolved, on time, the median
time to resolve, the backlog by category, what is overdue, the technicians' scoreboard), the average
rating, the last weeks' trend with its chart; and the button that nudges the technicians of overdue
tickets now."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core import refusals
from handlers.core.charts import Chart, Series
from handlers.core.digest import (
    DAY,
    LIST_AT_MOST,
    ORG_ROLES,
    TREND_WEEKS,
    Digest,
    DigestButton,
    Scope,
    Section,
    Week,
    hours,
    percent,
    seconds_between,
    stars,
    within,
)
from handlers.core.flow import Action, StepContext
from handlers.core.i18n import Lines, Renderable, msg
from handlers.core.outbox import Notice
from handlers.core.people import managed_departments
from handlers.core.refusals import Refused
from handlers.core.reminders import Context as ReminderContext
from handlers.core.schedule import Schedule
from handlers.core.sends import Delivery, Served, serve
from handlers.repairs.reminders import overdue_notice
from handlers.repairs.tickets import WORKING
from storage.models import Department, Person, Ticket

OPEN_NOT_RESOLVED = ("new", *WORKING)


def ticket_scope(scope: Scope) -> ColumnElement[bool]:
    """A department's tickets: reported by its people, or assigned to its technicians."""
    if scope.department is None:
        return Ticket.id.is_not(None)
    members = select(Person.id).where(Person.department_id == scope.department.id)
    return or_(Ticket.reporter_id.in_(members), Ticket.assignee_id.in_(members))


@dataclass
class Repairs:
    opened: int = 0
    resolved: int = 0
    within_sla: int = 0
    median_hours: float | None = None
    backlog: list[tuple[str, int]] = field(default_factory=list)  # category, open tickets
    overdue_total: int = 0
    overdue: list[tuple[str, str, str, int]] = field(default_factory=list)  # number, category, technician, h late
    # technician, resolved, of them within SLA, average rating (None: none rated)
    scoreboard: list[tuple[str, int, int, float | None]] = field(default_factory=list)

    def lines(self, zone: ZoneInfo) -> Sequence[Renderable]:
        parts: list[Renderable] = [
            msg(
                "digest.repairs",
                opened=self.opened,
                resolved=self.resolved,
                sla=percent(self.within_sla, self.resolved),
                median=hours(self.median_hours),
            )
        ]
        if self.backlog:
            backlog = tuple(
                msg("digest.count_line", name=msg(f"repair.category.{c}"), count=n) for c, n in self.backlog
            )
            parts.append(msg("digest.backlog", lines=Lines(backlog)))
        if self.overdue_total:
            late = tuple(
                msg("digest.overdue_line", number=n, category=msg(f"repair.category.{c}"), technician=t, hours=h)
                for n, c, t, h in self.overdue
            )
            parts.append(msg("digest.overdue", count=self.overdue_total, lines=Lines(late)))
        if self.scoreboard:
            board = tuple(
                msg("digest.score_line", technician=t, resolved=n, sla=percent(hit, n), rating=stars(a))
                for t, n, hit, a in self.scoreboard
            )
            parts.append(msg("digest.scoreboard", lines=Lines(board)))
        return parts

    def chart(self, scope: Scope, locale: str, zone: ZoneInfo) -> Chart | None:
        return None


async def week_of_repairs(session: AsyncSession, scope: Scope, week: Week) -> Repairs:
    mine = ticket_scope(scope)
    resolved_now = within(Ticket.resolved_at, week.start, week.end)
    out = Repairs()
    out.opened = int(
        await session.scalar(select(func.count(Ticket.id)).where(mine, within(Ticket.created_at, week.start, week.end)))
        or 0
    )
    met = func.sum(case((Ticket.resolved_at <= Ticket.due_at, 1), else_=0))
    row = (await session.execute(select(func.count(Ticket.id), met).where(mine, resolved_now))).one()
    out.resolved, out.within_sla = int(row[0] or 0), int(row[1] or 0)
    if out.resolved:
        # The median without loading the week: skip to the middle of the sorted durations.
        took = seconds_between(session, Ticket.resolved_at, Ticket.created_at)
        middle = await session.scalars(
            select(took)
            .where(mine, resolved_now)
            .order_by(took)
            .offset((out.resolved - 1) // 2)
            .limit(2 - out.resolved % 2)
        )
        values = [float(v) for v in middle.all()]
        # Rounded: SQLite's julianday arithmetic is a float a few microseconds off.
        out.median_hours = round(sum(values) / len(values) / 3600, 2) if values else None
    backlog = await session.execute(
        select(Ticket.category, func.count(Ticket.id))
        .where(mine, Ticket.status.in_(OPEN_NOT_RESOLVED))
        .group_by(Ticket.category)
        .order_by(func.count(Ticket.id).desc(), Ticket.category)
    )
    out.backlog = [(category, int(count)) for category, count in backlog.all()]
    late = (Ticket.status.in_(OPEN_NOT_RESOLVED), Ticket.due_at < week.now)
    out.overdue_total = int(await session.scalar(select(func.count(Ticket.id)).where(mine, *late)) or 0)
    overdue = await session.execute(
        select(Ticket.number, Ticket.category, Person.display_name, Ticket.due_at)
        .outerjoin(Person, Person.id == Ticket.assignee_id)
        .where(mine, *late)
        .order_by(Ticket.due_at, Ticket.id)
        .limit(LIST_AT_MOST)
    )
    out.overdue = [
        (str(number), category, name or "—", max(1, int((week.now - due).total_seconds() // 3600)))
        for number, category, name, due in overdue.all()
        if due is not None
    ]
    volume = func.count(Ticket.id)
    board = await session.execute(
        select(Person.display_name, volume, met, func.avg(Ticket.rating))
        .join(Person, Person.id == Ticket.assignee_id)
        .where(mine, resolved_now)
        .group_by(Person.id, Person.display_name)
        .order_by(volume.desc(), Person.display_name)
        .limit(LIST_AT_MOST)
    )
    out.scoreboard = [
        (name, int(count), int(hits or 0), float(rating) if rating is not None else None)
        for name, count, hits, rating in board.all()
    ]
    return out


@dataclass(frozen=True)
class Rating:
    """The average rating of the tickets closed in the week, and of how many."""

    average: float | None
    count: int

    def lines(self, zone: ZoneInfo) -> Sequence[Renderable]:
        return [msg("digest.satisfaction", rating=stars(self.average), count=self.count)]

    def chart(self, scope: Scope, locale: str, zone: ZoneInfo) -> Chart | None:
        return None


async def rating_of(session: AsyncSession, scope: Scope, week: Week) -> Rating:
    average, count = (
        await session.execute(
            select(func.avg(Ticket.rating), func.count(Ticket.rating)).where(
                ticket_scope(scope), within(Ticket.closed_at, week.start, week.end), Ticket.rating.is_not(None)
            )
        )
    ).one()
    return Rating(float(average) if average is not None else None, int(count or 0))


@dataclass
class WeekFigures:
    start: datetime
    opened: int
    resolved: int
    rating: float | None


@dataclass(frozen=True)
class Trend:
    """Opened, resolved and the average rating of the last weeks, oldest first; the last is the
    digest's week. It draws the digest's chart."""

    weeks: list[WeekFigures]

    def lines(self, zone: ZoneInfo) -> Sequence[Renderable]:
        weeks = tuple(
            msg(
                "digest.trend_line",
                week=w.start.astimezone(zone).strftime(DAY),
                opened=w.opened,
                resolved=w.resolved,
                rating=stars(w.rating),
            )
            for w in self.weeks
        )
        return [msg("digest.trend", lines=Lines(weeks))]

    def chart(self, scope: Scope, locale: str, zone: ZoneInfo) -> Chart | None:
        """This week against the ones before: tickets opened and resolved, with labels in `locale`."""
        return Chart(
            title=msg("digest.chart.title", scope=scope.name).render(locale),
            categories=[w.start.astimezone(zone).strftime(DAY) for w in self.weeks],
            series=[
                Series(msg("digest.chart.opened").render(locale), [w.opened for w in self.weeks]),
                Series(msg("digest.chart.resolved").render(locale), [w.resolved for w in self.weeks]),
            ],
            counts=True,
            nothing=msg("chart.nothing").render(locale),
        )


async def trend(session: AsyncSession, scope: Scope, week: Week, weeks: int = TREND_WEEKS) -> Trend:
    """Each of the last `weeks` weeks, in one query each."""
    mine = ticket_scope(scope)
    starts = [week.end - timedelta(days=7 * n) for n in range(weeks, 0, -1)]

    def counted(column: Any, start: datetime) -> Any:
        return func.sum(case((within(column, start, start + timedelta(days=7)), 1), else_=0))

    def rated(start: datetime) -> Any:
        return func.avg(case((within(Ticket.closed_at, start, start + timedelta(days=7)), Ticket.rating), else_=None))

    oldest = starts[0]
    opened = (
        await session.execute(
            select(*(counted(Ticket.created_at, s) for s in starts)).where(mine, Ticket.created_at >= oldest)
        )
    ).one()
    resolved = (
        await session.execute(
            select(*(counted(Ticket.resolved_at, s) for s in starts)).where(mine, Ticket.resolved_at >= oldest)
        )
    ).one()
    ratings = (
        await session.execute(
            select(*(rated(s) for s in starts)).where(mine, Ticket.closed_at >= oldest, Ticket.rating.is_not(None))
        )
    ).one()
    return Trend(
        [
            WeekFigures(s, int(o or 0), int(r or 0), float(a) if a is not None else None)
            for s, o, r, a in zip(starts, opened, resolved, ratings, strict=True)
        ]
    )


SECTIONS = (Section(10, week_of_repairs), Section(30, rating_of), Section(50, trend))


# --- the digest's button jb:remind: nudge the technicians of overdue tickets ------------------------


async def offer_remind(
    session: AsyncSession, person: Person, digest: Digest, now: datetime, zone: ZoneInfo
) -> Renderable | None:
    repairs = digest.find(Repairs)
    if repairs is None or not repairs.overdue_total:
        return None
    return msg("digest.button.remind", count=repairs.overdue_total)


async def remind_overdue(ctx: StepContext) -> Action:
    """A manager (their departments) or an admin (everyone) nudges the technicians of overdue tickets
    now. Who may, and whose tickets, is decided here from the presser's roles, never from the button."""
    person = ctx.person
    scopes: list[Scope] = []
    if any(person.has_role(role) for role in ORG_ROLES):
        scopes = [Scope()]
    else:
        codes = managed_departments(person)
        if codes:
            found = await ctx.session.scalars(select(Department).where(Department.code.in_(codes)))
            scopes = [Scope(d) for d in found.all()]
    if not scopes:
        refusals.refuse(ctx, action="digest.remind", record=None, reason=msg("digest.error.not_allowed"))
    late = await ctx.session.scalars(
        select(Ticket)
        .where(or_(*(ticket_scope(s) for s in scopes)))
        .where(Ticket.status.in_(OPEN_NOT_RESOLVED), Ticket.due_at < ctx.now, Ticket.assignee_id.is_not(None))
        .order_by(Ticket.due_at, Ticket.id)
    )
    schedule = Schedule(ctx.zone)
    reminder = ReminderContext(ctx.session, schedule, ctx.rules, ctx.now)
    # Once an hour per ticket: a second press (or a second manager) in the same hour nudges nobody twice.
    hour = schedule.local(ctx.now).strftime("%Y-%m-%dT%H")
    reminded: set[int] = set()
    for ticket in late.unique().all():
        assert ticket.assignee_id is not None
        notice = overdue_notice(reminder, ticket, ticket.assignee_id)

        async def build(session: AsyncSession, notice: Notice = notice) -> Notice:
            return notice

        delivery = Delivery("reminder.overdue", str(ticket.number), ticket.assignee_id, hour, build)
        if await serve(ctx.session, delivery, ctx.now) is Served.SENT:
            reminded.add(ticket.assignee_id)
    done = msg("digest.reminded", count=len(reminded))
    return Action(say=((done, ()),), toast=done, chosen=msg("digest.button.remind_done"))


async def press_remind(ctx: StepContext) -> Action:
    try:
        return await remind_overdue(ctx)
    except Refused as refused:
        return Action(say=((refused.reason, ()),), toast=refused.reason)


REMIND = DigestButton("remind", place=20, offer=offer_remind, press=press_remind)
