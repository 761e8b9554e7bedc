"""Supplies, a survey and a suggestion in Feishu, card by card: the approval card patched in place
as the manager approves, a survey imported from a file sent in the chat and answered from its
invitation card, an anonymous suggestion with a picture."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from sqlalchemy import select

from storage.db import Database
from storage.models import Requisition, Suggestion, SurveyResponse
from tests.dialog.card_person import linked
from tests.dialog.feishu_person import FeishuPerson
from tests.dialog.telegram_person import PNG_BYTES
from tests.dialog.test_surveys_telegram import definition

REQUISITION = re.compile(r"S-\d{4}-\d{6}")


async def test_batteries_requested_and_approved_from_the_managers_card(
    db: Database, feishu_user: Callable[..., FeishuPerson]
) -> None:
    admin, wang, huang = (
        feishu_user("ou_admin", "管理员"),
        feishu_user("ou_wang", "王芳"),
        feishu_user("ou_huang", "黄丽"),
    )
    await linked(admin, wang, "wang.fang")
    await linked(admin, huang, "huang.li")

    await wang.writes("领用")
    await wang.writes("电池")  # words where the categories are offered search the catalog
    await wang.presses("5 号电池")
    await wang.writes("5")
    await wang.presses("✔ 选好了")
    await wang.writes("会议室遥控器")
    assert "黄丽" in wang.chat[-2].shown  # the confirmation names who will approve
    await wang.presses("✔ 提交")
    number = REQUISITION.search(wang.latest("已为你预留").shown)
    assert number is not None

    approval = huang.latest(number.group())
    assert approval.labels == ["✔ 批准", "✖ 驳回"]
    await huang.presses("✔ 批准")
    # The manager's card, patched in place: approved, its buttons gone.
    assert approval.edits >= 1 and "✔ 批准" not in approval.labels
    assert "批准" in wang.latest(number.group()).shown
    async with db.unit_of_work() as session:
        requisition = await session.scalar(select(Requisition).where(Requisition.number == number.group()))
        assert requisition is not None and requisition.status != "pending_manager"


@pytest.mark.subprocess  # the file is parsed in a child process (handlers/core/uploads.py)
async def test_a_survey_imported_from_a_file_sent_in_the_chat_and_answered_from_its_card(
    db: Database, feishu_user: Callable[..., FeishuPerson]
) -> None:
    admin, wang = feishu_user("ou_admin", "管理员"), feishu_user("ou_wang", "王芳")
    await linked(admin, wang, "wang.fang")

    await admin.writes("/survey import")
    await admin.sends_file("survey.yml", definition(anonymous=False))
    assert "已导入问卷 #1「搬家后回访」（实名，4 道题）" in admin.said
    await admin.writes("/survey launch 1 dept:finance 7")
    assert "已发布给部门 财务处" in admin.said

    invitation = wang.latest("📋 新问卷")
    assert invitation.labels == ["📝 填写问卷"]
    await wang.presses("📝 填写问卷")
    await wang.presses("▶ 开始")
    assert "第 1/4 题：整体满意吗？" in wang.said
    await wang.presses("4")
    # Eleven choices (0 to 10) are too many for a row of buttons: a drop-down.
    await wang.picks("9")
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


async def test_an_anonymous_suggestion_with_a_picture(db: Database, feishu_user: Callable[..., FeishuPerson]) -> None:
    wang = feishu_user("ou_wang", "小王")
    await wang.writes("/suggest")
    assert "想就哪方面提建议？" in wang.said
    await wang.presses("食堂")
    await wang.writes("希望食堂每周增加一次川菜")
    await wang.sends_image(PNG_BYTES)
    await wang.presses("🔒 匿名")
    await wang.presses("📢 公开")
    assert "附照片 1 张" in wang.chat[-2].shown and "🔒 匿名 · 📢 公开" in wang.chat[-2].shown
    await wang.presses("✔ 提交")
    assert "谢谢！你的建议 #1 已提交。" in wang.latest("谢谢").shown
    async with db.unit_of_work() as session:
        suggestion = await session.get(Suggestion, 1)
        assert suggestion is not None and suggestion.author_id is None


async def test_an_export_arrives_as_a_file_and_the_stats_with_their_chart_as_an_image(
    db: Database, feishu_user: Callable[..., FeishuPerson]
) -> None:
    import io

    import openpyxl

    from tests.dialog.card_person import report_leak

    admin, wang = feishu_user("ou_admin", "管理员"), feishu_user("ou_wang", "小王")
    number = await report_leak(wang)
    await admin.writes("/export tickets xlsx")
    assert admin.chat[-2].shown == "📎 报修单导出（全部时间），共 1 行："
    # Uploaded (im/v1/files), then sent as a file message.
    assert admin.chat[-1].msg_type == "file"
    name, content = admin.world.api.files[admin.chat[-1].content["file_key"]]
    assert name == "tickets-all.xlsx"
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    assert sheet is not None and [row[0] for row in sheet.iter_rows(values_only=True)] == ["单号", number]

    await admin.writes("/stats month")
    # The chart uploaded as an image (im/v1/images) and sent after the words.
    assert admin.chat[-1].msg_type == "image"
    assert admin.world.api.images[admin.chat[-1].content["image_key"]].startswith(b"\x89PNG")


@pytest.mark.subprocess  # the file is parsed in a child process (handlers/core/uploads.py)
async def test_an_anonymous_answer_from_feishu_leaves_its_words_only_in_the_response(
    db: Database, feishu_user: Callable[..., FeishuPerson], caplog: pytest.LogCaptureFixture
) -> None:
    """Feishu's own layers (the SDK's logger, the channel, the delivery keys of presses) keep the promise too."""
    import logging

    from bot.channels.registry import quieten_transport
    from tests.dialog.traces import logged, tables_holding

    caplog.set_level(logging.DEBUG)
    quieten_transport()
    admin, wang = feishu_user("ou_admin", "管理员"), feishu_user("ou_wang", "王芳")
    await linked(admin, wang, "wang.fang")
    await admin.writes("/survey import")
    await admin.sends_file("survey.yml", definition(anonymous=True))
    await admin.writes("/survey launch 1 dept:finance 7")
    await wang.presses("📝 填写问卷")
    caplog.clear()

    secret = "食堂的秘密意见丁"
    await wang.presses("▶ 开始")
    await wang.presses("5")
    await wang.picks("10")
    await wang.presses("网络")
    await wang.presses("✔ 选好了")
    await wang.writes(secret)
    assert secret not in wang.said  # nothing of the answers is repeated back
    await wang.presses("✔ 提交")
    assert "匿名答案已收到" in wang.latest("匿名答案已收到").shown
    log_lines = logged(caplog)
    async with db.unit_of_work() as session:
        [response] = (await session.scalars(select(SurveyResponse))).all()
    assert await tables_holding(db, secret) == {"survey_responses"} and response.person_id is None
    assert [line for line in log_lines if secret in line or "ou_wang" in line] == []
