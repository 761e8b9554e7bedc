"""/stats [week|month|YYYY-MM|FROM TO]: the period's figures, each area's part (Area.stats: the
repairs' tickets, the supplies' requisitions) under one heading, and the chart an area offers
(the repairs by category). Days are the organisation's.
"""

from __future__ import annotations

from functools import partial

from handlers.core import authz, files
from handlers.core.adminkit import BadPeriod, parse_period
from handlers.core.charts import render
from handlers.core.flow import Action, StepContext, said
from handlers.core.i18n import Lines, msg
from handlers.core.refusals import Refused


async def stats_command(ctx: StepContext, args: str) -> Action:
    try:
        authz.require(ctx, "stats.view")
    except Refused as refused:
        return said(refused.reason)
    try:
        period = parse_period(args.split(), ctx.now.astimezone(ctx.zone).date(), default="week")
    except BadPeriod:
        return said(msg("stats.usage"))
    # One after another: the parts share the delivery's session.
    parts = [await part(ctx, period) for area in ctx.areas for part in area.stats]
    text = Lines((msg("stats.heading", period=period.label), *(line for part in parts for line in part.lines)))
    # One picture: the chart of the first area offering one (the repairs by category).
    charts = [part.chart for part in parts if part.chart is not None]
    pictures = [files.Later(f"stats-{period.compact}.png", files.PNG, partial(render, chart)) for chart in charts]
    return Action(say=((text, ()),), later=tuple(pictures[:1]))
