"""What the surveys say: response rate, averages, NPS, distributions, free text, exports, and the
one satisfaction picture (surveys and repair ratings together) that digests show.

Who may look: admins and logistics admins every survey; a manager the surveys launched only to
departments they manage. Anonymous results never name anyone: free text comes without a name, and
exported rows carry no respondent and are ordered by their random token, not by when they came.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core import files, sheets
from handlers.core.adminkit import Joined, department_names
from handlers.core.charts import Chart, Series, render
from handlers.core.flow import Action, StepContext, said
from handlers.core.i18n import Label, Lines, Msg, Renderable, msg
from handlers.core.people import managed_departments
from handlers.surveys.definitions import SCALES, option_label, question_text, questions_of
from handlers.surveys.records import kind_of, load, local, refusal, runs_surveys, title_of

# Where the satisfaction picture lives; named here too, as the digest's callers know it.
from handlers.surveys.satisfaction import Satisfaction as Satisfaction
from handlers.surveys.satisfaction import nps_of as nps_of
from handlers.surveys.satisfaction import satisfaction as satisfaction
from storage.models import Department, Person, Survey, SurveyInvitation, SurveyResponse

MAX_TEXTS = 20
# Longer free text is cut in the chat; the export has every word.
MAX_SHOWN = 300


def scope_of(person: Person, survey: Survey) -> tuple[bool, list[str] | None]:
    """Whether this person may see the survey's results, and which departments' only (None: all).

    A manager sees a survey sent only to departments they manage whole; of a named survey sent more
    widely, the answers of their own departments' people. Anonymous answers carry no department, so
    those stay with the admins.
    """
    if runs_surveys(person):
        return True, None
    managed = managed_departments(person)
    audience = survey.audience or {}
    if audience.get("kind") == "departments" and audience.get("codes") and set(audience["codes"]) <= set(managed):
        return True, None
    if managed and not survey.anonymous:
        return True, managed
    return False, None


def may_see(person: Person, survey: Survey) -> bool:
    return scope_of(person, survey)[0]


@dataclass
class QuestionResult:
    question: dict[str, Any]
    answered: int = 0
    average: float | None = None
    nps: int | None = None
    counts: Counter[str] = field(default_factory=Counter)
    texts: list[tuple[str | None, str]] = field(default_factory=list)


@dataclass
class Results:
    survey: Survey
    invited: int
    responses: list[SurveyResponse]
    names: dict[int, Person]
    questions: list[QuestionResult]
    departments: list[str] | None = None
    # The departments' names in both languages, for saying whose answers these are.
    department_names: tuple[Label, ...] = ()

    @property
    def rate(self) -> int:
        return round(100 * len(self.responses) / self.invited) if self.invited else 0


async def compute(session: AsyncSession, survey: Survey, departments: list[str] | None = None) -> Results:
    invitations = select(SurveyInvitation.id).where(SurveyInvitation.survey_id == survey.id)
    answers = select(SurveyResponse).where(SurveyResponse.survey_id == survey.id).order_by(SurveyResponse.token)
    if departments is not None:
        theirs = select(Person.id).join(Department, Department.id == Person.department_id)
        theirs = theirs.where(Department.code.in_(departments))
        invitations = invitations.where(SurveyInvitation.person_id.in_(theirs))
        answers = answers.where(SurveyResponse.person_id.in_(theirs))
    invited = len((await session.scalars(invitations)).all())
    responses = list((await session.scalars(answers)).all())
    names: dict[int, Person] = {}
    if not survey.anonymous:
        ids = {r.person_id for r in responses if r.person_id is not None}
        names = {p.id: p for p in (await session.scalars(select(Person).where(Person.id.in_(ids)))).all()}
        responses.sort(key=lambda r: names[r.person_id].display_name if r.person_id in names else "")
    results = []
    for question in questions_of(survey.definition):
        result = QuestionResult(question)
        values = [r.answers.get(question["id"]) for r in responses]
        given = [(r, v) for r, v in zip(responses, values, strict=True) if v not in (None, "", [])]
        result.answered = len(given)
        if question["type"] in SCALES:
            scores = [int(v) for _, v in given]
            result.counts = Counter(str(s) for s in scores)
            result.average = sum(scores) / len(scores) if scores else None
            if question["type"] == "nps":
                result.nps = nps_of(scores)
        elif question["type"] == "single":
            result.counts = Counter(str(v) for _, v in given)
        elif question["type"] == "multiple":
            result.counts = Counter(str(choice) for _, v in given for choice in v)
        else:
            for response, value in given:
                who = names.get(response.person_id) if response.person_id else None
                said = str(value) if len(str(value)) <= MAX_SHOWN else str(value)[: MAX_SHOWN - 1] + "…"
                result.texts.append((who.display_name if who else None, said))
        results.append(result)
    named = await department_names(session, departments) if departments else ()
    return Results(survey, invited, responses, names, results, departments, named)


def scale_labels(question: dict[str, Any]) -> list[str]:
    low, high = SCALES[question["type"]]
    return [str(n) for n in range(low, high + 1)]


def distribution(result: QuestionResult) -> Renderable:
    question = result.question
    if question["type"] in SCALES:
        parts = "\n   " + " · ".join(f"{value}: {result.counts.get(value, 0)}" for value in scale_labels(question))
        return Label(parts, parts)
    options = [(option_label(o), result.counts.get(o["id"], 0)) for o in question.get("options", [])]
    return Label(
        "\n   " + " · ".join(f"{label.zh} {count}" for label, count in options),
        "\n   " + " · ".join(f"{label.en} {count}" for label, count in options),
    )


def question_lines(result: QuestionResult, number: int) -> Msg:
    question = result.question
    text = question_text(question)
    if question["type"] == "rating":
        average = f"{result.average:.1f}" if result.average is not None else "—"
        detail: Renderable = msg("survey.results.rating", average=average, count=result.answered)
    elif question["type"] == "nps":
        nps = str(result.nps) if result.nps is not None else "—"
        detail = msg("survey.results.nps", nps=nps, count=result.answered)
    elif question["type"] in ("single", "multiple"):
        detail = msg("survey.results.choices", count=result.answered)
    else:
        shown = tuple(
            msg("survey.results.text_named", text=text_, name=name) if name else msg("survey.results.text", text=text_)
            for name, text_ in result.texts[:MAX_TEXTS]
        )
        more = len(result.texts) - len(shown)
        detail = msg(
            "survey.results.texts",
            count=result.answered,
            lines=Lines(shown),
            more=msg("survey.results.more", count=more) if more > 0 else "",
        )
        return msg("survey.results.question", number=number, text=text, detail=detail, spread="")
    return msg("survey.results.question", number=number, text=text, detail=detail, spread=distribution(result))


def results_text(results: Results, ctx: StepContext) -> Msg:
    survey = results.survey
    return msg(
        "survey.results.head",
        id=survey.id,
        title=title_of(survey),
        kind=kind_of(survey),
        status=msg(f"survey.status.{survey.status}"),
        closes=local(survey.closes_at, ctx),
        answered=len(results.responses),
        invited=results.invited,
        rate=results.rate,
        scope=msg("survey.results.scope", names=Joined(results.department_names)) if results.departments else "",
        questions=Lines(tuple(question_lines(r, n) for n, r in enumerate(results.questions, start=1))),
    )


async def viewable(ctx: StepContext, ref: str, action: str) -> tuple[Survey, list[str] | None] | Msg:
    """The survey and the departments this reader may see of it, or the refusal to answer with."""
    survey = await load(ctx.session, ref, ctx.now)
    if survey is None or survey.status == "draft":
        if not runs_surveys(ctx.person):
            return refusal(ctx, action, f"survey:{ref[:12]}")
        return msg("survey.error.not_found", id=ref[:12])
    allowed, departments = scope_of(ctx.person, survey)
    if not allowed:
        return refusal(ctx, action, f"survey:{survey.id}")
    return survey, departments


async def results_command(ctx: StepContext, ref: str) -> Action:
    seen = await viewable(ctx, ref, "results")
    if isinstance(seen, Msg):
        return said(seen)
    results = await compute(ctx.session, *seen)
    chart = chart_of(ctx, results)
    return Action(say=((results_text(results, ctx), ()),), later=(chart,) if chart else ())


def chart_of(ctx: StepContext, results: Results) -> files.Later | None:
    """The 1–5 questions' averages side by side, in the reader's language, drawn once the reading
    transaction has committed; None without any."""
    rated = [(n, r) for n, r in enumerate(results.questions, start=1) if r.question["type"] == "rating"]
    if not rated or not results.responses:
        return None
    categories = [f"{n}. {question_text(r.question).render(ctx.locale)[:12]}" for n, r in rated]
    chart = Chart(
        title=title_of(results.survey).render(ctx.locale),
        categories=categories,
        series=[Series(msg("survey.chart.average").render(ctx.locale), [r.average for _, r in rated])],
        y_max=5,
    )
    return files.Later(f"survey-{results.survey.id}.png", files.PNG, partial(render, chart))


# --- export -------------------------------------------------------------------------------------


def table(results: Results, locale: str) -> list[list[str]]:
    """One row per response, one column per question, in the reader's language; no respondent
    columns at all for an anonymous survey."""
    survey = results.survey
    questions = questions_of(survey.definition)
    named = not survey.anonymous
    head = [msg("survey.export.person").render(locale), msg("survey.export.department").render(locale)] if named else []
    head += [msg("survey.export.day").render(locale)]
    head += [f"{q['id']}: {question_text(q).render(locale)}" for q in questions]
    rows = [head]
    for response in results.responses:
        row: list[str] = []
        if named:
            person = results.names.get(response.person_id or 0)
            department = person.department if person else None
            row += [
                person.display_name if person else "",
                (Label(department.name_zh, department.name_en).render(locale) if department else ""),
            ]
        row.append(response.answered_on.isoformat())
        for question in questions:
            row.append(cell(question, response.answers.get(question["id"]), locale))
        rows.append(row)
    return rows


def cell(question: dict[str, Any], value: Any, locale: str) -> str:
    if value in (None, "", []):
        return ""
    options = {o["id"]: option_label(o).render(locale) for o in question.get("options", [])}
    if question["type"] == "single":
        return options.get(str(value), str(value))
    if question["type"] == "multiple":
        return "; ".join(options.get(str(v), str(v)) for v in value)
    return str(value)


async def export(ctx: StepContext, survey: Survey, kind: str, departments: list[str] | None = None) -> files.Later:
    """The rows read now; the file written once their transaction has committed."""
    header, *rows = table(await compute(ctx.session, survey, departments), ctx.locale)
    if kind == "csv":
        return files.Later(f"survey-{survey.id}.csv", files.CSV, partial(sheets.to_csv, header, rows))
    name = f"survey-{survey.id}"
    return files.Later(f"{name}.xlsx", files.XLSX, partial(sheets.to_xlsx, name, header, rows))


async def export_command(ctx: StepContext, ref: str, kind: str) -> Action:
    kind = kind.lower()
    if kind not in ("csv", "xlsx"):
        return said(msg("survey.usage.admin"))
    seen = await viewable(ctx, ref, "export")
    if isinstance(seen, Msg):
        return said(seen)
    survey, departments = seen
    sheet = await export(ctx, survey, kind, departments)
    return Action(say=((msg("survey.export.ready", id=survey.id, name=sheet.name), ()),), later=(sheet,))


# --- /survey satisfaction: the same picture, week by week ------------------------------------------

WEEKS = 8


def week_starts(now: datetime, zone: ZoneInfo, weeks: int) -> list[datetime]:
    """The Mondays (local midnight) of the last `weeks` weeks, this one last."""
    today = now.astimezone(zone).date()
    monday = today - timedelta(days=today.weekday())
    return [datetime.combine(monday - timedelta(weeks=n), time(), tzinfo=zone) for n in range(weeks - 1, -1, -1)]


async def satisfaction_command(ctx: StepContext, args: str) -> Action:
    """/survey satisfaction: the last weeks' ratings (surveys and repairs) and NPS; a manager sees
    their department's, admins the organisation's."""
    department_id: int | None = None
    if not runs_surveys(ctx.person):
        if not ctx.person.has_role("manager") or ctx.person.department_id is None:
            return said(refusal(ctx, "satisfaction"))
        department_id = ctx.person.department_id
    starts = week_starts(ctx.now, ctx.zone, WEEKS)
    weeks = [await satisfaction(ctx.session, start, start + timedelta(weeks=1), department_id) for start in starts]
    if not any(week.ratings or week.nps_answers for week in weeks):
        return said(msg("survey.satisfaction.none"))
    lines = tuple(
        msg(
            "survey.satisfaction.line",
            week=week.start.strftime("%m-%d"),
            average=f"{week.average:.1f}" if week.average is not None else "—",
            ratings=week.ratings,
            tickets=week.ticket_ratings,
            surveys=week.survey_ratings,
            nps=str(week.nps) if week.nps is not None else "—",
        )
        for week in weeks
    )
    chart = Chart(
        title=msg("survey.satisfaction.title").render(ctx.locale),
        categories=[week.start.strftime("%m-%d") for week in weeks],
        series=[Series(msg("survey.chart.average").render(ctx.locale), [week.average for week in weeks])],
        kind="line",
        y_max=5,
        nothing=msg("chart.nothing").render(ctx.locale),
    )
    picture = files.Later("satisfaction.png", files.PNG, partial(render, chart))
    return Action(say=((msg("survey.satisfaction.head", lines=Lines(lines)), ()),), later=(picture,))
