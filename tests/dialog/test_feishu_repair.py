"""Repairs in Feishu: encrypted, signed events into Houqin's webhook route, the SDK sending cards to
a fake Open Platform. A report is a card per question; a pressed card is redrawn in place with the
choice and no buttons; the technician's card is patched in place as the ticket moves.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import undefer

from storage.db import Database
from storage.models import Photo, Ticket
from tests.dialog.feishu_person import FeishuPerson, FeishuWorld
from tests.dialog.telegram_person import PNG_BYTES

TICKET = re.compile(r"R-\d{4}-\d{6}")


async def test_a_leak_reported_in_chinese_from_a_typed_command_to_a_ticket_number(
    db: Database, feishu_user: Callable[..., FeishuPerson]
) -> None:
    xiaoli = feishu_user("ou_xiaoli", "小李")
    answer = await xiaoli.writes("/repair")
    assert answer.status == 200
    assert "开始：报修" in xiaoli.chat[-2].shown
    assert xiaoli.said == "需要维修的是哪一类？"
    assert "给排水" in xiaoli.chat[-1].labels

    pressed = await xiaoli.presses("给排水")
    # The pressed card is redrawn in Feishu's answer: the question, the choice, no buttons.
    question = xiaoli.latest("需要维修的是哪一类？")
    assert question.shown == "需要维修的是哪一类？\n→ 给排水" and question.labels == []
    assert pressed.body["card"]["type"] == "raw"
    assert xiaoli.said == "在哪栋楼？"
    await xiaoli.presses("教学楼")
    await xiaoli.presses("301 三楼卫生间")
    # The description is typed into the box on the question's card (typing it in the chat does as well).
    await xiaoli.fills("洗手池水龙头关不紧，一直滴水")
    assert xiaoli.latest("请描述问题").shown.endswith("→ 洗手池水龙头关不紧，一直滴水")
    assert xiaoli.latest("请描述问题").labels == []
    assert "照片" in xiaoli.said
    await xiaoli.sends_image(PNG_BYTES)
    assert xiaoli.said.startswith("已收到 1 张照片")
    await xiaoli.presses("完成")
    await xiaoli.presses("一般")
    assert "请确认报修信息" in xiaoli.chat[-2].shown and "照片：1 张" in xiaoli.chat[-2].shown
    await xiaoli.presses("✔ 提交")
    number = TICKET.search(xiaoli.latest("报修已提交").shown)
    assert number is not None
    # Every card that carried a question was answered: only the closing menu can be pressed.
    assert xiaoli.buttons_on_screen() == ["报修", "物资申领", "我的申请", "帮助"]

    async with db.unit_of_work() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == number.group()))
        assert ticket is not None and ticket.channel == "feishu" and ticket.reporter.display_name == "小李"
        wanted = select(Photo).where(Photo.id.in_([p.id for p in ticket.photos])).options(undefer(Photo.content))
        [photo] = (await session.scalars(wanted)).all()
        # Downloaded with the message resource API before the core's transaction.
        assert (photo.channel, photo.content) == ("feishu", PNG_BYTES)


async def test_the_keyword_starts_a_repair_in_english_after_choosing_the_language(
    db: Database, feishu_user: Callable[..., FeishuPerson]
) -> None:
    sam = feishu_user("ou_sam", "Sam")
    await sam.writes("/lang")
    await sam.presses("English")
    await sam.writes("报修")
    assert sam.said == "What kind of problem is it?"
    await sam.presses("Heating & A/C")
    await sam.presses("Canteen")
    await sam.presses("102 Kitchen")
    await sam.writes("The extractor fan is very loud and smells of burning.")
    # The question answered by typing in the chat keeps its words and loses its buttons and its box.
    assert sam.latest("describe the problem").labels == [] and all(
        e["tag"] == "div" for e in sam.latest("describe the problem").content["body"]["elements"]
    )
    await sam.presses("Skip")
    await sam.presses("Urgent")
    assert "Location: Canteen 102 Kitchen" in sam.chat[-2].shown
    await sam.presses("✔ Submit")
    done = sam.latest("Repair request submitted")
    assert TICKET.search(done.shown) is not None
    async with db.unit_of_work() as session:
        ticket = await session.scalar(select(Ticket))
        assert ticket is not None and ticket.urgency == "urgent" and ticket.channel == "feishu"


async def test_a_core_slower_than_feishu_waits_gets_its_card_patched_afterwards(
    feishu_world: FeishuWorld, feishu_user: Callable[..., FeishuPerson]
) -> None:
    wang = feishu_user("ou_wang", "小王")
    await wang.writes("/repair")
    feishu_world.feishu.ack_within = 0  # Feishu gives 3 s; this core takes longer than that
    answer = await wang.presses("给排水")
    # Answered at once without the card; the pressed card is patched when the core is done.
    assert answer.body == {}
    question = wang.latest("需要维修的是哪一类？")
    assert question.shown == "需要维修的是哪一类？\n→ 给排水" and question.labels == []
    assert feishu_world.api.called(f"PATCH /open-apis/im/v1/messages/{question.id}") == 1
    assert wang.said == "在哪栋楼？"


async def test_the_bots_menu_starts_a_repair(
    feishu_world: FeishuWorld, feishu_user: Callable[..., FeishuPerson]
) -> None:
    from tests.dialog.feishu_person import event_payload

    wang = feishu_user("ou_wang", "小王")
    # 机器人菜单: an entry whose event key is the command it stands for.
    pressed = {"operator": {"operator_id": {"open_id": "ou_wang", "union_id": "on_wang"}}, "event_key": "repair"}
    answer = await feishu_world.deliver(event_payload("application.bot.menu_v6", pressed))
    assert answer.status == 200
    assert wang.said == "需要维修的是哪一类？"
