"""A ticket's life, supplies, a survey and a suggestion in DingTalk, message by message. A robot's
message cannot be edited: a card that moves on (the technician's ticket, the manager's approval)
comes anew saying it replaces the earlier one, whose buttons are answered as stale."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from sqlalchemy import select

from storage.db import Database
from storage.models import Requisition, Suggestion, SurveyResponse, Ticket
from tests.dialog.chat_person import linked, report_leak, request_batteries, suggest_anonymously
from tests.dialog.dingtalk_person import DingTalkPerson
from tests.dialog.telegram_person import PNG_BYTES
from tests.dialog.test_surveys_telegram import definition

REPLACES = "（此卡片替代之前的那张）"


async def test_a_leak_from_report_to_rating_all_in_dingtalk(
    db: Database, dingtalk_user: Callable[..., DingTalkPerson]
) -> None:
    admin, sun, wang = (
        dingtalk_user("admin01", "管理员"),
        dingtalk_user("staff_sun", "孙强"),
        dingtalk_user("staff_wang", "小王"),
    )
    await linked(admin, sun, "sun.qiang")

    number = await report_leak(wang)
    # The plumber's card: an ActionCard in his chat with the ticket's buttons.
    card = sun.latest(number)
    assert "状态：已分派" in card.shown and card.msg_key == "sampleActionCard3"
    assert card.labels == ["✔ 接单", "✖ 拒绝", "💬 留言"]

    await sun.presses("✔ 接单", card)
    # Not edited (DingTalk cannot): a new card that says it replaces the old one.
    accepted = sun.latest("状态：已接单")
    assert accepted.shown.startswith(REPLACES) and "状态：已分派" in card.shown
    await sun.presses("▶ 开始维修")
    await sun.presses("✅ 已修好")
    await sun.writes("已更换阀芯")
    await sun.presses("跳过")
    assert "状态：已修好" in sun.latest(number).shown
    # The first card's Accept, pressed now: the ticket has moved on and nothing changes.
    await sun.presses("✔ 接单", card)
    async with db.unit_of_work() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == number))
        assert ticket is not None and ticket.status == "resolved"

    resolved = wang.latest("已修好")
    assert resolved.labels == ["★", "★★", "★★★", "★★★★", "★★★★★"]
    await wang.presses("★★★★★")
    await wang.presses("跳过")
    assert "谢谢你的反馈" in wang.said

    async with db.unit_of_work() as session:
        closed = await session.scalar(select(Ticket).where(Ticket.number == number))
        assert closed is not None and (closed.status, closed.rating) == ("closed", 5)
        assert closed.assignee is not None and closed.assignee.display_name == "孙强"


async def test_batteries_requested_and_approved_from_the_managers_card(
    db: Database, dingtalk_user: Callable[..., DingTalkPerson]
) -> None:
    admin, wang, huang = (
        dingtalk_user("admin01", "管理员"),
        dingtalk_user("staff_wang", "王芳"),
        dingtalk_user("staff_huang", "黄丽"),
    )
    await linked(admin, wang, "wang.fang")
    await linked(admin, huang, "huang.li")

    number = await request_batteries(wang)

    approval = huang.latest(number)
    assert approval.labels == ["✔ 批准", "✖ 驳回"]
    await huang.presses("✔ 批准")
    assert "批准" in wang.latest(number).shown
    async with db.unit_of_work() as session:
        requisition = await session.scalar(select(Requisition).where(Requisition.number == number))
        assert requisition is not None and requisition.status != "pending_manager"


@pytest.mark.subprocess  # the file is parsed in a child process (handlers/core/uploads.py)
async def test_a_survey_imported_from_a_file_sent_in_the_chat_and_answered_from_its_card(
    db: Database, dingtalk_user: Callable[..., DingTalkPerson]
) -> None:
    admin, wang = dingtalk_user("admin01", "管理员"), dingtalk_user("staff_wang", "王芳")
    await linked(admin, wang, "wang.fang")

    await admin.writes("/survey import")
    await admin.sends_file("survey.yml", definition(anonymous=False))
    assert "已导入问卷 #1「搬家后回访」（实名，4 道题）" in admin.said
    await admin.writes("/survey launch 1 dept:finance 7")
    assert "已发布给部门 财务处" in admin.said

    invitation = wang.latest("📋 新问卷")
    assert invitation.labels == ["📝 填写问卷"] and invitation.msg_key == "sampleActionCard"
    await wang.presses("📝 填写问卷")
    await wang.presses("▶ 开始")
    assert "第 1/4 题：整体满意吗？" in wang.said
    await wang.presses("4")
    # Eleven choices (0 to 10) are too many for an ActionCard: a markdown message of links.
    assert wang.chat[-1].msg_key == "sampleMarkdown" and "10" in wang.chat[-1].labels
    await wang.presses("9")
    await wang.presses("网络")
    await wang.presses("椅子")
    await wang.presses("✔ 选好了")
    assert "第 4/4 题：还想说什么？" in wang.said
    await wang.writes("网络太慢")
    await wang.presses("✔ 提交")
    assert "谢谢！你对「搬家后回访」的答案已收到。" in wang.latest("谢谢").shown
    async with db.unit_of_work() as session:
        [response] = (await session.scalars(select(SurveyResponse))).all()
    assert response.answers == {"overall": 4, "recommend": 9, "missing": ["network", "chairs"], "words": "网络太慢"}


async def test_an_anonymous_suggestion_with_a_picture(
    db: Database, dingtalk_user: Callable[..., DingTalkPerson]
) -> None:
    wang = dingtalk_user("staff_wang", "小王")
    await suggest_anonymously(wang, PNG_BYTES)
    async with db.unit_of_work() as session:
        suggestion = await session.get(Suggestion, 1)
        assert suggestion is not None and suggestion.author_id is None


async def test_an_export_arrives_as_a_file_and_the_stats_with_their_chart_as_an_image(
    db: Database, dingtalk_user: Callable[..., DingTalkPerson]
) -> None:
    import openpyxl

    admin, wang = dingtalk_user("admin01", "管理员"), dingtalk_user("staff_wang", "小王")
    number = await report_leak(wang)
    await admin.writes("/export tickets xlsx")
    assert admin.chat[-2].shown == "📎 报修单导出（全部时间），共 1 行："
    # Uploaded (media/upload), then sent as a file message.
    sent = admin.chat[-1]
    assert sent.msg_key == "sampleFile" and sent.param["fileName"] == "tickets-all.xlsx"
    kind, content = admin.world.api.media[str(sent.param["mediaId"])]
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    assert kind == "file" and sheet is not None
    assert [row[0] for row in sheet.iter_rows(values_only=True)] == ["单号", number]

    await admin.writes("/stats month")
    # The chart uploaded as an image and sent after the words.
    chart = admin.chat[-1]
    assert chart.msg_key == "sampleImageMsg"
    kind, content = admin.world.api.media[str(chart.param["photoURL"])]
    assert kind == "image" and content.startswith(b"\x89PNG")
