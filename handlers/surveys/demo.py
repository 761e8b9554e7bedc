"""The surveys' part of the demo's past (handlers/core/demo.py): two quarterly satisfaction surveys,
launched to everyone, answered anonymously by most and closed (their key gone, as closing does), and
a canteen survey open now that some have answered already — counted by the same keyed tokens as a
real answer, so they are not asked again."""

from __future__ import annotations

import secrets
from datetime import date, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core import keys
from handlers.core.demo import Past, demo_people
from handlers.surveys.definitions import CHOICE_TYPES, Definition, template, valid_answer
from storage.models import Survey, SurveyInvitation, SurveyResponse

RATING = {"5": 35.0, "4": 40.0, "3": 15.0, "2": 6.0, "1": 4.0}
SAID = (
    "希望报修响应再快一点",
    "物资申领很方便",
    "食堂可以多些选择",
    "保洁很用心，谢谢",
    "Thanks for the quick repairs",
)


async def write(session: AsyncSession, past: Past) -> dict[str, int]:
    people = [p.id for p in await demo_people(session)]
    quarterly, canteen = template("quarterly"), template("canteen")
    if not people or quarterly is None or canteen is None:
        return {}
    answers = 0
    for opened_on in (past.first + timedelta(days=20), past.first + timedelta(days=110)):
        survey = launched(session, quarterly, past, opened_on, days=14)
        await session.flush()
        await invite(session, survey, people)
        for _ in people:
            if past.rng.random() < 0.75:
                token = f"{past.rng.getrandbits(128):032x}"  # a closed survey's tokens name nobody
                session.add(respond(survey, quarterly, past, token, opened_on, 14))
                answers += 1
        survey.status, survey.closed_at = "closed", survey.closes_at
    # Open now: launched five days ago for two weeks; its key still counts each person once.
    opened_on = past.last - timedelta(days=4)
    survey = launched(session, canteen, past, opened_on, days=14)
    survey.token_key = secrets.token_hex(32)
    await session.flush()
    await invite(session, survey, people)
    server_key = await keys.server_key(session)
    for person in people[: len(people) // 2]:
        token = keys.token(server_key, "survey", survey.id, survey.token_key, person)
        session.add(respond(survey, canteen, past, token, opened_on, 4))
        answers += 1
    await session.flush()
    return {"past surveys": 3, "past survey answers": answers}


def launched(session: AsyncSession, definition: Definition, past: Past, opened_on: date, days: int) -> Survey:
    opens = past.at(opened_on, 9, 10)
    survey = Survey(
        title_zh=definition.title.zh,
        title_en=definition.title.en,
        anonymous=definition.anonymous,
        definition=definition.stored(),
        status="open",
        audience={"kind": "everyone", "codes": []},
        opens_at=opens,
        closes_at=opens + timedelta(days=days),
        created_at=opens - timedelta(hours=1),
        launched_at=opens,
    )
    session.add(survey)
    return survey


async def invite(session: AsyncSession, survey: Survey, people: list[int]) -> None:
    await session.execute(insert(SurveyInvitation), [{"survey_id": survey.id, "person_id": p} for p in people])


def respond(
    survey: Survey, definition: Definition, past: Past, token: str, opened_on: date, days: int
) -> SurveyResponse:
    rng = past.rng
    given: dict[str, Any] = {}
    for question in definition.questions:
        kind = question["type"]
        if kind == "rating":
            given[question["id"]] = int(past.weighted(RATING))
        elif kind == "nps":
            given[question["id"]] = rng.choice((10, 10, 9, 9, 9, 8, 8, 7, 6, 5))
        elif kind in CHOICE_TYPES:
            options = [o["id"] for o in question.get("options", [])]
            picked = rng.sample(options, 1 if kind == "single" else rng.randint(1, min(2, len(options))))
            given[question["id"]] = picked[0] if kind == "single" else picked
        elif kind == "text" and rng.random() < 0.3:
            given[question["id"]] = rng.choice(SAID)
    assert all(valid_answer(q, given[q["id"]]) for q in definition.questions if q["id"] in given)
    on = opened_on + timedelta(days=rng.randrange(days))
    return SurveyResponse(
        survey_id=survey.id, token=token, person_id=None, answers=given, answered_on=min(on, past.last)
    )
