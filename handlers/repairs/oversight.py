"""What waits on the people who keep repairs moving, for /my and Slack's App Home: the queue of
reports no technician has taken, and the tickets past their due time (logistics admins, admins);
and the repairs' part of their weekly digest (handlers/repairs/digest.py)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from handlers.core.area import Area
from handlers.core.flow import StepContext
from handlers.core.i18n import Lines, Renderable, msg
from handlers.repairs import digest, tickets
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


AREA = Area("oversight", mine=my_part, digest=digest.SECTIONS, digest_buttons=(digest.REMIND,))
