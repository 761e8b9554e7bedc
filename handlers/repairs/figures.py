"""The repairs' part of /stats (handlers/admin/stats.py joins the areas' parts): tickets opened and
resolved in the period, the share resolved on time, the average rating, what is open and overdue
now; and a chart of the period's repairs by category. Days are the organisation's."""

from __future__ import annotations

from sqlalchemy import func, select

from handlers.core.adminkit import Period
from handlers.core.area import StatsPart
from handlers.core.charts import Chart, Series
from handlers.core.flow import StepContext
from handlers.core.i18n import msg, translate
from handlers.core.specialties import SPECIALTIES
from handlers.repairs.tickets import WORKING
from storage.models import Ticket

DONE = ("resolved", "closed")
# The categories reports are filed under: the specialties that mend them (handlers/repairs/intake.py).
CATEGORIES = SPECIALTIES


async def repair_figures(ctx: StepContext, period: Period) -> StatsPart:
    start, end = period.bounds(ctx.zone)
    session = ctx.session
    opened = dict(
        (
            await session.execute(
                select(Ticket.category, func.count())
                .where(Ticket.created_at >= start, Ticket.created_at < end)
                .group_by(Ticket.category)
            )
        ).all()
    )
    resolved_rows = (
        await session.execute(
            # Resolved in the period and still so: a ticket reopened since is work again, not done.
            select(Ticket.category, Ticket.resolved_at, Ticket.due_at, Ticket.rating).where(
                Ticket.resolved_at >= start, Ticket.resolved_at < end, Ticket.status.in_(DONE)
            )
        )
    ).all()
    resolved: dict[str, int] = {}
    for row in resolved_rows:
        resolved[row.category] = resolved.get(row.category, 0) + 1
    on_time = sum(1 for row in resolved_rows if row.due_at is None or row.resolved_at <= row.due_at)
    ratings = [row.rating for row in resolved_rows if row.rating is not None]
    open_now = await session.scalar(
        select(func.count()).select_from(Ticket).where(Ticket.status.in_(("new", *WORKING)))
    )
    overdue_now = await session.scalar(
        select(func.count()).select_from(Ticket).where(Ticket.status.in_(("new", *WORKING)), Ticket.due_at < ctx.now)
    )
    line = msg(
        "stats.repairs",
        opened=sum(opened.values()),
        resolved=len(resolved_rows),
        on_time=f"{100 * on_time / len(resolved_rows):.0f}%" if resolved_rows else "—",
        rating=f"{sum(ratings) / len(ratings):.1f}" if ratings else "—",
        open=open_now or 0,
        overdue=overdue_now or 0,
    )
    chart = Chart(
        title=translate(ctx.locale, "stats.chart.title", period=period.label),
        categories=[translate(ctx.locale, f"repair.category.{c}") for c in CATEGORIES],
        series=[
            Series(translate(ctx.locale, "stats.chart.opened"), [opened.get(c, 0) for c in CATEGORIES]),
            Series(translate(ctx.locale, "stats.chart.resolved"), [resolved.get(c, 0) for c in CATEGORIES]),
        ],
        counts=True,
        nothing=translate(ctx.locale, "chart.nothing"),
    )
    return StatsPart((line,), chart)
