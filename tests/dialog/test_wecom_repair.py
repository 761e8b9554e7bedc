"""Repairs in WeCom: messages and card presses encrypted and signed into /wecom/callback, the channel
answering with template cards on a fake WeCom. A question is a card whose buttons carry the core's
payloads; a pressed card shows the choice in place of its buttons (update_template_card, with the
press's response code), so it cannot be pressed twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import undefer

from storage.db import Database
from storage.models import Photo, Ticket
from tests.dialog.telegram_person import PNG_BYTES
from tests.dialog.wecom_person import WeComPerson, WeComWorld

TICKET = re.compile(r"R-\d{4}-\d{6}")


async def test_a_leak_reported_in_chinese_from_an_encrypted_command_to_a_ticket_number(
    db: Database, wecom_world: WeComWorld, wecom_user: Callable[..., WeComPerson]
) -> None:
    xiaoli = wecom_user("XiaoLi", "小李")
    answer = await xiaoli.writes("/repair")
    assert (answer.status_code, answer.text) == (200, "")
    assert "开始：报修" in xiaoli.chat[0].shown
    assert xiaoli.said == "需要维修的是哪一类？"
    assert "给排水" in xiaoli.buttons_on_screen()

    await xiaoli.presses("给排水")
    # Every card asking the question now shows the choice instead of its buttons.
    asked = [m for m in xiaoli.chat if m.shown == "需要维修的是哪一类？"]
    assert asked and all(m.replaced == "给排水" and m.labels == [] for m in asked)
    assert xiaoli.said == "在哪栋楼？"
    await xiaoli.presses("教学楼")
    await xiaoli.presses("301 三楼卫生间")
    await xiaoli.writes("洗手池水龙头关不紧，一直滴水")
    assert "照片" in xiaoli.said
    await xiaoli.sends_image(PNG_BYTES)
    assert xiaoli.said.startswith("已收到 1 张照片")
    await xiaoli.presses("完成")
    await xiaoli.presses("一般")
    # The summary in words, then the card asking for the confirmation.
    summary, confirm = xiaoli.chat[-2:]
    assert summary.msgtype == "text" and "请确认报修信息" in summary.shown and "照片：1 张" in summary.shown
    assert (confirm.shown, confirm.labels[0]) == ("以上信息正确吗？", "✔ 提交")
    await xiaoli.presses("✔ 提交")
    number = TICKET.search(xiaoli.latest("报修已提交").shown)
    assert number is not None

    async with db.unit_of_work() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == number.group()))
        assert ticket is not None and ticket.channel == "wecom" and ticket.reporter.display_name == "小李"
        wanted = select(Photo).where(Photo.id.in_([p.id for p in ticket.photos])).options(undefer(Photo.content))
        [photo] = (await session.scalars(wanted)).all()
        # Downloaded with media/get before the core's transaction.
        assert (photo.channel, photo.content) == ("wecom", PNG_BYTES)
    # Each card was changed once at most, with a code WeCom gave for it.
    assert wecom_world.api.called("POST /cgi-bin/message/update_template_card") == len(wecom_world.api.spent)


async def test_the_command_without_its_slash_starts_a_repair_in_english(
    db: Database, wecom_user: Callable[..., WeComPerson]
) -> None:
    sam = wecom_user("Sam", "Sam")
    await sam.writes("lang")
    await sam.presses("English")
    await sam.writes("repair")
    assert sam.said == "What kind of problem is it?"
    await sam.presses("Heating & A/C")
    await sam.presses("Canteen")
    await sam.presses("102 Kitchen")
    await sam.writes("The extractor fan is very loud and smells of burning.")
    await sam.presses("Skip")
    await sam.presses("Urgent")
    assert "Location: Canteen 102 Kitchen" in sam.latest("Location").shown
    await sam.presses("✔ Submit")
    assert TICKET.search(sam.latest("Repair request submitted").shown) is not None
    async with db.unit_of_work() as session:
        ticket = await session.scalar(select(Ticket))
        assert ticket is not None and ticket.urgency == "urgent" and ticket.channel == "wecom"


async def test_the_chinese_keyword_and_the_apps_menu_start_flows(wecom_user: Callable[..., WeComPerson]) -> None:
    wang = wecom_user("WangFang", "王芳")
    await wang.writes("报修")
    assert wang.said == "需要维修的是哪一类？"
    await wang.writes("/cancel")
    await wang.taps_menu("supply")  # the menu's 领用 entry (houqin wecom menu)
    assert wang.latest("开始").shown.startswith("开始：物资申领")
