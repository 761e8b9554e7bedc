"""Words from outside are made plain where they enter: no invisible characters counted as an answer,
no right-to-left override, bell or terminal colour code stored or shown on a technician's card, no
lone surrogate (which JSON can carry and nothing can send) failing a reply. Through the browser
chat's HTTP API, Slack's signed requests and Telegram's updates, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable

import httpx
from sqlalchemy import select

from storage.db import Database
from storage.models import Person, Ticket
from tests.dialog.slack_person import SlackPerson
from tests.dialog.telegram_person import TelegramPerson
from tests.dialog.web_person import WebPerson

TICKET = re.compile(r"R-\d{4}-\d{6}")
HIDDEN = ("\u202e", "\x07", "\x1b", "\u200b", "\ud800")


async def description_of(db: Database, number: str) -> str:
    async with db.unit_of_work() as session:
        found = await session.scalar(select(Ticket.description).where(Ticket.number == number))
        assert found is not None
        return found


async def reports_a_light(wang: WebPerson, description: str) -> str:
    await wang.says("/repair")
    await wang.presses("电气照明")
    await wang.presses("行政楼")
    await wang.presses("201 第一会议室")
    await wang.says(description)
    await wang.presses("跳过")
    await wang.presses("一般")
    found = TICKET.search((await wang.presses("✔ 提交")).text)
    assert found is not None
    return found.group()


async def test_zero_width_spaces_are_not_a_description(person: Callable[[str], WebPerson]) -> None:
    wang = person("wang.fang")
    await wang.says("/repair")
    await wang.presses("电气照明")
    await wang.presses("行政楼")
    await wang.presses("201 第一会议室")
    for nothing in ("\u200b" * 6, "\u200b \u200d\u2060\ufeff\u200b", "灯" + "\u0301" * 6):
        refused = await wang.says(nothing)
        assert refused.texts[0] == "⚠️ 太短了，请至少输入 5 个字。", repr(nothing)
        assert "请描述问题" in refused.texts[-1]  # asked again


async def test_overrides_bells_and_colour_codes_are_neither_stored_nor_on_the_card(
    db: Database, person: Callable[[str], WebPerson]
) -> None:
    typed = "会议室\u202e的灯一直闪\x07，\x1b[31m开会时很影响\x1b[0m"
    number = await reports_a_light(person("wang.fang"), typed)
    assert await description_of(db, number) == "会议室的灯一直闪，开会时很影响"
    # 赵磊 (electrical) is told of it in his browser chat: the card shows the words, nothing else.
    [card] = [n["text"] for n in await person("zhao.lei").inbox() if number in n["text"]]
    assert "会议室的灯一直闪，开会时很影响" in card
    assert not any(hidden in card for hidden in HIDDEN)


async def post_raw(client: httpx.AsyncClient, body: str) -> httpx.Response:
    """A body as a client may write it by hand: JSON's \\ud800 escape is a lone surrogate once read."""
    return await client.post("/api/web/messages", content=body.encode(), headers={"content-type": "application/json"})


async def test_a_lone_surrogate_in_the_browser_chat_is_dropped_not_a_failure(
    db: Database, person: Callable[[str], WebPerson], web_client: httpx.AsyncClient
) -> None:
    client_id = uuid.uuid4().hex
    said = await post_raw(
        web_client, f'{{"person": "wang.fang", "client_id": "{client_id}", "text": "/ticket R-\\ud800"}}'
    )
    assert said.status_code == 200 and said.json()["replies"][0]["text"] == "找不到报修单 R-。"
    wang = person("wang.fang")
    await wang.says("/repair")
    await wang.presses("电气照明")
    await wang.presses("行政楼")
    await wang.presses("201 第一会议室")
    body = {"person": "wang.fang", "client_id": uuid.uuid4().hex, "text": "投影仪\ud800不亮了，开不了会"}
    asked = await post_raw(web_client, json.dumps(body))  # json.dumps writes the surrogate as \ud800
    assert asked.status_code == 200 and "照片" in asked.json()["replies"][-1]["text"]
    await wang.says("/cancel")


async def test_a_lone_surrogate_typed_in_a_slack_modal_is_dropped(
    db: Database, slack_user: Callable[..., SlackPerson]
) -> None:
    wang = slack_user("UWANG", "小王")
    await wang.slash("/repair")
    await wang.chooses("给排水")
    await wang.chooses("教学楼")
    await wang.chooses("301 三楼卫生间")
    answered = await wang.types("洗手池\ud800水龙头关不紧，一直滴水")  # sent as JSON's \ud800
    assert answered.status_code == 200 and "照片" in wang.page, (wang.errors, wang.page)
    await wang.submits()
    await wang.chooses("一般")
    assert "洗手池水龙头关不紧，一直滴水" in wang.page
    await wang.submits()
    number = TICKET.search(wang.dm[-1].shown)
    assert number is not None, wang.dm[-1].shown
    assert await description_of(db, number.group()) == "洗手池水龙头关不紧，一直滴水"
    await wang.writes("\ud800\u202e你好")
    assert wang.dm[-1].shown and "\u202e" not in wang.dm[-1].shown


async def test_a_name_with_an_override_is_kept_plain(
    db: Database, telegram_user: Callable[..., TelegramPerson]
) -> None:
    stranger = telegram_user(7501, "\u202e小\x07陈\u200b")
    assert "你好，小陈" in await stranger.says("/start")
    async with db.unit_of_work() as session:
        names = (await session.scalars(select(Person.display_name).where(Person.display_name.like("%陈%")))).all()
    assert "小陈" in names and not any(hidden in name for name in names for hidden in HIDDEN)
