"""Scorecards (考核与奖惩): a month's work per technician and per department, with points.

For the tickets a technician resolved in the month (local month, organisation time zone): volume,
SLA hit rate (resolved by the due time), average rating, reopen rate; for the requisitions they
handed out: the average turnaround from submission to hand-out. Points come from rules an admin
can change (/settings scorecard_points resolved=1,rated_5=2,...; defaults in org_settings): each
resolved ticket, each rated 5, each rated 1–2, each SLA breach, each reopened.

A department's card adds up its people's. On the first working day of a month the job sends last
month's cards to each department's managers (jobs/scheduler.py, once per month through run_once).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core import authz, ids, org_settings
from handlers.core.adminkit import BadPeriod, Period, month_period, paged, parse_month
from handlers.core.flow import Action, StepContext, said
from handlers.core.i18n import Label, Lines, Msg, Renderable, msg
from handlers.core.outbox import Notice, notify
from handlers.core.people import find_person, managed_departments
from handlers.core.refusals import Refused
from storage.models import Department, InspectionRound, Person, PersonRole, Requisition, Ticket

WORKERS = authz.WORKERS
CARDS_PER_PAGE = 2


@dataclass
class Score:
    """The month's figures for one person or a department."""

    volume: int = 0
    on_time: int = 0
    ratings: list[int] = field(default_factory=list)
    reopened: int = 0
    handed_out: int = 0
    turnaround_hours: float = 0.0
    # Inspection rounds (巡检) they finished in the month, and of those by the round's due time.
    rounds: int = 0
    rounds_on_time: int = 0
    points: int = 0

    def add(self, other: Score) -> None:
        self.volume += other.volume
        self.on_time += other.on_time
        self.ratings += other.ratings
        self.reopened += other.reopened
        self.turnaround_hours += other.turnaround_hours
        self.handed_out += other.handed_out
        self.rounds += other.rounds
        self.rounds_on_time += other.rounds_on_time
        self.points += other.points

    @property
    def breaches(self) -> int:
        return self.volume - self.on_time

    def figures(self) -> dict[str, object]:
        def rate(part: int) -> str:
            return f"{100 * part / self.volume:.0f}%" if self.volume else "—"

        return {
            "volume": self.volume,
            "sla": rate(self.on_time),
            "rating": f"{sum(self.ratings) / len(self.ratings):.1f}" if self.ratings else "—",
            "reopen": rate(self.reopened),
            "turnaround": f"{self.turnaround_hours / self.handed_out:.1f}" if self.handed_out else "—",
            "handed_out": self.handed_out,
            "points": f"{self.points:+d}",
            # Said only of those who walk rounds: other cards read as they always did.
            "rounds": msg("scorecard.rounds", done=self.rounds, on_time=self.rounds_on_time) if self.rounds else "",
            "rounds_line": msg("scorecard.rounds_line", done=self.rounds, on_time=self.rounds_on_time)
            if self.rounds
            else "",
        }


async def score(session: AsyncSession, person_ids: Sequence[int], period: Period, zone: ZoneInfo) -> dict[int, Score]:
    """Each person's Score for the period (people with nothing to show get an empty one)."""
    start, end = period.bounds(zone)
    points = await org_settings.scorecard_points(session)
    scores = {person_id: Score() for person_id in person_ids}
    # Only the columns a score needs: whole tickets and requisitions would bring their people, places,
    # photos and histories along (a department's month of them: half a second, mostly building objects).
    tickets = await session.execute(
        select(Ticket.assignee_id, Ticket.resolved_at, Ticket.due_at, Ticket.rating, Ticket.reopen_count).where(
            Ticket.assignee_id.in_(person_ids), Ticket.resolved_at >= start, Ticket.resolved_at < end
        )
    )
    for ticket in tickets.all():
        assert ticket.assignee_id is not None and ticket.resolved_at is not None
        mine = scores[ticket.assignee_id]
        mine.volume += 1
        on_time = ticket.due_at is None or ticket.resolved_at <= ticket.due_at
        mine.on_time += on_time
        mine.points += points["resolved"] + (0 if on_time else points["sla_breach"])
        if ticket.rating is not None:
            mine.ratings.append(ticket.rating)
            if ticket.rating == 5:
                mine.points += points["rated_5"]
            elif ticket.rating <= 2:
                mine.points += points["low_rating"]
        if ticket.reopen_count:
            mine.reopened += 1
            mine.points += points["reopened"]
    handed = await session.execute(
        select(Requisition.handler_id, Requisition.closed_at, Requisition.created_at).where(
            Requisition.handler_id.in_(person_ids),
            Requisition.status == "handed_out",
            Requisition.closed_at >= start,
            Requisition.closed_at < end,
        )
    )
    for requisition in handed.all():
        assert requisition.handler_id is not None and requisition.closed_at is not None
        mine = scores[requisition.handler_id]
        mine.handed_out += 1
        mine.turnaround_hours += (requisition.closed_at - requisition.created_at).total_seconds() / 3600
    walked = await session.execute(
        select(InspectionRound.inspector_id, InspectionRound.finished_at, InspectionRound.due_at).where(
            InspectionRound.inspector_id.in_(person_ids),
            InspectionRound.status == "done",
            InspectionRound.finished_at >= start,
            InspectionRound.finished_at < end,
        )
    )
    for inspector_id, finished_at, due_at in walked.all():
        assert inspector_id is not None and finished_at is not None
        mine = scores[inspector_id]
        mine.rounds += 1
        mine.rounds_on_time += finished_at <= due_at
    return scores


async def workers_of(session: AsyncSession, department: Department) -> list[Person]:
    query = (
        select(Person)
        .join(PersonRole, PersonRole.person_id == Person.id)
        .where(Person.department_id == department.id, PersonRole.role.in_(WORKERS))
        .order_by(Person.id)
    )
    return list((await session.scalars(query)).unique().all())


async def person_card(session: AsyncSession, person: Person, period: Period, zone: ZoneInfo) -> Msg:
    mine = (await score(session, [person.id], period, zone))[person.id]
    return msg("scorecard.person", name=person.display_name, month=period.label, **mine.figures())


async def department_card(session: AsyncSession, department: Department, period: Period, zone: ZoneInfo) -> Msg:
    people = await workers_of(session, department)
    scores = await score(session, [p.id for p in people], period, zone)
    total = Score()
    lines: list[Renderable] = []
    for person in sorted(people, key=lambda p: (-scores[p.id].points, p.id)):
        total.add(scores[person.id])
        lines.append(msg("scorecard.line", name=person.display_name, **scores[person.id].figures()))
    return msg(
        "scorecard.department",
        name=Label(department.name_zh, department.name_en),
        month=period.label,
        people=Lines(tuple(lines)) if lines else msg("scorecard.nobody"),
        **total.figures(),
    )


def previous_month(today: date) -> Period:
    return month_period(today.replace(day=1) - timedelta(days=1))


async def scorecard_command(ctx: StepContext, args: str) -> Action:
    """/scorecard [person|department] [YYYY-MM]: this month so far unless a month is named."""
    words = args.split()
    today = ctx.now.astimezone(ctx.zone).date()
    period = month_period(today)
    if words and (month := parse_month(words[-1])) is not None:
        period, words = month, words[:-1]
    try:
        if len(words) > 1:
            raise BadPeriod(" ".join(words))
        subject = words[0] if words else ""
        department = (
            await ctx.session.scalar(select(Department).where(Department.code == subject.lower())) if subject else None
        )
        if department is not None:
            authz.require(ctx, "scorecard.view", f"department:{department.code}", department=department.code)
            return said(await department_card(ctx.session, department, period, ctx.zone))
        if subject:
            person = await find_person(ctx.session, subject)
            if person is None:
                return said(msg("scorecard.usage"))
            code = person.department.code if person.department else None
            authz.require(ctx, "scorecard.view", f"person:{person.id}", department=code, own=person.id == ctx.person.id)
            return said(await person_card(ctx.session, person, period, ctx.zone))
        return await default_card(ctx, period)
    except Refused as refused:
        return said(refused.reason)
    except BadPeriod:
        return said(msg("scorecard.usage"))


async def default_card(ctx: StepContext, period: Period) -> Action:
    """No subject: every department for those who oversee all, the own department for a manager,
    one's own card otherwise (which the table refuses to those who have none)."""
    if authz.allowed(ctx.person, "scorecard.view"):
        return await all_departments(ctx, period, 0)
    managed = managed_departments(ctx.person)
    if managed:
        found = await departments(ctx.session, managed)
        return said(Lines(tuple([await department_card(ctx.session, d, period, ctx.zone) for d in found])))
    own = any(role.role in WORKERS for role in ctx.person.roles)
    authz.require(ctx, "scorecard.view", f"person:{ctx.person.id}", own=own)
    return said(await person_card(ctx.session, ctx.person, period, ctx.zone))


async def all_departments(ctx: StepContext, period: Period, page: int) -> Action:
    """Every department's card, a few to a page."""
    cards = [await department_card(ctx.session, d, period, ctx.zone) for d in await departments(ctx.session)]
    title = msg("scorecard.title", month=period.label)
    text, rows = paged(title, cards, page, lambda target: f"sc:{target}:{period.first:%Y-%m}", size=CARDS_PER_PAGE)
    return said(text, rows)


async def on_button(ctx: StepContext, value: str) -> Action:
    """sc:<page>:<YYYY-MM>: another page of every department's cards, checked again."""
    typed, _, month = value.partition(":")
    period, page = parse_month(month), ids.whole_number(typed, 9999)
    if page is None or period is None:
        return said(msg("dialog.error.forged_button"))
    try:
        authz.require(ctx, "scorecard.view")
    except Refused as refused:
        return Action(say=((refused.reason, ()),), toast=refused.reason)
    return await all_departments(ctx, period, page)


async def departments(session: AsyncSession, codes: Sequence[str] | None = None) -> list[Department]:
    query = select(Department).order_by(Department.code)
    if codes is not None:
        query = query.where(Department.code.in_(codes))
    return list((await session.scalars(query)).all())


# --- the monthly job ------------------------------------------------------------------------------


async def send_monthly(session: AsyncSession, now: datetime, zone: ZoneInfo) -> str:
    """Last month's department cards to each department's managers; how many were queued."""
    period = previous_month(now.astimezone(zone).date())
    sent = 0
    managers = await session.execute(select(PersonRole.person_id, PersonRole.scope).where(PersonRole.role == "manager"))
    for person_id, code in managers.all():
        department = await session.scalar(select(Department).where(Department.code == code))
        if department is None:
            continue
        card = await department_card(session, department, period, zone)
        sent += await notify(session, Notice(person_id, msg("scorecard.monthly", card=card)), now)
    return f"sent {sent} for {period.first:%Y-%m}"
