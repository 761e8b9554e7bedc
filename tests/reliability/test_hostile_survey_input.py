"""Hostile input while answering a survey: whatever a person sends at whatever question — any text,
numbers out of range, forged and stale buttons, other surveys' buttons, commands, photos — Houqin
answers, and every response it keeps fits its questions and counts its person once.

Hypothesis drives random sequences into the answering flow of a survey with every question type, on
SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import strategies as st
from sqlalchemy import select

from handlers.core.conversation import MAX_TEXT, Inbound, Kind, Outcome, PhotoIn, Sender
from handlers.core.engine import Houqin
from handlers.core.i18n import Label
from handlers.core.people import identify
from handlers.surveys.definitions import Definition, questions_of, valid_answer
from storage.db import Database
from storage.models import Survey, SurveyInvitation, SurveyResponse, utcnow
from tests.reliability.harness import Script, hostile_conversations, hostile_inbound, on_screen, seed_demo

QUESTIONS: list[dict[str, Any]] = [
    {"id": "r", "type": "rating", "text": {"zh": "评分", "en": "Rate"}},
    {"id": "n", "type": "nps", "text": {"zh": "推荐", "en": "Recommend"}},
    {
        "id": "s",
        "type": "single",
        "text": {"zh": "单选", "en": "One"},
        "options": [{"id": "a", "zh": "甲", "en": "A"}, {"id": "b", "zh": "乙", "en": "B"}],
    },
    {
        "id": "m",
        "type": "multiple",
        "text": {"zh": "多选", "en": "Many"},
        "options": [
            {"id": "x", "zh": "子", "en": "X"},
            {"id": "y", "zh": "丑", "en": "Y"},
            {"id": "z", "zh": "寅", "en": "Z"},
        ],
    },
    {"id": "t", "type": "text", "required": True, "text": {"zh": "必答", "en": "Must"}},
    {"id": "o", "type": "text", "required": False, "text": {"zh": "选答", "en": "May"}},
]
people = itertools.count(1)
deliveries = itertools.count(1)

texts = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["0", "1", "5", "6", "10", "11", "-1", "３", "4.5", "1e3", "甲", "乙", "子", "✔ 选好了", "▶ 开始"]),
    st.sampled_from(["", " ", "\x00", "x" * (MAX_TEXT + 1), "字" * 1001, "◀ 上一题"]),
)
buttons = st.one_of(
    st.builds(
        lambda v, x: f"s{v}:{x}",
        st.integers(-1, 40),
        st.sampled_from(["1", "9", "11", "a", "x", "done", "back1", "go", "_submit", "_back"]),
    ),
    st.sampled_from(["sv:1:answer", "sv:2:answer", "sv:1:results", "sv:x:answer", "sv:", "sg:1:vote"]),
)
moves: st.SearchStrategy[Script] = st.lists(
    st.one_of(
        st.tuples(st.just(Kind.TEXT), texts),
        st.tuples(st.just(Kind.BUTTON), buttons),
        st.tuples(st.just(Kind.COMMAND), st.sampled_from(["cancel", "survey", "my", "help", "suggest"])),
        st.tuples(st.just(Kind.PHOTO), st.just(PhotoIn(file_id="AgAC"))),
        # A button actually on screen (never Cancel, so that some get as far as submitting).
        st.tuples(st.just("offered"), st.integers(0, 12)),
        st.tuples(st.just("offered"), st.integers(0, 12)),
        st.tuples(st.just("offered"), st.integers(0, 12)),
        st.tuples(st.just(Kind.TEXT), st.sampled_from(["还不错", "需要改进"])),
        # What a willing person would do next: so some get as far as submitting, after the mischief.
        st.tuples(st.just("onwards"), st.none()),
        st.tuples(st.just("onwards"), st.none()),
        st.tuples(st.just("onwards"), st.none()),
    ),
    min_size=1,
    max_size=30,
)


def inbound(sender: Sender, kind: Kind, value: object) -> Inbound:
    return hostile_inbound(sender, kind, value, f"hostile-survey-{next(deliveries)}")


async def invited(db: Database, sender: Sender) -> None:
    async with db.unit_of_work() as session:
        person, _ = await identify(session, sender, (), utcnow())
        session.add(SurveyInvitation(survey_id=1, person_id=person.id))


async def play(houqin: Houqin, db: Database, script: Script) -> list[Outcome]:
    key = next(people)
    sender = Sender("telegram", f"surveyed{key}", f"surveyed{key}", "答卷人", "zh-hans")
    await invited(db, sender)
    outcomes = [await houqin.handle(inbound(sender, Kind.BUTTON, "sv:1:answer"))]
    for kind, value in script:
        if kind == "onwards":
            shown = on_screen(outcomes[-1])
            ahead = [p for p in shown if p.endswith((":done", ":_submit", ":_done"))] or [
                p for p in shown if not p.endswith(("_cancel", "_back", "back1"))
            ]
            kind, value = (Kind.BUTTON, ahead[0]) if ahead else (Kind.TEXT, "还不错")
        if kind == "offered":
            offered = [payload for payload in on_screen(outcomes[-1]) if "_cancel" not in payload]
            if not offered:
                continue
            assert isinstance(value, int)
            kind, value = Kind.BUTTON, offered[value % len(offered)]
        assert isinstance(kind, Kind)
        outcomes.append(await houqin.handle(inbound(sender, kind, value)))
    return outcomes


async def every_response_fits(db: Database) -> int:
    async with db.unit_of_work() as session:
        survey = await session.get(Survey, 1)
        assert survey is not None
        responses = (await session.scalars(select(SurveyResponse))).all()
        for response in responses:
            assert response.survey_id == 1 and response.person_id is not None
            for question in questions_of(survey.definition):
                assert valid_answer(question, response.answers.get(question["id"])), response.answers
        by_person = [r.person_id for r in responses]
        assert len(by_person) == len(set(by_person)), "each person counts once"
        return len(responses)


def open_survey(database_url: str) -> None:
    from handlers.surveys.records import store_definition

    async def run() -> None:
        db = Database(database_url)
        try:
            async with db.unit_of_work() as session:
                now = utcnow()
                survey = await store_definition(
                    session, Definition(Label("压力测试", "Stress"), False, QUESTIONS), None, now
                )
                survey.status, survey.audience, survey.token_key = "open", {"kind": "everyone", "codes": []}, "k" * 64
                survey.opens_at, survey.closes_at = now - timedelta(hours=1), now + timedelta(days=7)
        finally:
            await db.dispose()

    asyncio.run(run())


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_whatever_is_sent_while_answering_every_kept_response_fits_and_counts_once(database_url: str) -> None:
    seed_demo(database_url)
    open_survey(database_url)
    tried = hostile_conversations(database_url, moves, 40, play, every_response_fits)
    print(
        f"hostile survey input: {tried.examples} conversations, {tried.inputs} inputs, "
        f"{tried.kept} responses kept, no unhandled error"
    )
