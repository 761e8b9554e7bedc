"""The surveys in the web console: the list of surveys whose results the viewer may read, a survey's
results with a chart per question and its export (results.viewable / compute / export: /survey
results' own rules and figures); and the statistics page's satisfaction trend over any period (1–5
ratings from surveys and repairs, NPS) as /survey satisfaction computes it week by week — the
organisation's for those who run surveys, a manager's department's, nothing for anyone else."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from handlers.core import console, files
from handlers.core.adminkit import Period
from handlers.core.charts import Chart, Series
from handlers.core.console import ConsolePage, Viewer
from handlers.core.i18n import Label, Msg, translate
from handlers.core.refusals import Refused
from handlers.surveys import results
from handlers.surveys.definitions import SCALES, option_label, question_text
from handlers.surveys.records import runs_surveys, title_of
from handlers.surveys.satisfaction import satisfaction
from storage.models import Survey, SurveyResponse


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


# --- surveys and their results ----------------------------------------------------------------------------

# The surveys page is open to whoever opens the console: each survey is shown to whoever may read its
# results (results.scope_of: those who run surveys, a manager the ones sent to their departments or
# their people's named answers), exactly as /survey results decides.
DOOR = "admin.menu"


@dataclass(frozen=True)
class SurveyRow:
    id: int
    title: Label
    anonymous: bool
    status: str
    answered: int
    closes_at: datetime | None


async def surveys(viewer: Viewer) -> list[SurveyRow]:
    """The surveys whose results the viewer may read, newest first (launched ones; drafts for those who
    run surveys). Few: an organisation runs a handful a year."""
    found = (await viewer.session.scalars(select(Survey).order_by(Survey.id.desc()).limit(200))).all()
    counted = dict(
        (
            await viewer.session.execute(
                select(SurveyResponse.survey_id, func.count()).group_by(SurveyResponse.survey_id)
            )
        ).all()
    )
    return [
        SurveyRow(s.id, title_of(s), s.anonymous, s.status, int(counted.get(s.id, 0)), s.closes_at)
        for s in found
        if (s.status != "draft" or runs_surveys(viewer.person)) and results.may_see(viewer.person, s)
    ]


@dataclass(frozen=True)
class QuestionShown:
    number: int
    text: Label
    kind: str
    answered: int
    figure: str  # the average, or the NPS, as /survey results says it ("—" when nobody answered)
    chart: Chart | None
    texts: list[tuple[str | None, str]]


@dataclass(frozen=True)
class SurveyResults:
    survey: Survey
    title: Label
    invited: int
    answered: int
    rate: int
    departments: tuple[Label, ...]
    questions: list[QuestionShown]


async def survey_results(viewer: Viewer, ref: str) -> SurveyResults:
    """A survey's results for the viewer (results.viewable: refused and audited as /survey results
    refuses), with a chart per question: the spread of a scale, the counts of a choice."""
    ctx = console.step_context(viewer, ())
    seen = await results.viewable(ctx, ref, "results")
    if isinstance(seen, Msg):
        raise Refused(seen, audit=False)
    found = await results.compute(viewer.session, *seen)
    shown = []
    for number, result in enumerate(found.questions, start=1):
        question = result.question
        text = question_text(question)
        chart = None
        figure = "—"
        if question["type"] in SCALES:
            labels = results.scale_labels(question)
            chart = Chart(
                title=f"{number}. {text.render(viewer.locale)}",
                categories=labels,
                series=[
                    Series(
                        translate(viewer.locale, "console.survey.answers"), [result.counts.get(v, 0) for v in labels]
                    )
                ],
                counts=True,
            )
            if question["type"] == "nps":
                figure = f"NPS {result.nps}" if result.nps is not None else "—"
            else:
                figure = f"{result.average:.1f}" if result.average is not None else "—"
        elif question["type"] in ("single", "multiple"):
            options = question.get("options", [])
            chart = Chart(
                title=f"{number}. {text.render(viewer.locale)}",
                categories=[option_label(o).render(viewer.locale) for o in options],
                series=[
                    Series(
                        translate(viewer.locale, "console.survey.answers"),
                        [result.counts.get(o["id"], 0) for o in options],
                    )
                ],
                counts=True,
            )
        shown.append(
            QuestionShown(
                number, text, question["type"], result.answered, figure, chart, result.texts[: results.MAX_TEXTS]
            )
        )
    return SurveyResults(
        found.survey,
        title_of(found.survey),
        found.invited,
        len(found.responses),
        found.rate,
        found.department_names,
        shown,
    )


async def export(viewer: Viewer, ref: str, kind: str) -> files.Later:
    """The results as /survey export makes them (the reader's part only), to download."""
    ctx = console.step_context(viewer, ())
    seen = await results.viewable(ctx, ref, "export")
    if isinstance(seen, Msg):
        raise Refused(seen, audit=False)
    return await results.export(ctx, seen[0], kind, seen[1])


PAGES: Sequence[ConsolePage] = (ConsolePage("surveys", "console.nav.surveys", DOOR, place=45),)
