"""Reminders that get things moving: who is nudged about what, and how often.

Each rule reads what is waiting now and returns deliveries keyed (kind, subject, person, period);
the send log (handlers/sends.py) makes each reach its person once per period. Nothing goes out in
quiet hours or on days off: the run is skipped and the next allowed run finds the same things still
waiting, so a reminder is deferred, never dropped.

  overdue ticket          → its technician, once per working day per ticket
  still overdue past the grace (ESCALATE_AFTER_HOURS) → the technician's department manager (or the
                            logistics admins when there is none, or nobody is assigned), once per ticket
  requisitions waiting since before today → each approver, one grouped message per working day
  resolved, not confirmed → the reporter, one nudge before the auto-close rule closes it
  survey invitation not answered → the invitee, one nudge in the survey's last day (anonymous
                            surveys: every invitee, so the nudges say nothing of who answered)

A nudge due "in the last day" before a deadline that falls after a weekend, a holiday or a night
comes in the last working hours before it instead (Schedule.nudge_from).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import requisitions as req
from handlers.i18n import Label, Lines, msg
from handlers.outbox import Notice
from handlers.rules import RepairRules
from handlers.schedule import LOOK_BACK_DAYS, Schedule
from handlers.sends import Delivery, Tally, deliver_all, fixed
from handlers.tickets import buttons_for, overdue, people_with_role, place
from storage.db import Database
from storage.models import Person, Requisition, Survey, SurveyInvitation, SurveyResponse, Ticket

# The reporter's nudge comes this long before the ticket would close itself (at most half the window).
NUDGE_BEFORE_AUTO_CLOSE = timedelta(hours=24)
# An invitee who has not answered hears this long before the survey closes (at most half its time).
NUDGE_BEFORE_SURVEY_CLOSES = timedelta(hours=24)
# Brought forward before a weekend, a nudge still never comes sooner than this (or half the time,
# if shorter) after the person was told: right after the invitation or the "repaired" notice.
SETTLE = timedelta(hours=12)
QUEUE_BUTTON = "jb:queue"


@dataclass(frozen=True)
class Context:
    session: AsyncSession
    schedule: Schedule
    rules: RepairRules
    now: datetime

    @property
    def today(self) -> str:
        return self.schedule.day_key(self.now)

    def when(self, at: datetime) -> str:
        return self.schedule.local(at).strftime("%m-%d %H:%M")


Rule = Callable[[Context], Awaitable[list[Delivery]]]


def hours_late(ticket: Ticket, now: datetime) -> int:
    assert ticket.due_at is not None
    return max(1, int((now - ticket.due_at).total_seconds() // 3600))


def overdue_notice(ctx: Context, ticket: Ticket, person_id: int) -> Notice:
    text = msg(
        "reminder.overdue",
        number=ticket.number,
        category=msg(f"repair.category.{ticket.category}"),
        location=place(ticket),
        due=ctx.when(ticket.due_at) if ticket.due_at else "—",
        hours=hours_late(ticket, ctx.now),
    )
    return Notice(person_id, text, buttons_for(ticket, "assignee"))


async def overdue_to_technicians(ctx: Context) -> list[Delivery]:
    return [
        Delivery(
            "reminder.overdue", str(t.number), t.assignee_id, ctx.today, fixed(overdue_notice(ctx, t, t.assignee_id))
        )
        for t in await overdue(ctx.session, ctx.now)
        if t.assignee_id is not None
    ]


async def escalation_targets(session: AsyncSession, ticket: Ticket) -> list[Person]:
    """The assignee's department manager; the logistics admins when there is no such manager."""
    if ticket.assignee is not None and ticket.assignee.department is not None:
        managers = await people_with_role(session, "manager", ticket.assignee.department.code)
        if managers:
            return managers
    return await people_with_role(session, "logistics_admin")


async def escalate_to_managers(ctx: Context) -> list[Delivery]:
    deliveries = []
    for ticket in await overdue(ctx.session, ctx.now, ctx.schedule.escalate_after):
        text = msg(
            "reminder.escalate",
            number=ticket.number,
            category=msg(f"repair.category.{ticket.category}"),
            location=place(ticket),
            technician=ticket.assignee.display_name if ticket.assignee else "—",
            hours=hours_late(ticket, ctx.now),
        )
        for person in await escalation_targets(ctx.session, ticket):
            if person.id != ticket.assignee_id:
                notice = Notice(person.id, text)
                deliveries.append(Delivery("reminder.escalate", str(ticket.number), person.id, "once", fixed(notice)))
    return deliveries


async def approvals_waiting(ctx: Context) -> list[Delivery]:
    """Each approver hears once a working day about what waited for them since before today."""
    day_start = datetime.combine(ctx.schedule.local(ctx.now).date(), time(0), tzinfo=ctx.schedule.zone)
    pending = await ctx.session.scalars(
        select(Requisition)
        .where(Requisition.status.in_(req.PENDING), Requisition.created_at < day_start)
        .order_by(Requisition.id)
    )
    today = ctx.schedule.local(ctx.now).date()
    second = {p.id: p for role in req.SECOND_STEP for p in await people_with_role(ctx.session, role)}
    waiting: dict[int, list[Requisition]] = {}
    for requisition in pending.unique().all():
        if requisition.status == "pending_manager":
            approvers = await req.first_step_approvers(ctx.session, requisition, today)
        else:
            approvers = [p for p in second.values() if p.id != requisition.requester_id]
        for approver in approvers:
            waiting.setdefault(approver.id, []).append(requisition)
    deliveries = []
    for person_id, found in waiting.items():
        lines = Lines(tuple(req.list_line(r, ctx.schedule.zone) for r in found[:10]))
        text = msg("reminder.approvals", count=len(found), lines=lines)
        button = ((msg("reminder.button.queue", count=len(found)), QUEUE_BUTTON),)
        notice = Notice(person_id, text, (button,))
        deliveries.append(Delivery("reminder.approvals", "queue", person_id, ctx.today, fixed(notice)))
    return deliveries


async def unconfirmed_to_reporters(ctx: Context) -> list[Delivery]:
    window = ctx.rules.auto_close_after
    lead = min(NUDGE_BEFORE_AUTO_CLOSE, window / 2)
    found = await ctx.session.scalars(
        select(Ticket)
        .where(Ticket.status == "resolved", Ticket.resolved_at <= ctx.now - min(window / 2, SETTLE))
        .order_by(Ticket.id)
    )
    deliveries = []
    for ticket in found.unique().all():
        assert ticket.resolved_at is not None
        if ctx.now < ctx.schedule.nudge_from(ticket.resolved_at + window, lead):
            continue
        text = msg(
            "reminder.confirm",
            number=ticket.number,
            technician=ticket.assignee.display_name if ticket.assignee else "—",
            closes=ctx.when(ticket.resolved_at + window),
        )
        notice = Notice(ticket.reporter_id, text, buttons_for(ticket, "reporter"))
        # Keyed by when it was resolved: resolved again after a dispute, it earns a fresh nudge.
        period = ticket.resolved_at.isoformat(timespec="seconds")
        deliveries.append(Delivery("reminder.confirm", str(ticket.number), ticket.reporter_id, period, fixed(notice)))
    return deliveries


async def surveys_closing_soon(ctx: Context) -> list[Delivery]:
    """An open survey closing within a day (or half its time, if shorter): one nudge to each invitee
    who has not answered.

    Who answered an anonymous survey must stay unknown, also from who was nudged: there everyone
    invited gets the same nudge, worded for both ("if you have not answered yet"), and the send log
    holds them all. A named survey's answers carry the person, so only those without one hear."""
    closing = await ctx.session.scalars(
        select(Survey)
        .where(Survey.status == "open", Survey.closes_at > ctx.now)
        .where(Survey.closes_at <= ctx.now + NUDGE_BEFORE_SURVEY_CLOSES + timedelta(days=LOOK_BACK_DAYS))
        .order_by(Survey.id)
    )
    deliveries = []
    for survey in closing.all():
        assert survey.closes_at is not None
        opened = survey.opens_at or survey.launched_at or survey.created_at
        half = (survey.closes_at - opened) / 2
        lead = min(NUDGE_BEFORE_SURVEY_CLOSES, half)
        settled = opened + min(half, SETTLE)
        if opened > ctx.now or ctx.now < max(settled, ctx.schedule.nudge_from(survey.closes_at, lead)):
            continue  # not open yet, just opened, or not in its last day (or last working hours) yet
        invited = await ctx.session.scalars(
            select(SurveyInvitation.person_id).where(SurveyInvitation.survey_id == survey.id)
        )
        answered: set[int | None] = set()
        if not survey.anonymous:
            found = await ctx.session.scalars(
                select(SurveyResponse.person_id).where(SurveyResponse.survey_id == survey.id)
            )
            answered = set(found.all())
        text = msg(
            "reminder.survey.anonymous" if survey.anonymous else "reminder.survey",
            title=Label(survey.title_zh, survey.title_en),
            closes=ctx.when(survey.closes_at),
        )
        button = ((msg("reminder.button.survey"), f"sv:{survey.id}:answer"),)
        for person_id in invited.all():
            if person_id not in answered:
                notice = Notice(person_id, text, (button,))
                subject = f"survey:{survey.id}"
                deliveries.append(Delivery("reminder.survey", subject, person_id, "once", fixed(notice)))
    return deliveries


# The rules, in the order their reminders go out; another area's rule is one more entry.
RULES: list[Rule] = [
    overdue_to_technicians,
    escalate_to_managers,
    approvals_waiting,
    unconfirmed_to_reporters,
    surveys_closing_soon,
]


def why_not_now(schedule: Schedule, now: datetime) -> str | None:
    """None when reminders may go out now; else why they wait (the run's outcome in `houqin jobs`)."""
    if not schedule.is_working_day(now):
        return "deferred: not a working day"
    if schedule.is_quiet(now):
        return "deferred: quiet hours"
    return None


async def due_now(db: Database, schedule: Schedule, rules: RepairRules, now: datetime) -> list[Delivery]:
    async with db.unit_of_work() as session:
        ctx = Context(session, schedule, rules, now)
        return [delivery for rule in RULES for delivery in await rule(ctx)]


async def send_reminders(db: Database, schedule: Schedule, rules: RepairRules, now: datetime) -> Tally | str:
    """One reminders run: what is due goes out (once per person per period), or the reason it waits."""
    reason = why_not_now(schedule, now)
    if reason is not None:
        return reason
    return await deliver_all(db, await due_now(db, schedule, rules, now), now)
