"""The surveys' part of the web console's statistics page: the satisfaction trend over any period
(1–5 ratings from surveys and repairs, NPS), as /survey satisfaction computes it week by week — the
organisation's for those who run surveys, a manager's department's, nothing for anyone else."""

from __future__ import annotations

from handlers.core import console
from handlers.core.adminkit import Period
from handlers.core.charts import Chart, Series
from handlers.core.console import Viewer
from handlers.core.i18n import translate
from handlers.surveys.records import runs_surveys
from handlers.surveys.satisfaction import satisfaction


async def charts(viewer: Viewer, period: Period) -> list[Chart]:
    department_id: int | None = None
    if not runs_surveys(viewer.person):
        if not viewer.person.has_role("manager") or viewer.person.department_id is None:
            return []
        department_id = viewer.person.department_id
    spans = console.buckets(period, viewer.zone)
    weeks = [await satisfaction(viewer.session, start, end, department_id) for start, end in spans]
    labels = [start.astimezone(viewer.zone).strftime("%m-%d") for start, _ in spans]
    return [
        Chart(
            title=translate(viewer.locale, "console.stats.satisfaction"),
            categories=labels,
            series=[
                Series(
                    translate(viewer.locale, "survey.chart.average"),
                    [round(w.average, 2) if w.average is not None else None for w in weeks],
                )
            ],
            kind="line",
            y_max=5,
        ),
        Chart(
            title=translate(viewer.locale, "console.stats.nps"),
            categories=labels,
            series=[Series("NPS", [w.nps for w in weeks])],
            kind="line",
        ),
    ]
