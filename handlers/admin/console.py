"""The admin area's pages in the web console: statistics over any period — the areas' parts of
/stats (Area.stats: the same lines and chart the chat sends) and the areas' trend charts
(Area.console_charts: repairs by week and on time, satisfaction, supplies by department), each drawn
in the browser from the Chart the server computed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from handlers.core import console
from handlers.core.adminkit import Period
from handlers.core.area import Area
from handlers.core.charts import Chart
from handlers.core.console import ConsolePage, Viewer

STATS = "stats.view"


@dataclass(frozen=True)
class Statistics:
    period: Period
    lines: list[str]  # /stats' own words, in the viewer's language
    charts: list[Chart]


async def statistics(viewer: Viewer, areas: Sequence[Area], period: Period) -> Statistics:
    ctx = console.step_context(viewer, areas)
    parts = [await part(ctx, period) for area in areas for part in area.stats]
    lines = [line.render(viewer.locale) for part in parts for line in part.lines]
    charts = [part.chart for part in parts if part.chart is not None]
    for area in areas:
        for drawn in area.console_charts:
            charts.extend(await drawn(viewer, period))
    return Statistics(period, lines, charts)


PAGES = (ConsolePage("stats", "console.nav.stats", STATS, place=50),)
