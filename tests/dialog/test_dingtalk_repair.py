"""Repairs in DingTalk: the robot's messages posted signed to Houqin's webhook route, the robot's
answers sent to a fake open platform as ActionCards. A button is a link that makes the person send
its answer (`label 〔payload〕`) in their chat, which Houqin takes as that button's press.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import undefer

from storage.db import Database
from storage.models import Photo, Ticket
from tests.dialog.dingtalk_person import DingTalkPerson, DingTalkWorld
from tests.dialog.telegram_person import PNG_BYTES

TICKET = re.compile(r"R-\d{4}-\d{6}")


async def test_a_leak_reported_in_chinese_from_a_typed_command_to_a_ticket_number(
    db: Database, dingtalk_user: Callable[..., DingTalkPerson]
) -> None:
    xiaoli = dingtalk_user("staff_li", "小李")
    answer = await xiaoli.writes("/repair")
    assert answer.status == 200
    assert "开始：报修" in xiaoli.chat[-2].shown
    assert xiaoli.said == "需要维修的是哪一类？"
    assert "给排水" in xiaoli.chat[-1].labels
    # The button sends its label and the core's payload as the person's own message.
    assert re.fullmatch(r"给排水 〔s\d+:.+〕", xiaoli.button("给排水"))

    await xiaoli.presses("给排水")
    assert xiaoli.said == "在哪栋楼？"
    await xiaoli.presses("教学楼")
    await xiaoli.presses("301 三楼卫生间")
    await xiaoli.writes("洗手池水龙头关不紧，一直滴水")
    assert "照片" in xiaoli.said
    await xiaoli.sends_image(PNG_BYTES)
    assert xiaoli.said.startswith("已收到 1 张照片")
    await xiaoli.presses("完成")
    await xiaoli.presses("一般")
    assert "请确认报修信息" in xiaoli.chat[-2].shown and "照片：1 张" in xiaoli.chat[-2].shown
    await xiaoli.presses("✔ 提交")
    number = TICKET.search(xiaoli.latest("报修已提交").shown)
    assert number is not None

    async with db.unit_of_work() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == number.group()))
        assert ticket is not None and ticket.channel == "dingtalk" and ticket.reporter.display_name == "小李"
        wanted = select(Photo).where(Photo.id.in_([p.id for p in ticket.photos])).options(undefer(Photo.content))
        [photo] = (await session.scalars(wanted)).all()
        # Downloaded through messageFiles/download before the core's transaction.
        assert (photo.channel, photo.content) == ("dingtalk", PNG_BYTES)


async def test_the_keyword_starts_a_repair_in_english_after_choosing_the_language(
    db: Database, dingtalk_user: Callable[..., DingTalkPerson]
) -> None:
    sam = dingtalk_user("staff_sam", "Sam")
    await sam.writes("lang")  # not a command without its slash: words the core does not know
    await sam.writes("/lang")
    await sam.presses("English")
    await sam.writes("报修")
    assert sam.said == "What kind of problem is it?"
    await sam.presses("Heating & A/C")
    await sam.presses("Canteen")
    await sam.presses("102 Kitchen")
    await sam.writes("The extractor fan is very loud and smells of burning.")
    await sam.presses("Skip")
    await sam.presses("Urgent")
    assert "Location: Canteen 102 Kitchen" in sam.chat[-2].shown
    await sam.presses("✔ Submit")
    done = sam.latest("Repair request submitted")
    assert TICKET.search(done.shown) is not None
    async with db.unit_of_work() as session:
        ticket = await session.scalar(select(Ticket))
        assert ticket is not None and ticket.urgency == "urgent" and ticket.channel == "dingtalk"


async def test_a_button_of_a_question_already_answered_is_stale_and_changes_nothing(
    dingtalk_world: DingTalkWorld, dingtalk_user: Callable[..., DingTalkPerson]
) -> None:
    wang = dingtalk_user("staff_wang", "小王")
    await wang.writes("/repair")
    first = wang.chat[-1]
    await wang.presses("给排水", first)
    assert wang.said == "在哪栋楼？"
    # The old card is still in the chat and its buttons still send their answers.
    await wang.presses("电气", first)
    assert wang.chat[-2].shown == "这个按钮已经过期了，请使用最新消息中的按钮。"
    assert wang.said == "在哪栋楼？"


async def test_words_that_merely_look_like_a_button_are_refused_as_forged(
    dingtalk_world: DingTalkWorld, dingtalk_user: Callable[..., DingTalkPerson]
) -> None:
    zhao = dingtalk_user("staff_zhao", "小赵")
    await zhao.writes("/repair")
    await zhao.writes("随便 〔zz:9〕")
    assert zhao.chat[-2].shown == "这个按钮无效。"
    assert zhao.said == "需要维修的是哪一类？"
