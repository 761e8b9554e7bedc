"""The repair area's reminders (Area.reminders; handlers/core/reminders.py runs them): an overdue ticket
to its technician, still overdue past the grace to their manager, and a resolved ticket nobody
confirmed to its reporter before it closes itself; and how long their send-log rows are kept."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core.i18n import msg
from handlers.core.outbox import Notice
from handlers.core.people import overseers_of
from handlers.core.reminders import SETTLE, Context
from handlers.core.sends import Delivery, fixed
from handlers.repairs.tickets import OPEN, buttons_for, overdue, place
from storage.models import Person, Send, Ticket

# The reporter's nudge comes this long before the ticket would close itself (at most half the window).
NUDGE_BEFORE_AUTO_CLOSE = timedelta(hours=24)


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
    return await overseers_of(session, ticket.assignee)


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


def escalations_still_needed() -> ColumnElement[bool]:
    """An escalation goes out once per ticket ("once"): its send is kept while the ticket is open,
    or the manager would hear about the same overdue ticket again (Area.keep_sends)."""
    still_open = select(Ticket.number).where(Ticket.status.in_(OPEN))
    return and_(Send.kind == "reminder.escalate", Send.subject.in_(still_open))


# In the order their reminders go out.
RULES = (overdue_to_technicians, escalate_to_managers, unconfirmed_to_reporters)
