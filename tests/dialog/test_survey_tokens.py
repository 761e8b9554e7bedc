"""An anonymous survey's promise, in the browser chat: while it is open the same person always lands
on the same answer, through a token made with the survey's own key; once it closes that key is
erased, and not even someone holding the server key and the whole database can say whose answer
is whose any more."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from handlers.core import keys
from handlers.surveys.campaigns import token_of
from storage.db import Database
from storage.models import Person, Survey, SurveyResponse
from tests.dialog.web_person import WebPerson


async def answer_cleaning_survey(liu: WebPerson, words: str) -> None:
    """刘洋 answers the cleaning survey from its invitation: 4 and 5 stars, restrooms, a comment."""
    invitation = next(n for n in reversed(await liu.inbox()) if "新问卷" in n["text"])
    await liu.presses_payload(invitation["buttons"][0][0]["payload"])
    await liu.presses("▶ 开始")
    await liu.presses("4")
    await liu.presses("5")
    await liu.presses("卫生间")
    await liu.presses("✔ 选好了")
    await liu.says(words)
    assert "匿名答案已收到" in (await liu.presses("✔ 提交")).text


async def stored(db: Database) -> tuple[Survey, list[str], bytes, dict[str, int]]:
    """The survey, its answers' tokens, the server key and everyone's person id: all a holder of the
    key and a copy of the database would have."""
    async with db.unit_of_work() as session:
        survey = await session.scalar(select(Survey))
        assert survey is not None
        tokens = list((await session.scalars(select(SurveyResponse.token))).all())
        people = {p.demo_key or p.display_name: p.id for p in await session.scalars(select(Person))}
        return survey, tokens, await keys.server_key(session), people


def every_recomputation(server_key: bytes, survey: Survey, person_id: int) -> set[str]:
    """Each token someone could make for a person from the server key and what the database keeps of
    the survey: with no survey key at all, or with any value of its row standing in for it."""
    kept: list[Any] = [getattr(survey, column.key) for column in Survey.__table__.columns]
    tries = {keys.token(server_key, "survey", survey.id, person_id)}
    tries |= {keys.token(server_key, "survey", survey.id, value, person_id) for value in [*kept, "", None]}
    return tries


async def test_whose_answer_is_whose_is_known_only_while_the_survey_is_open(
    db: Database, person: Callable[[str], WebPerson]
) -> None:
    admin, liu = person("admin"), person("liu.yang")
    await admin.says("/survey import cleaning")
    await admin.says("/survey launch 1 dept:teaching 3")
    await answer_cleaning_survey(liu, "楼梯扶手很久没擦了")

    survey, [token], server_key, people = await stored(db)
    # Open: 刘洋's token is made with the survey's own key, so he lands on his own answer again...
    assert token_of(server_key, survey, people["liu.yang"]) == token
    await answer_cleaning_survey(liu, "卫生间的纸巾总是不够")
    assert (await stored(db))[1] == [token]
    # ...and the server key alone does not make it: another survey key gives another token.
    survey.token_key = secrets.token_hex(32)
    assert token_of(server_key, survey, people["liu.yang"]) != token

    assert "已结束" in (await admin.says("/survey close 1")).text
    closed, tokens, server_key, people = await stored(db)
    assert closed.token_key is None and tokens == [token]
    assert token_of(server_key, closed, people["liu.yang"]) is None
    named = [key for key, person_id in people.items() if token in every_recomputation(server_key, closed, person_id)]
    assert named == [], "after the close a token was traced back to a person"
