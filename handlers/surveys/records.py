"""Surveys as records, beneath the survey commands, the builder and the results: who runs them, how a
survey is named, stored from a definition and loaded (closed on the way if its time is past), and
closing, which erases the survey's own key and drafts and, for an anonymous one, rewrites its
responses in token order (see handlers/surveys/campaigns.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core import audit, authz, ids
from handlers.core.flow import StepContext
from handlers.core.i18n import Label, Msg, msg
from handlers.core.refusals import refused
from handlers.surveys.definitions import Definition, questions_of
from storage.models import Person, Survey, SurveyDraft, SurveyResponse


def runs_surveys(person: Person) -> bool:
    return authz.allowed(person, "survey.run")


def title_of(survey: Survey) -> Label:
    return Label(survey.title_zh, survey.title_en)


def local(moment: datetime | None, ctx: StepContext) -> str:
    return moment.astimezone(ctx.zone).strftime("%Y-%m-%d %H:%M") if moment else "—"


def kind_of(survey: Survey) -> Msg:
    return msg("survey.kind.anonymous" if survey.anonymous else "survey.kind.named")


async def store_definition(
    session: AsyncSession, definition: Definition, actor_id: int | None, now: datetime, channel: str = "cli"
) -> Survey:
    survey = Survey(
        title_zh=definition.title.zh,
        title_en=definition.title.en,
        anonymous=definition.anonymous,
        definition=definition.stored(),
        status="draft",
        audience={},
        created_by_id=actor_id,
        created_at=now,
    )
    session.add(survey)
    await session.flush()
    audit.write(
        session, action="survey.import", record=f"survey:{survey.id}", actor_id=actor_id, channel=channel, at=now
    )
    return survey


def imported(survey: Survey) -> Msg:
    return msg(
        "survey.import.done",
        id=survey.id,
        title=title_of(survey),
        kind=kind_of(survey),
        count=len(questions_of(survey.definition)),
    )


def refusal(ctx: StepContext, action: str, record: str | None = None) -> Msg:
    return refused(ctx, f"survey.{action}", record, msg("survey.error.not_allowed"))


async def load(session: AsyncSession, ref: str, now: datetime) -> Survey | None:
    survey_id = ids.parse_id(ref.strip().lstrip("#"))
    if survey_id is None:
        return None
    survey = await session.get(Survey, survey_id)
    if survey is not None:
        await settle(session, survey, now)
    return survey


async def settle(session: AsyncSession, survey: Survey, now: datetime) -> None:
    """A survey past its closing time is closed, whether or not anyone said so: its key goes."""
    if survey.status == "open" and survey.closes_at is not None and survey.closes_at <= now:
        await close(session, survey, survey.closes_at)


async def close_expired(session: AsyncSession, now: datetime) -> int:
    """Close every survey past its closing time (daily housekeeping): their keys go even if nobody
    looks at them again."""
    expired = (await session.scalars(select(Survey).where(Survey.status == "open", Survey.closes_at <= now))).all()
    for survey in expired:
        await settle(session, survey, now)
    return len(expired)


async def close(session: AsyncSession, survey: Survey, now: datetime) -> None:
    """No more answers: the survey's own key and the unfinished drafts keyed by it go."""
    survey.status = "closed"
    survey.closed_at = now
    survey.token_key = None
    await session.execute(delete(SurveyDraft).where(SurveyDraft.survey_id == survey.id))
    if survey.anonymous:
        await rewrite_in_token_order(session, survey.id)


async def rewrite_in_token_order(session: AsyncSession, survey_id: int) -> None:
    """An anonymous survey's responses, written anew in one transaction in token order (random).

    PostgreSQL lists a table's rows in the order they were written (ctid) and stamps each with the
    transaction that wrote it (xmin), the same one that moved its respondent's dialog: both would
    tell whose answer is whose long after the key is gone. (SQLite keeps them by token already.)"""
    kept = (
        await session.execute(
            select(SurveyResponse.token, SurveyResponse.answers, SurveyResponse.answered_on)
            .where(SurveyResponse.survey_id == survey_id)
            .order_by(SurveyResponse.token)
        )
    ).all()
    if not kept:
        return
    await session.execute(
        delete(SurveyResponse).where(SurveyResponse.survey_id == survey_id).execution_options(synchronize_session=False)
    )
    await session.execute(
        insert(SurveyResponse),
        [
            {"survey_id": survey_id, "token": token, "person_id": None, "answers": answers, "answered_on": day}
            for token, answers, day in kept
        ],
    )
