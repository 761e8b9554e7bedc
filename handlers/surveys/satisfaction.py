"""One satisfaction picture for any period: 1–5 ratings from surveys and from repair tickets, and
NPS from surveys; and what the weekly digest adds from this area (a digest section the surveys area
declares, Area.digest): survey satisfaction with the last weeks' NPS, and the suggestion box's week.

Kept apart from the survey commands so the digest can import it alone (`houqin digest` does not
build the whole service).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core.digest import Said, Scope, Section, Week
from handlers.core.i18n import Renderable, msg
from handlers.surveys.definitions import questions_of
from storage.models import Department, Person, Suggestion, Survey, SurveyResponse, Ticket

TREND_WEEKS = 4


def nps_of(scores: list[int]) -> int | None:
    """Net Promoter Score: % of 9–10 minus % of 0–6, from -100 to 100."""
    return net_promoters(sum(1 for s in scores if s >= 9), sum(1 for s in scores if s <= 6), len(scores))


def net_promoters(promoters: int, detractors: int, answers: int) -> int | None:
    return round(100 * (promoters - detractors) / answers) if answers else None


@dataclass(frozen=True)
class Satisfaction:
    """How satisfied people were between `start` and `end`: 1–5 ratings from surveys and from
    repair tickets (together and apart), and NPS from surveys' 0–10 questions."""

    start: datetime
    end: datetime
    department_id: int | None
    survey_ratings: int
    survey_average: float | None
    ticket_ratings: int
    ticket_average: float | None
    nps_answers: int
    nps: int | None
    promoters: int
    detractors: int

    @property
    def ratings(self) -> int:
        return self.survey_ratings + self.ticket_ratings

    @property
    def average(self) -> float | None:
        total = (self.survey_average or 0) * self.survey_ratings + (self.ticket_average or 0) * self.ticket_ratings
        return total / self.ratings if self.ratings else None


@dataclass
class Tally:
    """A count of answers and their sum, added up over questions and surveys."""

    count: int = 0
    total: int = 0

    def add(self, count: int, total: int) -> None:
        self.count += count
        self.total += total

    @property
    def average(self) -> float | None:
        return self.total / self.count if self.count else None


async def satisfaction(
    session: AsyncSession, start: datetime, end: datetime, department_id: int | None = None
) -> Satisfaction:
    """The satisfaction picture for [start, end), for the whole organisation or one department.

    Survey answers count on the day they were given (the only time kept); repair ratings count in the
    week the ticket was resolved. For a department: its people's tickets and named answers, and the
    anonymous answers of surveys launched to that department alone (anonymous answers say nothing
    else about who gave them).

    Counted in SQL, one aggregate query per survey answered in the period and one for the tickets:
    the digest asks this for four weeks, over tens of thousands of answers.
    """
    first, last = start.date(), (end - timedelta(microseconds=1)).date()
    answered = (SurveyResponse.answered_on >= first) & (SurveyResponse.answered_on <= last)
    code = None
    if department_id is not None:
        code = await session.scalar(select(Department.code).where(Department.id == department_id))
    members = select(Person.id).where(Person.department_id == department_id)
    surveys = await session.scalars(
        select(Survey).where(Survey.id.in_(select(SurveyResponse.survey_id).where(answered).distinct()))
    )
    ratings = Tally()
    nps = Tally()
    promoters = detractors = 0
    for survey in surveys.all():
        asked = [q for q in questions_of(survey.definition) if q["type"] in ("rating", "nps")]
        if not asked:
            continue
        whose = []
        if department_id is not None:
            named = SurveyResponse.person_id.in_(members)
            audience = survey.audience or {}
            targeted = audience.get("kind") == "departments" and audience.get("codes") == [code]
            whose.append(or_(named, SurveyResponse.person_id.is_(None)) if targeted else named)
        columns: list[Any] = []
        for question in asked:
            value = SurveyResponse.answers[question["id"]].as_integer()
            columns += [func.count(value), func.coalesce(func.sum(value), 0)]
            if question["type"] == "nps":
                columns += [func.count(case((value >= 9, 1))), func.count(case((value <= 6, 1)))]
        row = iter(
            (
                await session.execute(select(*columns).where(SurveyResponse.survey_id == survey.id, answered, *whose))
            ).one()
        )
        for question in asked:
            counted, total = int(next(row)), int(next(row))
            if question["type"] == "rating":
                ratings.add(counted, total)
            else:
                nps.add(counted, total)
                promoters += int(next(row))
                detractors += int(next(row))
    tickets = select(func.count(Ticket.rating), func.coalesce(func.sum(Ticket.rating), 0)).where(
        Ticket.rating.is_not(None), Ticket.resolved_at >= start, Ticket.resolved_at < end
    )
    if department_id is not None:
        tickets = tickets.where(Ticket.reporter_id.in_(members))
    stars = Tally(*(int(n) for n in (await session.execute(tickets)).one()))
    return Satisfaction(
        start=start,
        end=end,
        department_id=department_id,
        survey_ratings=ratings.count,
        survey_average=ratings.average,
        ticket_ratings=stars.count,
        ticket_average=stars.average,
        nps_answers=nps.count,
        nps=net_promoters(promoters, detractors, nps.count),
        promoters=promoters,
        detractors=detractors,
    )


async def digest_figures(session: AsyncSession, scope: Scope, digest_week: Week) -> Said:
    """The digest's lines from surveys and suggestions for its scope's week (nothing when quiet)."""
    start, end = digest_week.start, digest_week.end
    department_id = scope.department.id if scope.department is not None else None
    weeks = [
        await satisfaction(session, start - timedelta(weeks=n), end - timedelta(weeks=n), department_id)
        for n in range(TREND_WEEKS - 1, -1, -1)
    ]
    week = weeks[-1]
    parts: list[Renderable] = []
    if week.survey_ratings or week.nps_answers:
        parts.append(
            msg(
                "survey.digest.surveys",
                average=f"{week.survey_average:.1f}" if week.survey_average is not None else "—",
                count=week.survey_ratings,
                nps=str(week.nps) if week.nps is not None else "—",
                trend=" → ".join(str(w.nps) if w.nps is not None else "—" for w in weeks),
            )
        )
    if scope.department is None:
        # Suggestions have no department (an anonymous one must not get one): the organisation's only.
        new = await session.scalar(
            select(func.count())
            .select_from(Suggestion)
            .where(Suggestion.created_at >= start, Suggestion.created_at < end)
        )
        adopted = await session.scalar(
            select(func.count())
            .select_from(Suggestion)
            .where(Suggestion.status == "adopted", Suggestion.updated_at >= start, Suggestion.updated_at < end)
        )
        if new or adopted:
            parts.append(msg("survey.digest.suggestions", new=int(new or 0), adopted=int(adopted or 0)))
    return Said(parts)


DIGEST = Section(40, digest_figures)
