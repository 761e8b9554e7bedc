"""An anonymous suggestion whose sealed way back no longer opens (the server key was changed, or the
stored seal was altered): the office's reply is kept and the office is told the writer cannot be
reached; nobody else is told anything, and the writer cannot pose as its author. In the browser chat."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select, update

from handlers.core import keys
from storage.db import Database
from storage.models import OutboxMessage, Suggestion
from tests.dialog.web_person import WebPerson


async def an_anonymous_suggestion(emma: WebPerson) -> None:
    await emma.says("/suggest")
    await emma.presses("Facilities")
    await emma.says("The lift in building A is too slow in the morning")
    await emma.presses("Skip")
    await emma.presses("🔒 Anonymous")
    await emma.presses("🔐 Only the logistics office")
    assert "Suggestion #1 is in." in (await emma.presses("✔ Submit")).text


async def notices(db: Database) -> int:
    async with db.unit_of_work() as session:
        return int(await session.scalar(select(func.count()).select_from(OutboxMessage)) or 0)


async def office_replies(lin: WebPerson, words: str) -> str:
    await lin.says("/suggest inbox")
    await lin.presses("💬 回复 #1")
    return (await lin.says(words)).text


async def test_a_seal_altered_in_the_database_reaches_nobody(db: Database, person: Callable[[str], WebPerson]) -> None:
    emma, lin = person("emma.clark"), person("lin.hua")
    await an_anonymous_suggestion(emma)
    async with db.unit_of_work() as session:
        route = await session.scalar(select(Suggestion.route))
        assert route is not None
        flipped = route[:-3] + ("A" if route[-3] != "A" else "B") + route[-2:]
        await session.execute(update(Suggestion).values(route=flipped))
    before = await notices(db)
    assert "回复已记下，但建议 #1 的提出人现在收不到消息。" in await office_replies(lin, "已联系电梯公司检修")
    assert await notices(db) == before  # nobody, and so not somebody else, was told
    assert (await emma.presses_payload("sg:1:answer")).texts == ["You may not do that."]


async def test_after_the_server_key_changes_old_seals_open_no_more(
    db: Database, person: Callable[[str], WebPerson]
) -> None:
    emma, lin = person("emma.clark"), person("lin.hua")
    await an_anonymous_suggestion(emma)
    keys.configure("a-new-SURVEY_SECRET-set-later-0123456789")
    try:
        before = await notices(db)
        assert "收不到消息" in await office_replies(lin, "已联系电梯公司检修")
        assert await notices(db) == before
        assert (await emma.presses_payload("sg:1:answer")).texts == ["You may not do that."]
    finally:
        keys.configure(None)
