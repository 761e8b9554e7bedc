"""What waits on the people who keep repairs moving, for /my and Slack's App Home: the queue of
reports no technician has taken, and the tickets past their due time (logistics admins, admins);
and the repairs' part of their weekly digest (handlers/repairs/digest.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core.area import Area
from handlers.core.flow import StepContext
from handlers.core.i18n import Lines, Renderable, msg
from handlers.core.metrics import Reading
from handlers.repairs import console, digest, tickets
from handlers.repairs import demo as repair_demo
from handlers.repairs.intake import ticket_line
from storage.models import Ticket

# Enough to act on; /ticket shows any one of them in full.
SHOWN = 15


def oversees(ctx: StepContext) -> bool:
    return ctx.person.has_role("logistics_admin") or ctx.person.has_role("admin")


async def waiting_in_queue(ctx: StepContext) -> Sequence[Ticket]:
    """Reports waiting for someone to take them (no technician of that specialty was free)."""
    found = await ctx.session.scalars(
        select(Ticket).where(Ticket.status == "new", Ticket.assignee_id.is_(None)).order_by(Ticket.created_at)
    )
    return found.all()


async def my_part(ctx: StepContext) -> list[Renderable]:
    if not oversees(ctx):
        return []
    parts: list[Renderable] = []
    for key, found in (
        ("my.queue", await waiting_in_queue(ctx)),
        ("my.overdue", await tickets.overdue(ctx.session, ctx.now)),
    ):
        if found:
            lines = Lines(tuple(ticket_line(t, ctx.zone, ctx.now) for t in found[:SHOWN]))
            parts.append(msg(key, count=len(found), lines=lines))
    return parts


async def gauges(session: AsyncSession, now: datetime) -> list[Reading]:
    """/metrics: open tickets by status (each status, also at 0, so a graph never has a gap), and overdue."""
    counted = dict((await session.execute(select(Ticket.status, func.count()).group_by(Ticket.status))).all())
    readings = [
        Reading("houqin_tickets_open", "Open repair tickets, by status", counted.get(status, 0), {"status": status})
        for status in tickets.OPEN
    ]
    overdue = len(await tickets.overdue(session, now))
    return [*readings, Reading("houqin_tickets_overdue", "Open repair tickets past their due time", overdue)]


AREA = Area(
    "oversight",
    mine=my_part,
    digest=digest.SECTIONS,
    digest_buttons=(digest.REMIND,),
    gauges=(gauges,),
    demo=(repair_demo.write,),
    console=tuple(console.PAGES),
    console_charts=(console.charts,),
)
