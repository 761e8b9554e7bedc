"""Supplies, a survey and a suggestion in WeCom, card by card: the manager's approval card changed in
place as she approves, a survey from a template answered from its invitation card (eleven choices over
several cards), an anonymous suggestion with a picture; an export arriving as a file, /stats and the
weekly digest with their charts as images (media/upload)."""

from __future__ import annotations

import io
import re
from collections.abc import Callable

import openpyxl
from sqlalchemy import select

from bot.areas import AREAS
from handlers.digest.send import send_weekly
from storage.db import Database
from storage.models import Person, Requisition, Suggestion, SurveyResponse, utcnow
from tests.dialog.chat_person import linked, report_leak
from tests.dialog.slack_person import notices_delivered
from tests.dialog.telegram_person import PNG_BYTES
from tests.dialog.wecom_person import WeComPerson, WeComWorld
from tests.jobs.org import SCHEDULE, requisition

REQUISITION = re.compile(r"S-\d{4}-\d{6}")


async def test_batteries_requested_and_approved_from_the_managers_card(
    db: Database, wecom_user: Callable[..., WeComPerson]
) -> None:
    admin, wang, huang = wecom_user("admin", "管理员"), wecom_user("WangFang", "王芳"), wecom_user("HuangLi", "黄丽")
    await linked(admin, wang, "wang.fang")
    await linked(admin, huang, "huang.li")

    await wang.writes("领用")
    await wang.writes("电池")  # words where the categories are offered search the catalog
    await wang.presses("5 号电池")
    await wang.writes("5")
    await wang.presses("✔ 选好了")
    await wang.writes("会议室遥控器")
    assert "黄丽" in wang.latest("审批").shown  # the confirmation names who will approve
    await wang.presses("✔ 提交")
    number = REQUISITION.search(wang.latest("已为你预留").shown)
    assert number is not None

    approval = huang.latest(number.group())
    assert approval.labels == ["✔ 批准", "✖ 驳回"]
    await huang.presses("✔ 批准")
    # The manager's card, changed in place: approved, nothing left to press.
    assert approval.edits >= 1 and approval.labels == []
    assert "批准" in wang.latest(number.group()).shown
    async with db.unit_of_work() as session:
        requisition = await session.scalar(select(Requisition).where(Requisition.number == number.group()))
        assert requisition is not None and requisition.status != "pending_manager"


async def test_the_quarterly_survey_answered_anonymously_from_its_invitation_card(
    db: Database, wecom_user: Callable[..., WeComPerson]
) -> None:
    admin, wang = wecom_user("admin", "管理员"), wecom_user("WangFang", "王芳")
    await linked(admin, wang, "wang.fang")

    await admin.writes("/survey import quarterly")
    assert "已导入问卷 #1「后勤服务季度满意度调查」（匿名" in admin.latest("已导入问卷").shown
    await admin.writes("/survey launch 1 dept:finance 7")
    assert "已发布给部门 财务处" in admin.latest("已发布").shown

    invitation = wang.latest("📋 新问卷")
    assert invitation.labels == ["📝 填写问卷"]
    await wang.presses("📝 填写问卷")
    await wang.presses("▶ 开始")
    for rating in ("4", "5", "3"):
        await wang.presses(rating)
    # Eleven choices (0 to 10) and the way back: three cards of six buttons at most, each asking.
    zero = next(m for m in wang.chat if m.labels[:1] == ["0"])
    asking = [m for m in wang.chat if m.shown == zero.shown]
    assert [len(m.labels) for m in asking] == [6, 6, 1]
    await wang.presses("9")
    # Whichever card was pressed, none of them can be pressed again.
    assert [(m.labels, m.replaced) for m in asking] == [([], "9")] * 3
    await wang.presses("食堂")
    await wang.presses("保洁")
    await wang.presses("✔ 选好了")
    await wang.writes("网络太慢")
    await wang.presses("✔ 提交")
    assert "谢谢" in wang.said
    async with db.unit_of_work() as session:
        [response] = (await session.scalars(select(SurveyResponse))).all()
    assert response.answers["recommend"] == 9 and response.answers["improve"] == ["canteen", "cleaning"]


async def test_an_anonymous_suggestion_with_a_picture(db: Database, wecom_user: Callable[..., WeComPerson]) -> None:
    wang = wecom_user("WangXiao", "小王")
    await wang.writes("/suggest")
    assert "想就哪方面提建议？" in wang.said
    await wang.presses("食堂")
    await wang.writes("希望食堂每周增加一次川菜")
    await wang.sends_image(PNG_BYTES)
    await wang.presses("🔒 匿名")
    await wang.presses("📢 公开")
    assert "附照片 1 张" in wang.latest("附照片").shown
    await wang.presses("✔ 提交")
    assert "谢谢！你的建议 #1 已提交。" in wang.latest("谢谢").shown
    async with db.unit_of_work() as session:
        suggestion = await session.get(Suggestion, 1)
        assert suggestion is not None and suggestion.author_id is None


async def test_an_export_arrives_as_a_file_and_the_stats_with_their_chart_as_an_image(
    wecom_world: WeComWorld, wecom_user: Callable[..., WeComPerson]
) -> None:
    admin, wang = wecom_user("admin", "管理员"), wecom_user("WangXiao", "小王")
    number = await report_leak(wang)
    await admin.writes("/export tickets xlsx")
    assert admin.chat[-2].shown == "📎 报修单导出（全部时间），共 1 行："
    # Uploaded (media/upload, type file), then sent as a file message.
    assert admin.chat[-1].msgtype == "file"
    kind, name, content = wecom_world.api.uploads[admin.chat[-1].body["file"]["media_id"]]
    assert (kind, name) == ("file", "tickets-all.xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    assert sheet is not None and [row[0] for row in sheet.iter_rows(values_only=True)] == ["单号", number]

    await admin.writes("/stats month")
    # The chart uploaded as an image and sent after the words.
    assert admin.chat[-1].msgtype == "image"
    kind, _, chart = wecom_world.api.uploads[admin.chat[-1].body["image"]["media_id"]]
    assert kind == "image" and chart.startswith(b"\x89PNG")


async def test_the_weekly_digest_comes_with_its_chart_and_its_button_approves_whats_pending(
    db: Database, wecom_world: WeComWorld, wecom_user: Callable[..., WeComPerson]
) -> None:
    admin, huang = wecom_user("admin", "管理员"), wecom_user("HuangLi", "黄丽")
    await linked(admin, huang, "huang.li")  # the demo's finance manager, now in WeCom
    number = await requisition(db, created=utcnow(), lines=(("PAPER-A4", 2),))
    async with db.unit_of_work() as session:
        huang_id = await session.scalar(select(Person.id).where(Person.display_name == "黄丽"))
    assert huang_id is not None

    now = utcnow()
    assert (await send_weekly(db, SCHEDULE, now, now, only=[huang_id], areas=AREAS)).sent == 1
    await wecom_world.settle()
    wecom_world.wecom._wake.set()
    await notices_delivered(db, ("wecom",))

    # The digest's words, its button on a card, then its chart: an image uploaded with media/upload.
    digest, button, chart = huang.chat[-3:]
    assert digest.shown.startswith("📊 每周简报 — 财务处") and "目前待审批 1 个" in digest.shown
    assert button.labels == ["✔ 审批待办（1）"]
    kind, _, picture = wecom_world.api.uploads[chart.body["image"]["media_id"]]
    assert (chart.msgtype, kind) == ("image", "image") and picture.startswith(b"\x89PNG\r\n\x1a\n")

    await huang.presses("✔ 审批待办")
    await huang.presses(number)
    await huang.presses("✔ 批准")
    async with db.unit_of_work() as session:
        status = await session.scalar(select(Requisition.status).where(Requisition.number == number))
    assert status == "approved"
