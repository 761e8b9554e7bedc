"""Admins on Slack, through Bolt's request handling with signed payloads and the fake Web API: the
admin menu and its buttons, roles, an import with bad lines (on the modal's file page) and a good one
(dropped into the DM), an XLSX export uploaded to the DM that opens again, a broadcast to a department
reaching its people on Slack and on Telegram, scorecards against the hand-computed month, settings.

Everyone is a person of the demo organisation who joined their Slack account with a link code."""

from __future__ import annotations

import io

import openpyxl
import pytest
from sqlalchemy import func, select

from storage.db import Database
from storage.models import Department, PersonRole, Ticket
from tests.dialog.admin_people import LINK_CODE, link_slack, person_id, refusals_of, snapshot
from tests.dialog.slack_person import SlackPerson, SlackWorld
from tests.dialog.telegram_person import TelegramPerson
from tests.dialog.test_slack_repair import report_leak
from tests.dialog.web_person import WebPerson
from tests.fakes.telegram_api import FakeBotAPI
from tests.test_scorecards import october


async def test_the_admin_menu_and_one_of_its_buttons(slack_office: SlackWorld) -> None:
    admin = await link_slack(slack_office, "UADM", "admin")
    await admin.slash("/houqin", "admin")
    assert [b["text"]["text"] for b in admin.dm[-1].buttons] == [
        "角色", "组织架构", "审计日志", "导出", "统计", "群发通知", "系统设置", "考核", "库存", "报修单",
        "满意度调查", "会议室",
    ]  # fmt: skip
    await admin.presses("审计日志")
    log = admin.dm[-1].shown
    assert log.startswith("📜 审计日志 · 全部人员 · 全部时间（共 1 条，第 1/1 页）")
    assert "系统管理员 Admin · 关联聊天账号 · person:20 · Slack" in log  # joining Slack was audited
    assert admin.dm[-2].buttons == []  # the menu's buttons went once one was pressed
    # A manager's menu has only what a manager may do.
    huang = await link_slack(slack_office, "UHUANG", "huang.li")
    await huang.slash("/houqin", "admin")
    assert [b["text"]["text"] for b in huang.dm[-1].buttons] == ["统计", "群发通知", "考核", "报修单"]


async def test_a_role_granted_and_revoked_is_told_to_its_person_and_the_last_admin_stays(
    db: Database, slack_office: SlackWorld
) -> None:
    admin = await link_slack(slack_office, "UADM", "admin")
    wang = await link_slack(slack_office, "UWANG", "wang.fang")
    await admin.slash("/houqin", "role grant @wang.fang technician electrical")
    assert admin.dm[-1].shown == "✅ 已授予 王芳：维修工（电气照明）。\n现有角色：职员、维修工（电气照明）"
    assert wang.dm[-1].shown == "ℹ️ 系统管理员 Admin 授予了你新角色：维修工（电气照明）。"
    await admin.slash("/houqin", "role revoke @wang.fang technician")
    assert admin.dm[-1].shown == "✅ 已收回 王芳 的角色：维修工。\n现有角色：职员"
    assert wang.dm[-1].shown == "ℹ️ 系统管理员 Admin 收回了你的角色：维修工。"

    before = await snapshot(db)
    await admin.slash("/houqin", "role revoke @admin admin")
    assert admin.dm[-1].shown == "⛔ 不能收回最后一位管理员的角色：请先授予其他人管理员角色。"
    assert await snapshot(db) == before
    [refused] = [e for e in await refusals_of(db, await person_id(db, "admin")) if e.action == "role.revoke"]
    assert (refused.record, refused.channel) == ("person:20", "slack")
    async with db.unit_of_work() as session:
        admins = await session.scalar(select(func.count()).select_from(PersonRole).where(PersonRole.role == "admin"))
    assert admins == 1


DEPARTMENTS_WITH_MISTAKES = (
    "code,name_zh,name_en\nlab,实验室,Laboratory\nlab,实验室二,Lab 2\n,无编码,No code\n库房,库房,Store\n"
)
DEPARTMENTS = "code,name_zh,name_en\nlab,实验室,Laboratory\nfinance,财务部,Finance Department\n"


@pytest.mark.subprocess  # the file is parsed in a child process (handlers/core/uploads.py)
async def test_an_import_with_bad_lines_changes_nothing_then_a_good_file_in_the_dm_is_applied(
    db: Database, slack_office: SlackWorld
) -> None:
    admin = await link_slack(slack_office, "UADM", "admin")
    before = await snapshot(db)
    await admin.slash("/houqin", "org import")
    assert admin.page.startswith("导入人员、部门或房间\n请发送 CSV 或 XLSX 文件。第一行为表头：")
    await admin.attaches(DEPARTMENTS_WITH_MISTAKES.encode(), name="departments.csv", mimetype="text/csv")
    # Beside the page's file input, every bad line by its number; the page stays for another file.
    assert admin.errors == {
        "answer": "未导入任何内容：文件有 3 处问题：\n"
        "第 3 行：「lab」在文件中重复。\n"
        "第 4 行：缺少 code。\n"
        "第 5 行：编码「库房」不可用。"
    }
    assert admin.modal is not None
    await admin.closes()
    assert "没有保存任何内容" in admin.dm[-1].shown
    assert await snapshot(db) == before

    # The corrected file dropped into the DM with the command as its message: checked, then confirmed.
    await admin.drops_file("departments.csv", DEPARTMENTS.encode(), "text/csv", "/org import")
    summary = admin.latest("全部检查通过").shown
    assert summary.startswith("文件中有 2 行部门，全部检查通过。")
    assert "第 3 行：finance · 财务部 · Finance Department" in summary
    assert (await snapshot(db))["departments"] == before["departments"]  # not until confirmed
    await admin.presses("✔")
    assert admin.dm[-1].shown == "✅ 已导入部门：新增 1，更新 1。"
    async with db.unit_of_work() as session:
        found = await session.scalars(select(Department).where(Department.code.in_(["lab", "finance"])))
        assert sorted((d.code, d.name_zh) for d in found) == [("finance", "财务部"), ("lab", "实验室")]


async def test_an_xlsx_export_is_uploaded_to_the_dm_and_opens_again(db: Database, slack_office: SlackWorld) -> None:
    number = await report_leak(SlackPerson.of(slack_office, "UREPORTER", "小王"))
    lin = await link_slack(slack_office, "ULIN", "lin.hua")
    await lin.slash("/houqin", "export tickets xlsx")
    assert lin.dm[-1].shown == "📎 报修单导出（全部时间），共 1 行："
    # Through files.getUploadURLExternal, the upload itself and files.completeUploadExternal.
    [uploaded] = lin.api.files[lin.api.dm_of("ULIN")]
    assert uploaded.name == "tickets-all.xlsx"
    sheet = openpyxl.load_workbook(io.BytesIO(uploaded.content)).active
    assert sheet is not None and sheet.title == "报修单"
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:4] == ("单号", "状态", "类别", "紧急程度")
    assert rows[1][:4] == (number, "已分派", "给排水", "较急")
    assert len(rows) == 2
    async with db.unit_of_work() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == number))
    assert ticket is not None and ticket.channel == "slack"


async def test_a_broadcast_to_a_department_says_how_many_first_and_reaches_slack_and_telegram(
    db: Database, slack_office_and_telegram: SlackWorld, bot_api: FakeBotAPI
) -> None:
    world = slack_office_and_telegram
    admin = await link_slack(world, "UADM", "admin")
    wang = await link_slack(world, "UWANG", "wang.fang")  # finance, on Slack
    zhang = await link_slack(world, "UZHANG", "zhang.wei")  # hr, on Slack
    li = await link_telegram_by_code(world, bot_api, db, 7401, "li.na")  # finance, on Telegram
    await admin.slash("/houqin", "broadcast")
    assert "发给谁？" in admin.page and admin.options()[:2] == ["全体人员", "财务处"]
    await admin.chooses("财务处")
    await admin.types("明天上午财务系统升级，暂停报销")
    assert "人数：3 人（其中 3 人可以收到）" in admin.page  # 王芳, 李娜 and 黄丽 (browser chat)
    await admin.submits()
    assert admin.modal is None and admin.dm[-1].shown == "✅ 已发出 3 条通知（共 3 人）。"
    heard = "📢 系统管理员 Admin 的通知：\n明天上午财务系统升级，暂停报销"
    assert wang.dm[-1].shown == heard
    assert li.chat[-1].text == heard
    assert not [m for m in zhang.dm if "📢" in m.shown]  # hr heard nothing


async def link_telegram_by_code(
    world: SlackWorld, bot_api: FakeBotAPI, db: Database, user_id: int, handle: str
) -> TelegramPerson:
    """The demo person `handle` joins a Telegram account to themselves: /link in the browser chat,
    /link CODE in Telegram."""
    code = LINK_CODE.search((await WebPerson(world.http, handle).says("/link")).text)
    assert code is not None
    telegram = TelegramPerson(bot_api, db, bot_api.user(user_id, handle, "zh-hans"))
    assert "已关联" in await telegram.says(f"/link {code.group()}")
    return telegram


async def test_scorecards_match_the_hand_computed_month(db: Database, slack_office: SlackWorld) -> None:
    """October 2026 as tests/test_scorecards.py works it out: 赵磊 volume 3, on time 67%, rating 3.5,
    reopened 33%, points −2; 郭涛 handed out 2 in 4.0 h on average."""
    await october(db)
    lin = await link_slack(slack_office, "ULIN", "lin.hua")  # manages logistics
    await lin.slash("/houqin", "scorecard logistics 2026-10")
    card = lin.dm[-1].shown.splitlines()
    assert card[:3] == [
        "📊 后勤保障处 考核（2026-10-01 – 2026-10-31）",
        "完成维修：3 单 · 按时率 67% · 平均评分 3.5 · 返修率 33%",
        "发放物资：2 单 · 平均用时 4.0 小时 · 积分 -2",
    ]
    assert "• 赵磊：3 单 · 按时 67% · 评分 3.5 · 返修 33% · 发放 0 · 积分 -2" in card
    assert "• 郭涛：0 单 · 按时 — · 评分 — · 返修 — · 发放 2 · 积分 +0" in card
    await lin.slash("/houqin", "scorecard @zhao.lei 2026-10")
    assert lin.dm[-1].shown == (
        "📊 赵磊 的考核（2026-10-01 – 2026-10-31）\n"
        "完成维修：3 单 · 按时率 67% · 平均评分 3.5 · 返修率 33%\n"
        "发放物资：0 单 · 平均用时 — 小时\n"
        "奖惩积分：-2"
    )


async def test_settings_are_shown_and_one_is_changed(db: Database, slack_office: SlackWorld) -> None:
    admin = await link_slack(slack_office, "UADM", "admin")
    await admin.slash("/houqin", "settings")
    overview = admin.dm[-1].shown
    assert "处理时限（小时）（sla_hours）：urgent=4,high=24,normal=72,low=168 · 默认" in overview
    await admin.slash("/houqin", "settings sla_hours urgent=2 high=12 normal=48 low=100")
    assert admin.dm[-1].shown == "✅ 已修改处理时限（小时）（sla_hours）：urgent=2,high=12,normal=48,low=100"
    await admin.slash("/houqin", "settings")
    changed = "处理时限（小时）（sla_hours）：urgent=2,high=12,normal=48,low=100 · 系统管理员 Admin 于"
    assert changed in admin.dm[-1].shown
    # The next repair reported on Slack (较急, high) is due in 12 hours, not 24.
    number = await report_leak(SlackPerson.of(slack_office, "UREPORTER", "小王"))
    async with db.unit_of_work() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == number))
    assert ticket is not None and ticket.due_at is not None
    assert (ticket.due_at - ticket.created_at).total_seconds() == 12 * 3600
