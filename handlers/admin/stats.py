"""/stats [week|month|YYYY-MM|FROM TO]: the period's figures and a chart of repairs by category.

Repairs opened and resolved, the share resolved on time, the average rating, what is open and
overdue now; requisitions submitted, handed out and rejected. Days are the organisation's.
"""

from __future__ import annotations

from functools import partial

from sqlalchemy import func, select

from handlers.core import authz, files
from handlers.core.adminkit import BadPeriod, parse_period
from handlers.core.charts import Chart, Series, render
from handlers.core.flow import Action, StepContext, said
from handlers.core.i18n import msg, translate
from handlers.core.refusals import Refused
from handlers.core.specialties import SPECIALTIES
from handlers.repairs.tickets import WORKING
from storage.models import Requisition, Ticket


async def stats_command(ctx: StepContext, args: str) -> Action:
    try:
        authz.require(ctx, "stats.view")
    except Refused as refused:
        return said(refused.reason)
    try:
        period = parse_period(args.split(), ctx.now.astimezone(ctx.zone).date(), default="week")
    except BadPeriod:
        return said(msg("stats.usage"))
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
            select(Ticket.category, Ticket.resolved_at, Ticket.due_at, Ticket.rating).where(
                Ticket.resolved_at >= start, Ticket.resolved_at < end
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
    requisitions = dict(
        (
            await session.execute(
                select(Requisition.status, func.count())
                .where(Requisition.created_at >= start, Requisition.created_at < end)
                .group_by(Requisition.status)
            )
        ).all()
    )
    text = msg(
        "stats.summary",
        period=period.label,
        opened=sum(opened.values()),
        resolved=len(resolved_rows),
        on_time=f"{100 * on_time / len(resolved_rows):.0f}%" if resolved_rows else "—",
        rating=f"{sum(ratings) / len(ratings):.1f}" if ratings else "—",
        open=open_now or 0,
        overdue=overdue_now or 0,
        submitted=sum(requisitions.values()),
        handed_out=requisitions.get("handed_out", 0),
        rejected=requisitions.get("rejected", 0),
    )
    chart = Chart(
        title=translate(ctx.locale, "stats.chart.title", period=period.label),
        categories=[translate(ctx.locale, f"repair.category.{c}") for c in SPECIALTIES],
        series=[
            Series(translate(ctx.locale, "stats.chart.opened"), [opened.get(c, 0) for c in SPECIALTIES]),
            Series(translate(ctx.locale, "stats.chart.resolved"), [resolved.get(c, 0) for c in SPECIALTIES]),
        ],
    )
    picture = files.Later(f"stats-{period.compact}.png", files.PNG, partial(render, chart))
    return Action(say=((text, ()),), later=(picture,))
