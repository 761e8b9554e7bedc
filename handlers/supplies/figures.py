"""The supplies' part of /stats (handlers/admin/stats.py joins the areas' parts): requisitions
submitted in the period, and of them those handed out and those rejected."""

from __future__ import annotations

from sqlalchemy import func, select

from handlers.core.adminkit import Period
from handlers.core.area import StatsPart
from handlers.core.flow import StepContext
from handlers.core.i18n import msg
from storage.models import Requisition


async def requisition_figures(ctx: StepContext, period: Period) -> StatsPart:
    start, end = period.bounds(ctx.zone)
    by_status = dict(
        (
            await ctx.session.execute(
                select(Requisition.status, func.count())
                .where(Requisition.created_at >= start, Requisition.created_at < end)
                .group_by(Requisition.status)
            )
        ).all()
    )
    line = msg(
        "stats.requisitions",
        submitted=sum(by_status.values()),
        handed_out=by_status.get("handed_out", 0),
        rejected=by_status.get("rejected", 0),
    )
    return StatsPart((line,))
