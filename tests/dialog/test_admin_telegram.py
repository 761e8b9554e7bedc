"""Admins on Telegram, through python-telegram-bot's Application and HTTP layer against the fake Bot
API: the menu's buttons, an import with bad lines, an XLSX export that opens again, a broadcast to a
department that reaches its people's Telegram chats, a role change told to its person, a chart, and
the default language changed from chat."""

from __future__ import annotations

import io
from collections.abc import Callable

import openpyxl
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from storage.db import Database
from storage.models import Person, PersonRole
from tests.dialog.admin_people import link_telegram, snapshot
from tests.dialog.telegram_person import TelegramPerson


async def test_the_menu_buttons_open_the_commands(db: Database, telegram_user: Callable[..., TelegramPerson]) -> None:
    admin = await link_telegram(db, telegram_user, 7301, "admin")
    menu = await admin.says("/admin")
    assert [b["text"] for b in menu.messages[0].buttons] == [
        "角色", "组织架构", "审计日志", "导出", "统计", "群发通知", "系统设置", "考核", "库存", "报修单",
        "满意度调查", "会议室",
    ]  # fmt: skip
    assert "📜 审计日志 · 全部人员 · 全部时间" in await admin.presses("审计日志")
    await admin.says("/admin")
    assert "用法：/export tickets" in await admin.presses("导出")


@pytest.mark.subprocess  # the file is parsed in a child process (handlers/core/uploads.py)
async def test_an_import_with_bad_lines_then_a_good_one(
    db: Database, telegram_user: Callable[..., TelegramPerson]
) -> None:
    admin = await link_telegram(db, telegram_user, 7302, "admin")
    before = await snapshot(db)
    bad = "code,name_zh,name_en\nlab,实验室,Laboratory\nlab,实验室二,Lab 2\n,无编码,No code\n库房,库房,Store\n"
    said = await admin.sends_file("departments.csv", "text/csv", bad.encode(), caption="/org import")
    assert said.texts == [
        "未导入任何内容：文件有 3 处问题：\n"
        "第 3 行：「lab」在文件中重复。\n"
        "第 4 行：缺少 code。\n"
        "第 5 行：编码「库房」不可用。"
    ]
    assert await snapshot(db) == before
    good = "code,name_zh,name_en\nlab,实验室,Laboratory\nfinance,财务部,Finance Department\n"
    summary = await admin.sends_file("departments.csv", "text/csv", good.encode(), caption="/org import")
    assert "文件中有 2 行部门，全部检查通过" in summary
    assert await admin.presses("✔") == ["✅ 已导入部门：新增 1，更新 1。"]
    assert "部门 finance · 财务部" in await admin.says("/org")


async def test_an_xlsx_export_arrives_as_a_document_that_opens_again(
    db: Database, telegram_user: Callable[..., TelegramPerson]
) -> None:
    lin = await link_telegram(db, telegram_user, 7303, "lin.hua")
    heard = await lin.says("/export stock xlsx")
    text, document = heard.messages
    assert text.text == "📎 库存导出（全部时间），共 27 行："
    assert document.kind == "document" and document.file is not None
    assert document.file.filename == "stock-all.xlsx"
    sheet = openpyxl.load_workbook(io.BytesIO(document.file.data)).active
    assert sheet is not None and sheet.title == "库存"
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("编码", "中文名称", "英文名称")
    assert ("PAPER-A4", "A4 打印纸 70g 500张", "A4 copy paper, 70 g, 500 sheets") in [row[:3] for row in rows]


async def test_stats_arrive_with_a_chart(db: Database, telegram_user: Callable[..., TelegramPerson]) -> None:
    huang = await link_telegram(db, telegram_user, 7304, "huang.li")
    heard = await huang.says("/stats month")
    assert heard.messages[0].text is not None and heard.messages[0].text.startswith("📈 统计（")
    assert heard.messages[-1].kind == "photo"


async def test_a_broadcast_to_a_department_reaches_its_telegram_chats(
    db: Database, telegram_user: Callable[..., TelegramPerson]
) -> None:
    admin = await link_telegram(db, telegram_user, 7305, "admin")
    wang = await link_telegram(db, telegram_user, 7306, "wang.fang")
    zhang = await link_telegram(db, telegram_user, 7307, "zhang.wei")  # hr
    await admin.says("/broadcast")
    await admin.presses("财务处")
    await admin.says("明天上午财务系统升级，暂停报销")
    assert "人数：3 人（其中 3 人可以收到）" in (admin.latest("人数").text or "")
    done = await admin.presses("✔")
    assert done.texts == ["✅ 已发出 3 条通知（共 3 人）。"]
    assert wang.latest("📢").text == "📢 系统管理员 Admin 的通知：\n明天上午财务系统升级，暂停报销"
    assert not [m for m in zhang.chat if "📢" in (m.text or "")]


async def test_a_role_granted_on_telegram_is_told_to_its_person(
    db: Database, telegram_user: Callable[..., TelegramPerson]
) -> None:
    admin = await link_telegram(db, telegram_user, 7308, "admin")
    chen = await link_telegram(db, telegram_user, 7309, "chen.jing")
    assert "✅ 已授予 陈静：部门负责人（teaching）" in await admin.says("/role grant @chen.jing manager teaching")
    assert chen.latest("新角色").text == "ℹ️ 系统管理员 Admin 授予了你新角色：部门负责人（teaching）。"
    # The last admin rule holds on Telegram too.
    assert "最后一位管理员" in await admin.says("/role revoke @admin admin")
    async with db.unit_of_work() as session:
        admins = await session.scalar(select(func.count()).select_from(PersonRole).where(PersonRole.role == "admin"))
    assert admins == 1


async def test_the_default_language_changed_from_chat_is_used(
    db: Database, telegram_user: Callable[..., TelegramPerson]
) -> None:
    admin = await link_telegram(db, telegram_user, 7310, "admin")
    newcomer = telegram_user(7311, "Alex", None)  # their app says no language
    assert "你好，Alex" in await newcomer.says("/start")
    assert "✅" in await admin.says("/settings default_language en")
    assert "Hello, Alex" in await newcomer.says("/start")
    async with db.unit_of_work() as session:
        alex = await session.scalar(select(Person).where(Person.display_name == "Alex"))
    assert alex is not None and alex.locale is None  # their own choice is still theirs to make


async def test_an_invitation_joins_a_telegram_account_to_the_person_an_admin_added(
    db: Database, telegram_user: Callable[..., TelegramPerson]
) -> None:
    admin = await link_telegram(db, telegram_user, 7312, "admin")
    invited = await admin.says("/org invite @chen.jing")
    code = invited.text.split("/start join_")[1].split()[0]
    chen = telegram_user(7313, "Jing")
    assert await chen.says(f"/start join_{code}") == ["✅ 欢迎，陈静！你的账号已绑定，可以开始使用了。"]
    assert "这个邀请码无效" in await telegram_user(7314, "Other").says(f"/start join_{code}")  # once only
    assert "这个邀请码无效" in await telegram_user(7315, "Guess").says("/start join_0123456789abcdef")
    # She is 陈静 now, on Telegram: roles given to 陈静 reach this chat.
    await admin.says("/role grant @chen.jing logistics_staff")
    assert chen.latest("新角色").text == "ℹ️ 系统管理员 Admin 授予了你新角色：后勤人员。"
    async with db.unit_of_work() as session:
        person = await session.scalar(
            select(Person).where(Person.handle == "chen.jing").options(selectinload(Person.accounts))
        )
        assert person is not None and {a.channel for a in person.accounts} == {"web", "telegram"}
