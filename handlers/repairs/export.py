"""What /export tickets writes (handlers/admin/exports.py lists the areas' exports): every ticket
created in the period, statuses and categories in the asker's language, times in the organisation's."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core.adminkit import MAX_ROWS, Period, when
from handlers.core.area import Export
from handlers.core.i18n import translate
from handlers.core.sheets import Cell
from handlers.repairs.tickets import place
from storage.models import Ticket


async def ticket_rows(session: AsyncSession, period: Period | None, zone: ZoneInfo, locale: str) -> list[list[Cell]]:
    query = select(Ticket).order_by(Ticket.id).limit(MAX_ROWS)
    if period is not None:
        start, end = period.bounds(zone)
        query = query.where(Ticket.created_at >= start, Ticket.created_at < end)
    return [
        [
            t.number,
            translate(locale, f"repair.status.{t.status}"),
            translate(locale, f"repair.category.{t.category}"),
            translate(locale, f"repair.urgency.{t.urgency}"),
            place(t).render(locale),
            t.description,
            t.reporter.display_name,
            t.assignee.display_name if t.assignee else "",
            when(t.created_at, zone),
            when(t.due_at, zone),
            when(t.resolved_at, zone),
            when(t.closed_at, zone),
            t.rating,
            t.reopen_count,
            t.channel,
        ]
        for t in (await session.scalars(query)).unique().all()
    ]


TICKETS = Export(
    (
        "number",
        "status",
        "category",
        "urgency",
        "location",
        "description",
        "reporter",
        "assignee",
        "created",
        "due",
        "resolved",
        "closed",
        "rating",
        "reopened",
        "channel",
    ),
    ticket_rows,
)
