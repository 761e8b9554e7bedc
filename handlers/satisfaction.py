"""One satisfaction picture for any period: 1–5 ratings from surveys and from repair tickets, and
NPS from surveys; and what the weekly digest adds from this area (handlers/digest.py's SATISFACTION
hook): survey satisfaction with the last weeks' NPS, and the suggestion box's week.

Kept apart from the survey commands so the digest can import it alone (`houqin digest` does not
build the whole service).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.digest import SATISFACTION, Scope
from handlers.i18n import Renderable, msg
from handlers.survey_definitions import questions_of
from storage.models import Department, Person, Suggestion, Survey, SurveyResponse, Ticket

TREND_WEEKS = 4


def nps_of(scores: list[int]) -> int | None:
    """Net Promoter Score: % of 9–10 minus % of 0–6, from -100 to 100."""
    if not scores:
        return None
    promoters = sum(1 for s in scores if s >= 9)
    detractors = sum(1 for s in scores if s <= 6)
    return round(100 * (promoters - detractors) / len(scores))


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


async def satisfaction(
    session: AsyncSession, start: datetime, end: datetime, department_id: int | None = None
) -> Satisfaction:
    """The satisfaction picture for [start, end), for the whole organisation or one department.

    Survey answers count on the day they were given (the only time kept); repair ratings count in the
    week the ticket was resolved. For a department: its people's tickets and named answers, and the
    anonymous answers of surveys launched to that department alone (anonymous answers say nothing
    else about who gave them).
    """
    first, last = start.date(), (end - timedelta(microseconds=1)).date()
    query = select(SurveyResponse, Survey).join(Survey, Survey.id == SurveyResponse.survey_id)
    query = query.where(SurveyResponse.answered_on >= first, SurveyResponse.answered_on <= last)
    code = None
    if department_id is not None:
        code = await session.scalar(select(Department.code).where(Department.id == department_id))
    rated: list[int] = []
    scores: list[int] = []
    for response, survey in (await session.execute(query)).all():
        if department_id is not None and not await in_department(session, response, survey, department_id, code):
            continue
        for question in questions_of(survey.definition):
            value = response.answers.get(question["id"])
            if isinstance(value, int) and question["type"] == "rating":
                rated.append(value)
            elif isinstance(value, int) and question["type"] == "nps":
                scores.append(value)
    tickets = select(Ticket.rating).where(
        Ticket.rating.is_not(None), Ticket.resolved_at >= start, Ticket.resolved_at < end
    )
    if department_id is not None:
        tickets = tickets.join(Person, Person.id == Ticket.reporter_id).where(Person.department_id == department_id)
    stars = [int(r) for r in (await session.scalars(tickets)).all() if r is not None]
    return Satisfaction(
        start=start,
        end=end,
        department_id=department_id,
        survey_ratings=len(rated),
        survey_average=sum(rated) / len(rated) if rated else None,
        ticket_ratings=len(stars),
        ticket_average=sum(stars) / len(stars) if stars else None,
        nps_answers=len(scores),
        nps=nps_of(scores),
        promoters=sum(1 for s in scores if s >= 9),
        detractors=sum(1 for s in scores if s <= 6),
    )


async def in_department(
    session: AsyncSession, response: SurveyResponse, survey: Survey, department_id: int, code: str | None
) -> bool:
    if response.person_id is not None:
        person = await session.get(Person, response.person_id)
        return person is not None and person.department_id == department_id
    audience = survey.audience or {}
    return audience.get("kind") == "departments" and audience.get("codes") == [code]


async def digest_figures(session: AsyncSession, scope: Scope, start: datetime, end: datetime) -> Sequence[Renderable]:
    """The digest's lines from surveys and suggestions for its scope's week (nothing when quiet)."""
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
    return parts


SATISFACTION.append(digest_figures)
