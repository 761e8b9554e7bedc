"""An inspection round (巡检) walked in Telegram, through python-telegram-bot's Application against the
fake Bot API: the logistics admin imports the route, the electrician walks it, a reading out of range
asks what is wrong and opens a repair ticket with the photo, and the round ends with its number; bad
answers change nothing; two inspectors cannot both have one round; a door code jumps to its
checkpoint; leaving halfway and coming back resumes; a second fault at a checkpoint whose ticket is
still open is noted on that ticket."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select

from bot.service import build_service
from handlers.inspections.routes import keep, parse, resolve
from storage.db import Database
from storage.models import (
    Building,
    InspectionCheckpoint,
    InspectionResult,
    InspectionRound,
    Meter,
    MeterReading,
    Photo,
    Ticket,
    utcnow,
)
from tests.clock import today
from tests.dialog.admin_people import link_telegram
from tests.dialog.conftest import telegram_running, telegram_settings
from tests.dialog.inspection_routes import FIRE_ROUND, every_day_a_working_day
from tests.dialog.telegram_person import TelegramPerson
from tests.fakes.telegram_api import FakeBotAPI


async def imported(db: Database, telegram_user: Callable[..., TelegramPerson]) -> None:
    await every_day_a_working_day(db)
    lin = await link_telegram(db, telegram_user, 8100, "lin.hua")  # logistics admin
    heard = await lin.sends_file("fire.yml", "application/x-yaml", FIRE_ROUND.encode(), caption="/inspect import")
    assert heard.texts == ["行政楼消防巡检（FIRE-A）：检查点 2 个，检查项 4 项，排班 1 条。", "确认导入这条路线？"]
    assert (await lin.presses("✔ 提交")).texts == ["路线 行政楼消防巡检（FIRE-A）已导入，编号 #1，第 1 版。"]


async def test_a_round_with_a_reading_out_of_range_opens_a_ticket_with_its_photo(
    db: Database, telegram_user: Callable[..., TelegramPerson]
) -> None:
    await imported(db, telegram_user)
    zhao = await link_telegram(db, telegram_user, 8102, "zhao.lei")  # an electrician: the round is theirs

    # Due at 23:59 so it is not late, but in the day's last minute it is (the service runs on the real clock).
    [today] = (await zhao.says("/inspect")).texts
    assert re.fullmatch(r"你今天有 1 项巡检：\n• 行政楼消防巡检 · 23:59 前 · (⚠️ 已过时)?未开始", today)
    assert (await zhao.presses("▶ 开始：行政楼消防巡检")).texts == [
        "🔍 行政楼消防巡检\n检查点 1/2：一楼大厅消防点\n\n灭火器在位\n是否正常？\n\n已完成 0/4 项。"
    ]
    assert (await zhao.presses("✅ 正常")).texts == [
        "🔍 行政楼消防巡检\n检查点 1/2：一楼大厅消防点\n\n压力表读数\n请输入读数，单位 MPa（正常范围：0.8–1.2 MPa）。"
        "\n\n已完成 1/4 项。"
    ]
    # Answers that are not a reading are refused, and nothing is kept.
    assert "请输入数字读数" in (await zhao.says("不知道")).text
    assert "单位是 MPa，不是“kPa”" in (await zhao.says("150 kPa")).text
    assert "读数不能为负数" in (await zhao.says("-1")).text
    assert "太大了" in (await zhao.says("99999999999")).text
    assert "请输入数字读数" in (await zhao.sends_photo()).text
    async with db.unit_of_work() as session:
        assert len((await session.scalars(select(InspectionResult))).all()) == 1

    assert (await zhao.says("1.5 MPa")).texts == [
        "一楼大厅消防点 的“压力表读数”有什么问题（读数 1.5 MPa，正常范围 0.8–1.2 MPa）？请向维修人员描述。"
    ]
    await zhao.says("压力表指针在红区，需要更换")
    await zhao.sends_photo()
    heard = await zhao.presses("完成")
    assert re.fullmatch(
        r"🛠 已开报修单：✅ 报修已提交，单号 R-\d{4}-000001。\n其他 · 一般\n已派给维修工 周军。\n.*",
        heard.texts[0],
        re.S,
    )
    assert heard.texts[1].startswith("🔍 行政楼消防巡检\n检查点 2/2：会议室消防点\n\n消火栓箱照片\n请拍照发送。")
    assert "这一项需要照片" in (await zhao.says("拍好了")).text
    await zhao.sends_photo()
    heard = await zhao.says("一切正常")
    assert re.fullmatch(r"行政楼消防巡检：检查点 2 个，已填 4 项，异常 1 项。报修单：R-\d{4}-000001。", heard.texts[0])
    heard = await zhao.presses("✔ 提交")
    assert re.fullmatch(
        r"✅ 巡检 I-\d{4}-000001 已完成：行政楼消防巡检，异常 1 项。(（超过规定时间完成）)?", heard.texts[0]
    )

    async with db.unit_of_work() as session:
        round_ = await session.scalar(select(InspectionRound))
        assert round_ is not None and round_.status == "done" and round_.number == heard.texts[0].split()[2]
        results = (await session.scalars(select(InspectionResult).order_by(InspectionResult.id))).all()
        ticket = await session.scalar(select(Ticket))
        assert ticket is not None and ticket.room_id is not None and ticket.category == "other"
        assert "压力表读数: 压力表指针在红区，需要更换 (1.5 MPa)" in ticket.description
        assert [(r.checkpoint, r.item, r.outcome, r.value, r.ticket_id, r.opened_ticket) for r in results] == [
            ("A-101-FIRE", 0, "ok", None, None, False),
            ("A-101-FIRE", 1, "fail", "1.5", ticket.id, True),
            ("A-201-FIRE", 0, "ok", None, None, False),
            ("A-201-FIRE", 1, "ok", None, None, False),
        ]
        photos = (await session.scalars(select(Photo).order_by(Photo.id))).all()
        # The fault's photo went with the ticket; the hydrant cabinet's is the round's own.
        assert [p.ticket_id for p in photos] == [ticket.id, None] and results[2].photo_id == photos[1].id


async def test_one_round_one_inspector_a_door_code_jumps_and_a_paused_round_resumes(
    db: Database, telegram_user: Callable[..., TelegramPerson]
) -> None:
    await imported(db, telegram_user)
    zhao = await link_telegram(db, telegram_user, 8103, "zhao.lei")
    tom = await link_telegram(db, telegram_user, 8104, "tom.baker")  # IT technician, reads English
    assert (await tom.says("/inspect")).texts == [
        "No inspection rounds wait for you today. /inspect routes lists the routes."
    ]
    await zhao.says("/inspect")
    start = next(b for m in zhao.chat for b in m.buttons if str(b["text"]).startswith("▶ 开始"))
    await zhao.presses("▶ 开始")
    await zhao.presses("✅ 正常")
    # Pausing keeps what was answered; /inspect shows it under way and Continue goes on from there.
    assert (await zhao.says("/cancel")).texts[
        0
    ] == "已暂停：行政楼消防巡检，已完成 1/4 项并保存。发送 /inspect 可从中断处继续。"
    assert "赵磊 正在巡检（1/4）" in (await zhao.says("/inspect")).text
    assert "压力表读数" in (await zhao.presses("▶ 继续")).text
    # The same Start button pressed by someone whose round it is not: refused on the server.
    forged = await tom.presses_data(tom.chat[-1].message_id, str(start["callback_data"]), strict=False)
    assert forged.texts[0] == "Admin building fire round is not assigned to you."

    # The second checkpoint's door code: recorded, and the round goes on there.
    async with db.unit_of_work() as session:
        door = await session.scalar(select(InspectionCheckpoint).where(InspectionCheckpoint.code == "A-201-FIRE"))
        assert door is not None
    heard = await zhao.says(f"/start ck_{door.id}")
    assert re.fullmatch(r"📍 会议室消防点：已记录你于 \d\d:\d\d 到达。", heard.texts[-2]) or any(
        "📍 会议室消防点" in t for t in heard.texts
    )
    assert "检查点 2/2：会议室消防点" in heard.texts[-1]
    async with db.unit_of_work() as session:
        seen = await session.scalar(select(InspectionResult).where(InspectionResult.item == -1))
        assert seen is not None and (seen.checkpoint, seen.outcome) == ("A-201-FIRE", "seen")


async def test_a_fault_where_an_earlier_rounds_ticket_is_still_open_opens_no_second_ticket(
    db: Database, telegram_user: Callable[..., TelegramPerson]
) -> None:
    await imported(db, telegram_user)
    zhao = await link_telegram(db, telegram_user, 8105, "zhao.lei")
    await zhao.says("/inspect")
    await zhao.presses("▶ 开始")
    await zhao.presses("❌ 异常")
    await zhao.says("灭火器少了一个")
    heard = await zhao.presses("跳过")
    number = re.search(r"R-\d{4}-\d{6}", heard.texts[0])
    assert number is not None
    # Yesterday's round found it; today's round of the same route finds it again, still not mended.
    async with db.unit_of_work() as session:
        first = await session.scalar(select(InspectionRound))
        assert first is not None
        first.day, first.status, first.number = "2000-01-01", "done", "I-2000-000001"
    await zhao.says("/cancel")
    await zhao.says("/inspect")
    await zhao.presses("▶ 开始")
    heard = await zhao.presses("❌ 异常")
    assert heard.texts[0] == (
        f"该检查点已有未关闭的报修单 {number.group()}（一楼大厅消防点），本次异常已记录，不再重复报修。"
    )
    assert "压力表读数" in heard.texts[1]
    async with db.unit_of_work() as session:
        assert len((await session.scalars(select(Ticket))).all()) == 1
        again = await session.scalar(
            select(InspectionResult).where(
                InspectionResult.outcome == "fail", InspectionResult.opened_ticket.is_(False)
            )
        )
        first_ticket = await session.scalar(select(Ticket.id))
        assert again is not None and again.ticket_id == first_ticket


async def test_the_door_code_of_another_routes_checkpoint_is_named_and_the_round_goes_on(
    db: Database, telegram_user: Callable[..., TelegramPerson]
) -> None:
    await imported(db, telegram_user)
    lin = await link_telegram(db, telegram_user, 8106, "lin.hua")
    assert "已导入" in (await lin.says("/inspect import power_room")).text  # the shipped template: another route
    zhao = await link_telegram(db, telegram_user, 8107, "zhao.lei")
    await zhao.says("/inspect")
    await zhao.presses("▶ 开始：行政楼消防巡检")
    async with db.unit_of_work() as session:
        other = await session.scalar(select(InspectionCheckpoint).where(InspectionCheckpoint.code == "PWR-TR"))
        assert other is not None
    heard = await zhao.says(f"/start ck_{other.id}")
    assert heard.texts[-2] == "变压器 属于 配电房日检，不在你正在进行的巡检（行政楼消防巡检）上。请继续你的巡检："
    assert "检查点 1/2：一楼大厅消防点" in heard.texts[-1]
    async with db.unit_of_work() as session:  # nothing recorded of a visit to the other route
        assert (await session.scalars(select(InspectionResult))).all() == []


# A monthly 抄表 round: the administration building's electricity meter, read as a checklist item.
METER_ROUND = """\
code: METER-A
name: {zh: 行政楼抄表, en: Admin building meter reading}
category: electrical
checkpoints:
  - code: A-METERS
    name: {zh: 行政楼配电间, en: Admin building switch room}
    room: A/101
    items:
      - check: {zh: 总电表读数, en: Main electricity meter}
        kind: reading
        meter: E-A-01
schedules:
  - every: daily
    due: "23:59"
    specialty: electrical
"""


async def test_a_meter_reading_on_a_round_is_questioned_then_kept_as_the_meters_reading(
    db: Database, telegram_user: Callable[..., TelegramPerson]
) -> None:
    await every_day_a_working_day(db)
    async with db.unit_of_work() as session:
        building = await session.scalar(select(Building).where(Building.code == "A"))
        assert building is not None
        meter = Meter(code="E-A-01", name="行政楼总电表", kind="electricity", unit="kWh", building_id=building.id)
        session.add(meter)
        await session.flush()
        session.add(MeterReading(meter_id=meter.id, thousandths=12_400_000, read_at=utcnow() - timedelta(days=30)))
    lin = await link_telegram(db, telegram_user, 8108, "lin.hua")
    heard = await lin.sends_file(
        "meter.yml", "application/x-yaml", METER_ROUND.replace("E-A-01", "E-A-99").encode(), caption="/inspect import"
    )
    assert heard.texts[-1].endswith("第 11 行：没有表计 E-A-99。")  # the chat's import knows the meters
    await lin.sends_file("meter.yml", "application/x-yaml", METER_ROUND.encode(), caption="/inspect import")
    assert "已导入" in (await lin.presses("✔ 提交")).text

    zhao = await link_telegram(db, telegram_user, 8109, "zhao.lei")
    await zhao.says("/inspect")
    heard = await zhao.presses("▶ 开始")
    assert "请抄读电表/水表 E-A-01，输入以 kWh 计的读数（正常范围：不限）。" in heard.text
    # Lower than last month's 12,400 kWh: questioned, nothing kept; typed again, it is questioned once
    # more; kept, it is the meter's new baseline and the round's answer.
    heard = await zhao.says("12,300 kWh")
    assert heard.texts[-1].startswith("请核对这个读数：12,300") and "换表了吗" in heard.texts[-1]
    assert "请重新输入读数。" in (await zhao.presses("↺ 重新输入")).text
    await zhao.says("12300")
    heard = await zhao.presses("✔ 确认保存")
    assert "确认完成本次巡检？" in heard.text
    async with db.unit_of_work() as session:
        round_ = await session.scalar(select(InspectionRound))
        readings = (await session.scalars(select(MeterReading).order_by(MeterReading.id))).all()
        assert round_ is not None
        assert [(r.thousandths, r.reset, r.round_id) for r in readings] == [
            (12_400_000, False, None),
            (12_300_000, True, round_.id),
        ]
        [result] = (await session.scalars(select(InspectionResult))).all()
        assert (result.outcome, result.value) == ("ok", "12300")


async def test_a_holiday_the_environment_names_has_no_rounds(db: Database, bot_api: FakeBotAPI) -> None:
    """HOLIDAYS set in the environment (not by /settings) reaches the rounds' calendar too."""
    await every_day_a_working_day(db)
    async with db.unit_of_work() as session:
        await keep(session, await resolve(session, parse("fire.yml", FIRE_ROUND.encode())), None)
    settings = telegram_settings(db, bot_api, holidays=today().isoformat())
    async for _ in telegram_running(build_service(settings)):
        zhao = await link_telegram(
            db, lambda *a, **k: TelegramPerson(bot_api, db, bot_api.user(*a, **k)), 8110, "zhao.lei"
        )
        assert (await zhao.says("/inspect")).texts == ["今天没有等你完成的巡检。/inspect routes 可查看巡检路线。"]
