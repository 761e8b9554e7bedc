"""Repairs in Slack: signed payloads through Bolt into Houqin, a fake Slack Web API behind it.

A report is a modal, page by page (one typed step each); the technician's card is a Block Kit
message in their DM, edited in place with chat.update as the ticket moves.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import undefer

from storage.db import Database
from storage.models import Ticket
from tests.dialog.slack_person import SlackPerson

TICKET = re.compile(r"R-\d{4}-\d{6}")


async def test_a_leak_reported_in_a_modal(db: Database, slack_user: Callable[..., SlackPerson]) -> None:
    wang = slack_user("UWANG", "小王")
    await wang.slash("/repair")
    assert "需要维修的是哪一类？" in wang.page
    await wang.chooses("给排水")
    assert "在哪栋楼？" in wang.page
    await wang.chooses("教学楼")
    assert "在哪个房间？" in wang.page
    await wang.chooses("301 三楼卫生间")
    await wang.types("短")
    assert wang.errors, wang.page
    await wang.types("洗手池水龙头关不紧，一直滴水")
    # The photos are attached on the page, an optional field: no Skip button to name, Next goes on.
    assert "可以发送最多 3 张照片帮助维修人员了解情况。" in wang.page and "跳过" not in wang.page, wang.page
    await wang.submits()  # no photos from Slack
    await wang.chooses("一般")
    assert "请确认报修信息" in wang.page
    await wang.submits()
    assert wang.modal is None
    done = wang.dm[-1].shown
    number = TICKET.search(done)
    assert number is not None, done
    async with db.unit_of_work() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == number.group()))
        assert ticket is not None and ticket.channel == "slack"


async def linked(admin: SlackPerson, who: SlackPerson, web_account: str) -> None:
    """An admin joins a Slack member to a person of the demo organisation (their browser account)."""
    await who.opens_home()
    await admin.slash("/houqin", f"link slack:{who.user_id} web:{web_account}")
    assert f"已将 slack:{who.user_id} 关联到" in admin.dm[-1].shown, admin.dm[-1].shown


async def report_leak(who: SlackPerson, description: str = "三楼卫生间洗手池下面漏水") -> str:
    await who.slash("/repair")
    await who.chooses("给排水")
    await who.chooses("教学楼")
    await who.chooses("301 三楼卫生间")
    await who.types(description)
    await who.submits()
    await who.chooses("较急")
    await who.submits()
    number = TICKET.search(who.dm[-1].shown)
    assert number is not None, who.dm[-1].shown
    return number.group()


def card(who: SlackPerson, number: str) -> str:
    [shown] = [m.shown for m in who.dm if m.shown.startswith(f"🔧 {number}")]
    return shown


async def test_a_leak_from_report_to_rating_all_in_slack(db: Database, slack_user: Callable[..., SlackPerson]) -> None:
    admin, sun, wang = slack_user("UADMIN", "管理员"), slack_user("USUN", "孙强"), slack_user("UWANG", "小王")
    await linked(admin, sun, "sun.qiang")

    number = await report_leak(wang)
    # The plumber's card is a Block Kit message in his DM, with the card's buttons.
    [message] = [m for m in sun.dm if m.shown.startswith(f"🔧 {number}")]
    assert "状态：已分派" in message.shown
    assert [b["text"]["text"] for b in message.buttons] == ["✔ 接单", "✖ 拒绝", "💬 留言"]

    await sun.presses("✔ 接单")
    # The same message, edited in place with chat.update.
    assert "状态：已接单" in card(sun, number) and message.edits >= 1
    await sun.presses("▶ 开始维修")
    # Resolving asks for a note: a button that starts a flow opens it as a modal.
    await sun.presses("✅ 已修好")
    assert sun.modal is not None
    await sun.types("已更换阀芯")
    await sun.submits()  # no photo
    assert sun.modal is None
    assert "状态：已修好" in card(sun, number)

    resolved = wang.latest("已修好")
    assert [b["text"]["text"] for b in resolved.buttons] == ["★", "★★", "★★★", "★★★★", "★★★★★"]
    await wang.presses("★★★★★")
    await wang.submits()  # no comment: the optional text left empty
    assert "谢谢你的反馈" in wang.dm[-1].shown

    async with db.unit_of_work() as session:
        closed = await session.scalar(select(Ticket).where(Ticket.number == number))
        assert closed is not None and (closed.status, closed.rating) == ("closed", 5)
        assert closed.assignee is not None and closed.assignee.display_name == "孙强"


async def test_photos_attached_on_the_page_reach_the_ticket_and_the_technicians_card(
    db: Database, slack_user: Callable[..., SlackPerson]
) -> None:
    from storage.models import Photo
    from tests.dialog.telegram_person import PNG_BYTES

    admin, sun, wang = slack_user("UADMIN", "管理员"), slack_user("USUN", "孙强"), slack_user("UWANG", "小王")
    await linked(admin, sun, "sun.qiang")
    await wang.slash("/repair")
    for label in ("给排水", "教学楼", "301 三楼卫生间"):
        await wang.chooses(label)
    await wang.types("洗手池水龙头关不紧，一直滴水")
    await wang.attaches(b"not a picture at all")
    assert wang.errors, wang.page  # beside the file input, in her words
    await wang.attaches(PNG_BYTES, PNG_BYTES)
    assert "有多紧急？" in wang.page
    await wang.chooses("一般")
    assert "照片：2 张" in wang.page
    await wang.submits()
    number = TICKET.search(wang.dm[-1].shown)
    assert number is not None
    async with db.unit_of_work() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == number.group()))
        assert ticket is not None
        wanted = select(Photo).where(Photo.id.in_([p.id for p in ticket.photos])).options(undefer(Photo.content))
        photos = (await session.scalars(wanted.order_by(Photo.id))).all()
        assert [(p.channel, p.content) for p in photos] == [("slack", PNG_BYTES), ("slack", PNG_BYTES)]
    # The plumber's card comes with the two photos above it.
    assert [f.content for f in wang.api.files["DUSUN"]] == [PNG_BYTES, PNG_BYTES]
