"""抄表 and 能耗 as people do them: a logistics admin on Telegram (in Chinese) adds a meter, sets a
head count and reads meters — a fine reading, one lower than the last kept as a new baseline, a
jump re-entered, one typed badly in every way (and a photo where the number is asked), each of those
changing nothing — then asks /energy and gets the month with its chart; staff are refused. The same
in the browser chat in English and Chinese (with the readings' export), and in a Slack modal in
English. Every date said is worked out from the moment the test runs."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import httpx
from sqlalchemy import func, select

from handlers.energy.report import last_complete_month, months_before
from storage.db import Database
from storage.models import Building, Meter, MeterReading, utcnow
from tests.clock import SHANGHAI
from tests.dialog.slack_person import SlackPerson
from tests.dialog.telegram_person import TelegramPerson
from tests.dialog.test_admin_web import download
from tests.dialog.test_ticket_life_telegram import make_staff
from tests.dialog.web_person import WebPerson
from tests.dialog.wecom_person import WeComPerson, WeComWorld


def at_nine(day: date) -> datetime:
    return datetime.combine(day, time(9), SHANGHAI).astimezone(UTC)


def day_of(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).date().isoformat()


class Past:
    """The meters' past, relative to now: E-A-01 read ten and five days ago (20 kWh a day), and the
    administration building's water meter read across the last complete month (30.5 m³ in it)."""

    def __init__(self) -> None:
        self.now = utcnow()
        self.ten_days_ago = self.now - timedelta(days=10)
        self.five_days_ago = self.now - timedelta(days=5)
        self.month = last_complete_month(self.now, SHANGHAI)

    async def write(self, db: Database, headcount: int | None = None) -> None:
        async with db.unit_of_work() as session:
            a = await session.scalar(select(Building).where(Building.code == "A"))
            assert a is not None
            a.headcount = headcount
            power = Meter(code="E-A-01", name="行政楼总电表", kind="electricity", unit="kWh", building_id=a.id)
            water = Meter(code="W-A-01", name="行政楼总水表", kind="water", unit="m³", building_id=a.id)
            session.add_all([power, water])
            await session.flush()
            for at, value in ((self.ten_days_ago, "1000"), (self.five_days_ago, "1100")):
                session.add(MeterReading(meter_id=power.id, thousandths=int(Decimal(value) * 1000), read_at=at))
            before = months_before(self.month, 1)
            for day, value in ((before.replace(day=28), "300"), (self.month.replace(day=15), "310"),
                               (self.month.replace(day=28), "330.5")):  # fmt: skip
                session.add(
                    MeterReading(meter_id=water.id, thousandths=int(Decimal(value) * 1000), read_at=at_nine(day))
                )

    @property
    def month_label(self) -> str:
        return f"{self.month:%Y-%m}"


async def readings_of(db: Database, code: str) -> list[str]:
    async with db.unit_of_work() as session:
        rows = await session.scalars(
            select(MeterReading.thousandths)
            .join(Meter, Meter.id == MeterReading.meter_id)
            .where(Meter.code == code)
            .order_by(MeterReading.read_at, MeterReading.id)
        )
        return [f"{Decimal(value) / 1000:.1f}" for value in rows]


async def test_a_logistics_admin_reads_meters_and_sees_the_month_on_telegram(
    db: Database, telegram_user: Callable[..., TelegramPerson]
) -> None:
    past = Past()
    await past.write(db)
    lin = telegram_user(8801, "钱进")
    await make_staff(db, lin, "logistics_admin")

    # The meters and the head count.
    heard = await lin.says("/meter add E-A-09 电 A:3F x40 行政楼三层电表")
    assert "已添加 E-A-09 行政楼三层电表：电，行政楼，单位 kWh，倍率 40。" in heard
    assert "表号 E-A-09 已存在。" in await lin.says("/meter add E-A-09 电 A 行政楼三层电表")
    heard = await lin.says("/meter add bad! 水 Z x0 名")
    assert "表号 BAD! 不合规" in heard and "没有编号为 Z 的楼栋" in heard and "倍率 0 不对" in heard
    assert "行政楼 按 50 人计算人均用量。" in await lin.says("/meter headcount A 50")
    assert "人数应为 0 到" in await lin.says("/meter headcount A 很多")
    heard = await lin.says("/meter list")
    assert "E-A-01 行政楼总电表 · 电 · 行政楼" in heard and "E-A-09 行政楼三层电表 · 电 · 行政楼 3F · kWh ×40" in heard

    # A fine reading is kept at once.
    heard = await lin.says("/meter E-A-01 1150")
    assert f"已记录 E-A-01：1,150.0 kWh，自 {day_of(past.five_days_ago)} 以来用量 50.0 kWh。" in heard
    # What cannot be a reading is said why, and changes nothing.
    assert "这不是读数：请输入数字" in await lin.says("/meter E-A-01 一千二")
    assert "这块表的单位是 kWh，不是 m³" in await lin.says("/meter E-A-01 1200 m³")
    assert "读数不能是负数。" in await lin.says("/meter E-A-01 -3")
    assert "这个数太大了" in await lin.says("/meter E-A-01 123456789012")
    assert "没有表号为 X-9 的表" in await lin.says("/meter X-9 12")
    assert await readings_of(db, "E-A-01") == ["1000.0", "1100.0", "1150.0"]

    # Lower than the last: questioned, kept as a new baseline.
    heard = await lin.says("/meter E-A-01 1000")
    assert f"1,000.0 kWh 比上次读数低（1,150.0 kWh，{day_of(past.now)}）：换表了吗？" in heard
    assert "保留这个读数，还是重新输入？" in heard
    assert await readings_of(db, "E-A-01") == ["1000.0", "1100.0", "1150.0"]  # not yet
    assert "已记录 E-A-01：1,000.0 kWh，作为新的起点（换表或归零）。" in await lin.presses("✔ 保留")

    # A jump far beyond the usual: re-entered.
    heard = await lin.says("/meter E-A-01 5000")
    assert "自上次读数" in heard and "约为平常的" in heard
    assert "请重新输入读数" in await lin.presses("✏️ 重新输入")
    heard = await lin.says("1010")
    assert f"已记录 E-A-01：1,010.0 kWh，自 {day_of(past.now)} 以来用量 10.0 kWh。" in heard

    # Bare /meter: the meter, then the value; a photo is not a number.
    assert "抄哪块表？" in await lin.says("/meter")
    assert "E-A-01 行政楼总电表 的读数（kWh）？上次：1,010.0 kWh" in await lin.presses("E-A-01")
    assert "请把表上的读数打成数字" in await lin.sends_photo()
    assert "已记录 E-A-01：1,020.0 kWh" in await lin.says("1,020")
    assert await readings_of(db, "E-A-01") == ["1000.0", "1100.0", "1150.0", "1000.0", "1010.0", "1020.0"]

    # The month: per building, per head, and its chart.
    heard = await lin.says("/energy")
    assert heard.messages[0].text is not None and heard.messages[0].text.startswith(f"⚡ 能耗 {past.month_label}")
    assert "🏢 行政楼（50 人）" in heard and "水 30.5 m³ · 人均 0.61 · 环比 — · 同比 —" in heard
    assert heard.messages[-1].kind == "photo"
    assert "用法：/energy [年-月]" in await lin.says("/energy 十一月")

    # Staff may do neither.
    wang = telegram_user(8802, "王小明")
    assert "查看能耗" in await wang.says("/energy")
    assert "录入表计读数" in await wang.says("/meter E-A-01 1030")
    assert len(await readings_of(db, "E-A-01")) == 6


async def test_readings_and_the_month_in_the_browser_chat_in_english_and_chinese(
    db: Database, web_client: httpx.AsyncClient, person: Callable[[str], WebPerson]
) -> None:
    past = Past()
    await past.write(db, headcount=50)
    tom = person("tom.baker")  # a technician, reading in English
    said = await tom.says("/meter E-A-01 1150")
    assert f"Kept E-A-01: 1,150.0 kWh, 50.0 kWh used since {day_of(past.five_days_ago)}." in said
    assert "This meter counts kWh, not m³" in await tom.says("/meter E-A-01 1200 m3")
    assert "That is not a reading" in await tom.says("/meter E-A-01 1.2.3")
    said = await tom.says("/meter e-a-01 900")
    assert "900.0 kWh is lower than the last reading (1,150.0 kWh" in said
    reentered = await tom.presses("✏️ Re-enter")
    assert "Fine, type the reading again." in reentered and "The reading of E-A-01" in reentered
    assert "That is not a reading" in await tom.says("twelve hundred")
    assert "Kept E-A-01: 1,160.0 kWh, 10.0 kWh used since" in await tom.says("1160 kWh")
    said = await tom.says("/meter E-A-01 100")
    assert "100.0 kWh is lower than the last reading (1,160.0 kWh" in said and "was the meter replaced?" in said
    assert "Kept E-A-01: 100.0 kWh, as a new baseline (meter replaced or reset)." in await tom.presses("✔ Keep")
    assert await readings_of(db, "E-A-01") == ["1000.0", "1100.0", "1150.0", "1160.0", "100.0"]
    assert "viewing energy use" in await tom.says("/energy")

    sarah = person("sarah.lin")  # a manager: sees the month, reads no meters
    said = await sarah.says("/energy")
    assert f"⚡ Energy use, {past.month_label}" in said
    assert "🏢 Administration Building (50 people)" in said
    assert "Water 30.5 m³ · 0.61 per head · — on the month · — on the year" in said
    [chart] = said.files
    assert chart["image"] and (await download(web_client, chart["url"])).startswith(b"\x89PNG")
    assert "entering meter readings" in await sarah.says("/meter E-A-01 1200")

    lin = person("lin.hua")  # the logistics admin, in Chinese
    said = await lin.says(f"/energy {past.month_label}")
    assert f"⚡ 能耗 {past.month_label}" in said and "水 30.5 m³ · 人均 0.61" in said
    said = await lin.says("/export readings csv")
    [export] = said.files
    rows = list(csv.reader(io.StringIO((await download(web_client, export["url"])).decode("utf-8-sig"))))
    assert rows[0][:3] == ["时间", "编码", "表计"]
    readings = [(row[6], row[9], row[11]) for row in rows[1:] if row[1] == "E-A-01"]
    assert readings == [
        ("1000.0", "", ""),
        ("1100.0", "", ""),
        ("1150.0", "", "web"),
        ("1160.0", "", "web"),
        ("100.0", "✓", "web"),
    ]


async def test_a_reading_in_a_slack_modal_in_english(db: Database, slack_user: Callable[..., SlackPerson]) -> None:
    past = Past()
    await past.write(db, headcount=50)
    admin = slack_user("UADMIN", "Admin", "en-US")
    await admin.slash("/houqin", "meter E-A-01")
    assert "The reading of E-A-01 行政楼总电表 (kWh)? Last: 1,100.0 kWh" in admin.page
    await admin.types("lots")
    assert admin.errors, admin.page
    await admin.types("1,500")  # 400 kWh in five days: four times the usual 20 a day
    assert "about 4× the usual" in admin.page and "Keep this reading, or re-enter it?" in admin.page
    await admin.chooses("✔ Keep")
    assert admin.modal is None
    assert "Kept E-A-01: 1,500.0 kWh, 400.0 kWh used since" in admin.dm[-1].shown
    async with db.unit_of_work() as session:
        kept = await session.scalar(select(func.count()).select_from(MeterReading))
    assert kept == 3 + 3  # the three water readings, two of E-A-01's past and this one
    await admin.slash("/houqin", "meter E-A-01 1510")  # fine: kept at once, no page
    assert admin.modal is None
    assert "Kept E-A-01: 1,510.0 kWh, 10.0 kWh used since" in admin.dm[-1].shown
    await admin.slash("/houqin", "meter E-A-01 15.1")  # a digit slipped: lower than the last
    assert "15.1 kWh is lower than the last reading (1,510.0 kWh" in admin.page
    await admin.chooses("✏️ Re-enter")
    assert "The reading of E-A-01 行政楼总电表 (kWh)? Last: 1,510.0 kWh" in admin.page
    await admin.types("1,520")
    assert admin.modal is None
    assert "Kept E-A-01: 1,520.0 kWh, 10.0 kWh used since" in admin.dm[-1].shown
    assert await readings_of(db, "E-A-01") == ["1000.0", "1100.0", "1500.0", "1510.0", "1520.0"]
    await admin.slash("/houqin", f"energy {past.month_label}")
    assert any("Water 30.5 m³ · 0.61 per head" in message.shown for message in admin.dm)


METERS_WITH_MISTAKES = """code,kind,building,floor,multiplier,name
E-C-01,electricity,C,,1,食堂总电表
bad!,steam,Z,,0,
E-C-01,water,C,,1,食堂总水表
"""
METERS = """表号,类型,楼栋,楼层,倍率,名称
E-C-01,电,C,1F,40,食堂一层电表
W-C-01,水,C,,,食堂总水表
"""


async def test_meters_imported_from_a_file_every_bad_line_named(
    db: Database, person: Callable[[str], WebPerson]
) -> None:
    lin = person("lin.hua")
    said = await lin.sends_file(METERS_WITH_MISTAKES.encode(), "meters.csv", caption="/meter import")
    assert "未导入任何表计：文件有 6 处问题" in said
    for problem in (
        "第 3 行：表号 BAD! 不合规",
        "第 3 行：不认识的类型 steam",
        "第 3 行：没有楼栋 Z",
        "第 3 行：倍率 0 应为 1 到 100000 的整数",
        "第 3 行：缺少名称",
        "第 4 行：表号 E-C-01 在文件里出现了两次",
    ):
        assert problem in said, said.text
    async with db.unit_of_work() as session:
        assert await session.scalar(select(func.count()).select_from(Meter)) == 0
    said = await lin.sends_file(METERS.encode("gb18030"), "meters.csv", caption="/meter import")
    assert "已导入表计：新增 2 块，更新 0 块。" in said
    said = await lin.says("/meter list")
    assert "E-C-01 食堂一层电表 · 电 · 食堂 1F · kWh ×40" in said and "W-C-01 食堂总水表 · 水 · 食堂 — · m³ ×1" in said
    wang = person("wang.fang")
    assert "管理表计" in await wang.sends_file(METERS.encode(), "meters.csv", caption="/meter import")


async def test_the_words_chaobiao_and_nenghao_in_wecom(
    db: Database, wecom_world: WeComWorld, wecom_user: Callable[..., WeComPerson]
) -> None:
    """In a chat without a command menu, 抄表 and 能耗 typed alone are /meter and /energy."""
    past = Past()
    await past.write(db, headcount=50)
    admin = wecom_user("admin", "管理员")
    await admin.writes("抄表")
    assert "抄哪块表？" in admin.said
    await admin.presses("E-A-01")
    await admin.writes("1150")
    assert f"已记录 E-A-01：1,150.0 kWh，自 {day_of(past.five_days_ago)} 以来用量 50.0 kWh。" in admin.said
    await admin.writes("能耗")
    assert any(f"⚡ 能耗 {past.month_label}" in message.shown for message in admin.chat)
    assert admin.chat[-1].msgtype == "image"
    kind, _, chart = wecom_world.api.uploads[admin.chat[-1].body["image"]["media_id"]]
    assert kind == "image" and chart.startswith(b"\x89PNG")
