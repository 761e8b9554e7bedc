"""When rounds slip, and what the week's rounds were: the day's rounds planned each morning (a job);
a round not started by its due time reminds its inspector once (in working hours: the reminders run
defers the rest); one still not done INSPECTION_ESCALATE_AFTER_HOURS after its due time goes to
their manager once; the weekly digest's section (place 60): due, done, late, completion rate, faults
found, tickets opened."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, String, and_, case, cast, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core import authz
from handlers.core.charts import Chart
from handlers.core.digest import Scope, Section, Week, percent, within
from handlers.core.i18n import Label, Renderable, msg
from handlers.core.jobs import Job, Running, local_format, run_once
from handlers.core.outbox import Notice
from handlers.core.people import overseers_of, people_with_role
from handlers.core.reminders import Context
from handlers.core.sends import Delivery, fixed
from handlers.inspections import rounds
from storage.models import InspectionResult, InspectionRound, InspectionRoute, Person, Photo, Send

FORGOTTEN_AFTER = timedelta(days=7)


async def late_rounds(ctx: Context, older_than: datetime) -> list[tuple[InspectionRound, InspectionRoute]]:
    await rounds.plan(ctx.session, ctx.schedule, ctx.schedule.local(ctx.now).date())
    found = await ctx.session.execute(
        select(InspectionRound, InspectionRoute)
        .join(InspectionRoute, InspectionRoute.id == InspectionRound.route_id)
        # A round missed more than a week ago is history (the digest counted it), not news.
        .where(
            InspectionRound.status != "done",
            InspectionRound.due_at <= older_than,
            InspectionRound.due_at > ctx.now - FORGOTTEN_AFTER,
        )
        .order_by(InspectionRound.due_at, InspectionRound.id)
    )
    return list(found.all())


def name_of(route: InspectionRoute) -> Label:
    return Label(route.name_zh, route.name_en)


async def inspectors_of(session: AsyncSession, round_: InspectionRound) -> list[int]:
    """Who walks it: its inspector once started, its person, or everyone of its specialty."""
    if round_.inspector_id is not None:
        return [round_.inspector_id]
    if round_.person_id is not None:
        return [round_.person_id]
    return [person.id for person in await people_with_role(session, "technician", round_.specialty)]


async def not_started(ctx: Context) -> list[Delivery]:
    deliveries = []
    for round_, route in await late_rounds(ctx, ctx.now):
        if round_.status != "due":
            continue
        text = msg("inspect.remind", route=name_of(route), due=ctx.when(round_.due_at))
        button = ((msg("inspect.button.start", route=name_of(route)), f"ir:start:{round_.id}"),)
        for person_id in await inspectors_of(ctx.session, round_):
            notice = Notice(person_id, text, (button,))
            deliveries.append(Delivery("inspect.remind", f"round:{round_.id}", person_id, "once", fixed(notice)))
    return deliveries


async def managers_of(session: AsyncSession, round_: InspectionRound) -> list[Person]:
    """The inspector's (or assigned person's) department managers; else the logistics admins."""
    walker_id = round_.inspector_id or round_.person_id
    return await overseers_of(session, await session.get(Person, walker_id) if walker_id is not None else None)


async def escalate(ctx: Context) -> list[Delivery]:
    deliveries = []
    for round_, route in await late_rounds(ctx, ctx.now - ctx.schedule.inspection_escalate_after):
        walker_id = round_.inspector_id or round_.person_id
        walker = await ctx.session.get(Person, walker_id) if walker_id is not None else None
        who: Renderable = (
            Label(walker.display_name, walker.display_name) if walker else msg(f"repair.category.{round_.specialty}")
        )
        hours = max(1, int((ctx.now - round_.due_at).total_seconds() // 3600))
        state = msg("inspect.state.walking_short" if round_.status == "in_progress" else "inspect.state.due")
        text = msg(
            "inspect.escalate", route=name_of(route), due=ctx.when(round_.due_at), hours=hours, who=who, state=state
        )
        for manager in await managers_of(ctx.session, round_):
            if manager.id != walker_id:
                deliveries.append(
                    Delivery(
                        "inspect.escalate", f"round:{round_.id}", manager.id, "once", fixed(Notice(manager.id, text))
                    )
                )
    return deliveries


def escalations_still_needed() -> ColumnElement[bool]:
    """A round's reminder and escalation go once each ("once"): kept while the round is not done."""
    open_rounds = select(literal("round:").concat(cast(InspectionRound.id, String))).where(
        InspectionRound.status != "done"
    )
    return and_(Send.kind.in_(("inspect.remind", "inspect.escalate")), Send.subject.in_(open_rounds))


RULES = (not_started, escalate)


# --- the morning's plan ------------------------------------------------------------------------------

PLAN_JOB = "inspections.plan"


async def _plan(jobs: Running, scheduled: datetime, now: datetime) -> object:
    day = jobs.schedule.local(scheduled).date()

    async def work(session: AsyncSession) -> str:
        return f"planned {await rounds.plan(session, jobs.schedule, day)} rounds"

    return await run_once(jobs.db, PLAN_JOB, day.isoformat(), now, work)


PLAN = Job(
    PLAN_JOB,
    "the day's inspection rounds from their schedules",
    lambda s: {"hour": 0, "minute": 10},
    local_format("%Y-%m-%d"),
    _plan,
    claims_itself=True,
    rank=15,
)


# --- the weekly digest --------------------------------------------------------------------------------


@dataclass
class Rounds:
    due: int = 0
    done: int = 0
    late: int = 0
    faults: int = 0
    tickets: int = 0

    def lines(self, zone: ZoneInfo) -> Sequence[Renderable]:
        if not self.due and not self.done:
            return []
        return [
            msg(
                "digest.inspections",
                due=self.due,
                done=self.done,
                late=self.late,
                rate=percent(self.done, self.due),
                faults=self.faults,
                tickets=self.tickets,
            )
        ]

    def chart(self, scope: Scope, locale: str, zone: ZoneInfo) -> Chart | None:
        return None


def round_scope(scope: Scope) -> ColumnElement[bool]:
    """A department's rounds: assigned to or walked by its people; the organisation's: all."""
    if scope.department is None:
        return InspectionRound.id.is_not(None)
    members = select(Person.id).where(Person.department_id == scope.department.id)
    return or_(InspectionRound.person_id.in_(members), InspectionRound.inspector_id.in_(members))


async def week_of_rounds(session: AsyncSession, scope: Scope, week: Week) -> Rounds:
    """Rounds due in the week (by due time): how many, done, done or still undone after their due time;
    faults found and tickets opened on them. Counted by the database, nothing loaded row by row."""
    mine = and_(round_scope(scope), within(InspectionRound.due_at, week.start, week.end))
    done = InspectionRound.status == "done"
    late = or_(
        and_(done, InspectionRound.finished_at > InspectionRound.due_at), and_(~done, InspectionRound.due_at < week.now)
    )
    row = (
        await session.execute(
            select(
                func.count(InspectionRound.id),
                func.sum(case((done, 1), else_=0)),
                func.sum(case((late, 1), else_=0)),
            ).where(mine)
        )
    ).one()
    found = (
        await session.execute(
            select(
                func.sum(case((InspectionResult.outcome == "fail", 1), else_=0)),
                func.sum(case((InspectionResult.opened_ticket.is_(True), 1), else_=0)),
            )
            .join(InspectionRound, InspectionRound.id == InspectionResult.round_id)
            .where(mine)
        )
    ).one()
    return Rounds(int(row[0] or 0), int(row[1] or 0), int(row[2] or 0), int(found[0] or 0), int(found[1] or 0))


SECTION = Section(60, week_of_rounds)


# --- the photos a round keeps ------------------------------------------------------------------------


def photos_kept() -> ColumnElement[bool]:
    """A photo item's photo belongs to its round's record, though no ticket has it."""
    return Photo.id.in_(select(InspectionResult.photo_id).where(InspectionResult.photo_id.is_not(None)))


async def may_see_photo(session: AsyncSession, person: Person, photo: Photo) -> bool:
    """Besides its inspector: those who may see the routes (logistics, managers, technicians)."""
    kept = await session.scalar(select(InspectionResult.id).where(InspectionResult.photo_id == photo.id).limit(1))
    return kept is not None and authz.allowed(person, "inspect.view")
