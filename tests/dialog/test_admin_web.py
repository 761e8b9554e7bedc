"""Admins (and managers) running Houqin from the browser chat: roles, the organisation and its
import, the audit log, exports, statistics, a broadcast, settings and scorecards."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable

import httpx
import openpyxl
import pytest
from sqlalchemy import select

from storage.db import Database
from storage.models import AuditEntry, Department, Person, Room, Suggestion, Ticket
from tests.clock import days_from_today
from tests.dialog.admin_people import person_id, refusals_of, snapshot
from tests.dialog.web_person import WebPerson


async def roles_of(db: Database, handle: str) -> list[tuple[str, str]]:
    async with db.unit_of_work() as session:
        person = await session.scalar(select(Person).where(Person.handle == handle))
        assert person is not None
        return sorted((role.role, role.scope) for role in person.roles)


async def test_the_admin_menu_shows_buttons_that_open_each_command(person: Callable[[str], WebPerson]) -> None:
    admin = person("admin")
    menu = await admin.says("/admin")
    assert menu.labels == [
        "角色",
        "组织架构",
        "审计日志",
        "导出",
        "统计",
        "群发通知",
        "系统设置",
        "考核",
        "库存",
        "报修单",
        "满意度调查",
        "会议室",
    ]
    assert "/export tickets|requisitions|stock|suggestions|readings|bookings|audit [csv|xlsx] [起 止]" in menu.text
    assert "用法：\n/role @用户名" in await admin.presses("角色")  # needs arguments: its usage
    await admin.says("/admin")
    assert "🏢 组织架构" in await admin.presses("组织架构")  # runs on its own
    # A manager's menu has only what a manager may do.
    sarah = await person("sarah.lin").says("/admin")
    assert sarah.labels == ["Statistics", "Broadcast", "Scorecards", "Tickets"]
    # A forged press of a button the menu never showed them is refused by the command itself.
    forged = await person("sarah.lin").presses_payload("adm:audit")
    assert forged.texts == ["⛔ You may not read the audit log: only Admin may do that."]


async def test_roles_are_granted_and_revoked_and_the_last_admin_cannot_go(
    db: Database, person: Callable[[str], WebPerson]
) -> None:
    admin, wang = person("admin"), person("wang.fang")
    assert (await admin.says("/role grant @wang.fang technician electrical")).texts == [
        "✅ 已授予 王芳：维修工（电气照明）。\n现有角色：职员、维修工（电气照明）"
    ]
    assert ("technician", "electrical") in await roles_of(db, "wang.fang")
    told = await wang.inbox()
    assert [n["text"] for n in told] == ["ℹ️ 系统管理员 Admin 授予了你新角色：维修工（电气照明）。"]

    for typed, answer in [
        ("/role grant @wang.fang boss", "没有「boss」这个角色"),
        ("/role grant @wang.fang technician", "维修工需要写明专长"),
        ("/role grant @wang.fang manager nowhere", "经理需要写明部门编码"),
        ("/role grant @wang.fang admin finance", "不带部门或专长"),
        ("/role grant @nobody staff", "找不到「@nobody」"),
        ("/role grant @wang.fang technician electrical", "已经是"),
        ("/role revoke @wang.fang logistics_admin", "没有物资管理员这个角色"),
    ]:
        said = await admin.says(typed)
        assert answer in said.text or typed.endswith("logistics_admin"), (typed, said.text)
    assert "✅ 已收回 王芳 的角色" in await admin.says("/role revoke @wang.fang technician")
    assert await roles_of(db, "wang.fang") == [("staff", "")]

    # The only admin cannot revoke themselves; with a second admin they can, and then that one is last.
    before = await snapshot(db)
    last = await admin.says("/role revoke @admin admin")
    assert last.texts == ["⛔ 不能收回最后一位管理员的角色：请先授予其他人管理员角色。"]
    assert await snapshot(db) == before
    [refused] = [e for e in await refusals_of(db, await person_id(db, "admin")) if e.action == "role.revoke"]
    assert refused.record == "person:20"
    assert "✅" in await admin.says("/role grant @li.na admin")
    assert "✅" in await admin.says("/role revoke @admin admin")
    li = person("li.na")
    assert "最后一位管理员" in await li.says("/role revoke @li.na admin")
    assert ("admin", "") in await roles_of(db, "li.na")


async def test_departments_and_rooms_are_managed_from_chat(db: Database, person: Callable[[str], WebPerson]) -> None:
    admin = person("admin")
    assert (await admin.says("/org dept add lab 实验室 Laboratory")).texts == ["✅ 已添加部门 lab：实验室"]
    assert "已经有编码为 lab 的部门了" in await admin.says("/org dept add lab 实验室 Lab")
    assert "编码「实验」不可用" in await admin.says("/org dept add 实验 实验室 Lab")
    assert (await admin.says("/org dept rename lab 实验中心 Lab Centre")).texts == ["✅ 部门 lab 已改名为：实验中心"]
    assert (await admin.says("/org room add A 401 小会议室 Small meeting room")).texts == [
        "✅ 已添加房间：行政楼 401 小会议室"
    ]
    assert "没有编码为 Z 的楼栋" in await admin.says("/org room add Z 1 地下室")
    assert "用法" in await admin.says("/org dept")
    listing = await admin.says("/org")
    assert "部门 lab · 实验中心 · 0 人" in listing and "楼栋 A · 行政楼 · 房间：101, 201, 305, 401" in listing
    async with db.unit_of_work() as session:
        lab = await session.scalar(select(Department).where(Department.code == "lab"))
        assert lab is not None and (lab.name_zh, lab.name_en) == ("实验中心", "Lab Centre")
        assert await session.scalar(select(Room).where(Room.code == "401")) is not None
        actions = (await session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("org.%")))).all()
    assert actions == ["org.department_add", "org.department_rename", "org.room_add"]
    # The new room is there for the next repair.
    wang = person("wang.fang")
    await wang.says("/repair")
    await wang.presses("电气照明")
    assert "401 小会议室" in (await wang.presses("行政楼")).labels


PEOPLE_WITH_MISTAKES = (
    "handle,name,department,roles\n"
    "zhou.xin,周欣,finance,staff\n"
    "BAD HANDLE,错名,finance,\n"
    "qian.li,钱立,nowhere,technician:electrical\n"
    "sun.yu,孙雨,hr,technician:rocket\n"
    "zhou.xin,周欣二,hr,\n"
    ",无名,hr,\n"
)


@pytest.mark.subprocess  # the file is parsed in a child process (handlers/core/uploads.py)
async def test_an_import_with_bad_lines_changes_nothing_and_names_every_line(
    db: Database, person: Callable[[str], WebPerson]
) -> None:
    admin = person("admin")
    before = await snapshot(db)
    said = await admin.sends_file(PEOPLE_WITH_MISTAKES.encode(), "people.csv", caption="/org import")
    assert said.texts == [
        "未导入任何内容：文件有 5 处问题：\n"
        "第 3 行：用户名「bad handle」不可用（小写字母、数字、. _ -，2–40 个字符）。\n"
        "第 4 行：没有部门「nowhere」。\n"
        "第 5 行：角色「technician:rocket」不可用。\n"
        "第 6 行：「zhou.xin」在文件中重复。\n"
        "第 7 行：缺少 handle。"
    ]
    assert await snapshot(db) == before

    good = (
        "handle,name,department,roles,locale\n"
        "zhou.xin,周欣,finance,staff,zh_CN\n"
        "qian.li,钱立,logistics,technician:electrical;logistics_staff,en\n"
    )
    summary = await admin.sends_file(good.encode("gb18030"), "people.csv", caption="/org import")
    assert "文件中有 2 行人员，全部检查通过" in summary
    assert (await admin.presses("✔")).texts == ["✅ 已导入人员：新增 2，更新 0。"]
    assert await roles_of(db, "qian.li") == [("logistics_staff", ""), ("staff", ""), ("technician", "electrical")]
    assert "钱立（@qian.li）的角色" in await admin.says("/role @qian.li")

    # Rooms from a spreadsheet, with a building that is new.
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["building", "room", "name_zh", "name_en", "building_zh", "building_en"])
    sheet.append(["E", "101", "报告厅", "Auditorium", "图书馆", "Library"])
    sheet.append(["A", "501", "档案室", "Archive", "", ""])
    buffer = io.BytesIO()
    book.save(buffer)
    await admin.sends_file(buffer.getvalue(), "rooms.xlsx", caption="/org import")
    assert (await admin.presses("✔")).texts == ["✅ 已导入房间：新增 2，更新 0。"]
    async with db.unit_of_work() as session:
        assert len((await session.scalars(select(Room).where(Room.code.in_(["101", "501"])))).all()) == 5


@pytest.mark.subprocess  # the file is parsed in a child process (handlers/core/uploads.py)
async def test_people_come_with_their_e_mail_addresses_one_person_each(
    db: Database, person: Callable[[str], WebPerson]
) -> None:
    admin = person("admin")
    first = "handle,name,department,邮箱\nzhou.xin,周欣,finance,Zhou.Xin@Example.CN\nqian.li,钱立,hr,\n"
    await admin.sends_file(first.encode(), "people.csv", caption="/org import")
    assert (await admin.presses("✔")).texts == ["✅ 已导入人员：新增 2，更新 0。"]
    assert await emails(db) == {"zhou.xin": "zhou.xin@example.cn", "qian.li": None}

    before = await snapshot(db)
    mistakes = (
        "handle,name,department,email\n"
        "sun.yu,孙雨,hr,not-an-address\n"
        "qian.li,钱立,hr,ZHOU.XIN@example.cn\n"
        "li.na,李娜,hr,li.na@example.cn\n"
        "wu.di,吴迪,hr,li.na@example.cn\n"
    )
    said = await admin.sends_file(mistakes.encode(), "people.csv", caption="/org import")
    assert said.texts == [
        "未导入任何内容：文件有 3 处问题：\n"
        "第 2 行：邮箱「not-an-address」不可用。\n"
        "第 3 行：邮箱 zhou.xin@example.cn 已属于 @zhou.xin。\n"
        "第 5 行：「li.na@example.cn」在文件中重复。"
    ]
    assert await snapshot(db) == before

    # The one holding it may keep it, or change it; an empty cell leaves it as it was.
    again = "handle,name,department,email\nzhou.xin,周欣,finance,xin.zhou@example.cn\nqian.li,钱立,hr,\n"
    await admin.sends_file(again.encode(), "people.csv", caption="/org import")
    assert (await admin.presses("✔")).texts == ["✅ 已导入人员：新增 0，更新 2。"]
    assert await emails(db) == {"zhou.xin": "xin.zhou@example.cn", "qian.li": None}


async def emails(db: Database) -> dict[str | None, str | None]:
    async with db.unit_of_work() as session:
        found = await session.execute(
            select(Person.handle, Person.email).where(Person.handle.in_(["zhou.xin", "qian.li"]))
        )
        return {handle: email for handle, email in found.all()}


async def test_the_audit_log_is_paged_and_filtered(db: Database, person: Callable[[str], WebPerson]) -> None:
    admin = person("admin")
    for hours in range(1, 13):
        await admin.says(f"/settings sla_hours urgent={hours},high=24,normal=72,low=168")
    await person("wang.fang").says("/audit")  # refused, and that is audited too
    first = await admin.says("/audit")
    assert "（共 13 条，第 1/2 页）" in first
    # Named from the catalogs, with the channel they came through (here, the browser chat).
    assert first.texts[0].count("修改设置 · sla_hours · 网页聊天") == 9  # the newest ten: nine changes and the refusal
    assert "王芳 · ⛔ 被拒绝：查看审计日志 · — · 网页聊天" in first
    assert "settings.change" not in first.texts[0] and "audit.view" not in first.texts[0]
    second = await admin.presses("下一页")
    assert "第 2/2 页" in second and second.texts[0].count("修改设置") == 3
    mine = await admin.says("/audit @wang.fang")
    assert "（共 1 条，第 1/1 页）" in mine and "查看审计日志" in mine
    assert "（共 12 条" in await admin.says("/audit sla_hours")  # by record
    assert "（没有记录）" in await admin.says("/audit 2020-01-01 2020-01-31")
    assert "用法" in await admin.says("/audit @wang.fang 2026-13-01 x")
    # A forged page button from someone else is refused like the command.
    assert "⛔" in await person("lin.hua").presses_payload("aud:1::")


async def repair_by(wang: WebPerson) -> str:
    await wang.says("/repair")
    await wang.presses("电气照明")
    await wang.presses("行政楼")
    await wang.presses("201 第一会议室")
    await wang.says("投影仪不亮了")
    await wang.presses("跳过")
    done = await wang.presses("一般")
    done = await wang.presses("✔")
    found = re.search(r"R-\d{4}-\d{6}", done.text)
    assert found is not None
    return found.group()


async def download(client: httpx.AsyncClient, url: str) -> bytes:
    response = await client.get(url)
    assert response.status_code == 200
    return response.content


async def test_exports_arrive_as_files_that_open_again(
    db: Database, person: Callable[[str], WebPerson], web_client: httpx.AsyncClient
) -> None:
    number = await repair_by(person("wang.fang"))
    lin = person("lin.hua")
    said = await lin.says("/export tickets xlsx")
    assert said.texts == ["📎 报修单导出（全部时间），共 1 行："]
    [sheet_file] = said.files
    assert sheet_file["name"] == "tickets-all.xlsx"
    book = openpyxl.load_workbook(io.BytesIO(await download(web_client, sheet_file["url"])))
    rows = list(book.active.iter_rows(values_only=True))  # type: ignore[union-attr]
    assert rows[0][:4] == ("单号", "状态", "类别", "紧急程度")
    assert rows[1][:4] == (number, "已分派", "电气照明", "一般")
    assert rows[1][6:8] == ("王芳", "赵磊")

    # The audit log as CSV, in English for an English reader: the export itself is in it next time.
    await person("admin").says("/role grant @emma.clark logistics_admin")
    emma = person("emma.clark")
    await emma.says("/export stock csv")
    said = await person("admin").says(f"/export audit csv {days_from_today(-365)} {days_from_today(365)}")
    [audit_file] = said.files
    table = list(csv.reader(io.StringIO((await download(web_client, audit_file["url"])).decode("utf-8-sig"))))
    assert table[0] == ["时间", "操作人", "操作", "对象", "结果", "渠道", "详情"]
    assert [row[2] for row in table[1:]][-3:] == ["export.tickets", "role.grant", "export.stock"]
    assert "用法" in await lin.says("/export everything")


async def test_stats_come_with_a_chart(
    db: Database, person: Callable[[str], WebPerson], web_client: httpx.AsyncClient
) -> None:
    await repair_by(person("wang.fang"))
    said = await person("lin.hua").says("/stats week")
    assert "报修：新增 1 · 完成 0" in said and "当前未完成 1" in said and "物资申领：提交 " in said
    # Resolved, then rated 1★ and reopened: work again, not done.
    async with db.unit_of_work() as session:
        ticket = await session.scalar(select(Ticket))
        assert ticket is not None
        ticket.status, ticket.resolved_at = "reopened", ticket.created_at
    said = await person("lin.hua").says("/stats week")
    assert "报修：新增 1 · 完成 0" in said and "当前未完成 1" in said
    [chart] = said.files
    assert chart["image"] and (await download(web_client, chart["url"])).startswith(b"\x89PNG")
    assert "用法" in await person("lin.hua").says("/stats yesterday")


async def test_a_broadcast_to_a_department_says_how_many_it_reaches_first(
    db: Database, person: Callable[[str], WebPerson]
) -> None:
    huang = person("huang.li")  # manager of finance
    asked = await huang.says("/broadcast")
    assert asked.labels[:1] == ["财务处"] and "全体人员" not in asked.labels  # only his own department
    await huang.presses("财务处")
    await huang.says("周五下午三点财务处开会")
    confirm = huang.heard[-1]
    assert "人数：3 人（其中 3 人可以收到）" in confirm
    assert (await huang.presses("✔")).texts == ["✅ 已发出 3 条通知（共 3 人）。"]
    for member in ("wang.fang", "li.na"):
        assert [n["text"] for n in await person(member).inbox()] == ["📢 黄丽 的通知：\n周五下午三点财务处开会"]
    assert await person("zhang.wei").inbox() == []  # hr heard nothing
    async with db.unit_of_work() as session:
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "broadcast.send"))
    assert entry is not None and entry.record == "department:finance" and entry.detail["people"] == 3


async def test_settings_are_validated_and_sla_hours_take_effect(
    db: Database, person: Callable[[str], WebPerson]
) -> None:
    admin = person("admin")
    for typed, problem in [
        ("/settings sla_hours urgent=2", "请写每个紧急程度的小时数"),
        ("/settings default_language fr", "语言只能是"),
        ("/settings digest_weekday someday", "请写星期"),
        ("/settings quiet_hours 22:00", "请写时间段"),
        ("/settings scorecard_points bonus=3", "请写事件和分数"),
    ]:
        said = await admin.says(typed)
        assert problem in said.text, typed
    assert "用法" in await admin.says("/settings colour blue")
    assert "✅ 已修改处理时限（小时）（sla_hours）：urgent=2,high=12,normal=48,low=100" in await admin.says(
        "/settings sla_hours urgent=2 high=12 normal=48 low=100"
    )
    assert "工作日（working_days）：mon,tue,wed,thu,fri,sat" in await admin.says("/settings working_days 周一-周六")
    overview = await admin.says("/settings")
    assert "处理时限（小时）（sla_hours）：urgent=2,high=12,normal=48,low=100 · 系统管理员 Admin 于" in overview
    assert "周报发送时间（digest_time）：09:00 · 默认" in overview
    number = await repair_by(person("wang.fang"))
    async with db.unit_of_work() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == number))
    assert ticket is not None and ticket.due_at is not None
    assert (ticket.due_at - ticket.created_at).total_seconds() == 48 * 3600  # normal: 48 h now, not 72


async def test_scorecards_are_for_managers_and_the_people_themselves(person: Callable[[str], WebPerson]) -> None:
    lin = person("lin.hua")  # manages logistics
    assert "📊 后勤保障处 考核" in await lin.says("/scorecard logistics 2026-10")
    assert "📊 赵磊 的考核（2026-10-01 – 2026-10-31）" in await lin.says("/scorecard @zhao.lei 2026-10")
    huang = person("huang.li")  # manages finance, not logistics
    assert "⛔" in await huang.says("/scorecard @zhao.lei")
    assert "📊 财务处 考核" in await huang.says("/scorecard")
    assert "📊 赵磊 的考核" in await person("zhao.lei").says("/scorecard")  # their own
    assert "⛔" in await person("zhao.lei").says("/scorecard @sun.qiang")
    assert "用法" in await lin.says("/scorecard @nobody")
    # Every department, a page at a time.
    first = await lin.says("/scorecard 2026-10")
    assert first.texts[0].startswith("📊 各部门考核（2026-10-01 – 2026-10-31）（共 5 条，第 1/3 页）\n📊 财务处 考核")
    assert "📊 后勤保障处 考核" in await lin.presses("下一页")
    assert "⛔" in await huang.presses_payload("sc:2:2026-10")  # a manager sees his own, not every page


async def test_a_supervisor_closes_and_reopens_tickets_from_chat(
    db: Database, person: Callable[[str], WebPerson]
) -> None:
    wang, zhao, lin = person("wang.fang"), person("zhao.lei"), person("lin.hua")
    number = await repair_by(wang)
    early = await lin.says(f"/ticket close {number}")  # not resolved yet: not now, and not a refusal
    assert early.texts == [f"{number} 当前是「已分派」，不能进行这个操作。"]
    for button in ("✔ 接单", "▶ 开始维修", "✅ 已修好"):
        await zhao.says(f"/ticket {number}")  # the card as it is now, with its buttons
        await zhao.presses(button)
    await zhao.presses("跳过")
    await zhao.presses("跳过")
    # The reporter never confirms; the logistics admin closes it, then reopens it after a complaint.
    assert (await wang.says(f"/ticket close {number}")).texts == [f"你没有权限对 {number} 进行这个操作。"]
    assert (await lin.says(f"/ticket close {number} 已电话确认")).texts == [f"✅ {number} 已关闭。"]
    assert f"{number} 已由管理人员关闭。" in [n["text"] for n in await wang.inbox()]
    assert (await lin.says(f"/ticket reopen {number} 又坏了")).texts == [f"✅ {number} 已重新打开，维修工会收到通知。"]
    async with db.unit_of_work() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == number))
        actions = (
            await session.scalars(select(AuditEntry.action).where(AuditEntry.record == number).order_by(AuditEntry.id))
        ).all()
    assert ticket is not None and (ticket.status, ticket.reopen_count) == ("reopened", 1)
    assert actions[-2:] == ["ticket.close", "ticket.reopen"]
    assert "用法：/ticket close" in await lin.says("/ticket close")


async def test_a_flow_checks_again_when_it_submits(db: Database, person: Callable[[str], WebPerson]) -> None:
    huang = person("huang.li")
    await huang.says("/broadcast finance 下午停电")
    assert "人数：3 人" in huang.heard[-1]
    # While he reads the summary, an admin takes his manager role away.
    assert "✅" in await person("admin").says("/role revoke @huang.li manager")
    before = await snapshot(db)
    refused = await huang.presses("✔")
    assert refused.texts == ["⛔ 你没有权限向部门发通知。只有部门负责人、系统管理员可以这样做。"]
    after = await snapshot(db)
    assert after["outbox"] == before["outbox"] and after["done"] == before["done"]
    [entry] = [e for e in await refusals_of(db, await person_id(db, "huang.li")) if e.action == "broadcast.department"]
    assert entry.record == "department:finance"


async def test_a_suggestions_export_never_names_an_anonymous_suggester(
    db: Database, person: Callable[[str], WebPerson], web_client: httpx.AsyncClient
) -> None:
    async with db.unit_of_work() as session:
        wang = await session.scalar(select(Person).where(Person.handle == "wang.fang"))
        assert wang is not None
        session.add(Suggestion(topic="canteen", body="食堂增加素菜", named=True, author_id=wang.id, public=True))
        session.add(Suggestion(topic="cleaning", body="三楼卫生间需要更勤打扫", named=False, route="sealed:li.na"))
    said = await person("admin").says("/export suggestions csv")
    [export] = said.files
    content = (await download(web_client, export["url"])).decode("utf-8-sig")
    table = list(csv.reader(io.StringIO(content)))
    assert table[0] == ["单号", "状态", "主题", "内容", "提出人", "公开", "点赞", "处理结果", "提交时间"]
    assert [row[2:5] for row in table[1:]] == [
        ["食堂", "食堂增加素菜", "王芳"],
        ["保洁", "三楼卫生间需要更勤打扫", "匿名"],
    ]
    assert "sealed" not in content and "李娜" not in content
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", table[2][8])  # the day only, for an anonymous one
