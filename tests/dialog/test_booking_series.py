"""Recurring bookings around the organisation's calendar: weekly on Tuesdays across a holiday (skipped)
with one Tuesday already taken (listed, the rest booked) on Telegram in Chinese; every working day
across a weekend with a make-up Saturday (it counts) in the browser chat in English, and "book none"."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from icalendar import Calendar
from sqlalchemy import select

from bot.service import Service, build_service
from handlers.bookings import ledger
from storage.db import Database
from storage.models import BookingResource, Person
from tests.bookings import (
    TUESDAY_MORNING,
    at,
    bookings_made,
    browser_chat_at,
    office_calendar,
    on_clock,
    rooms_bookable,
)
from tests.dialog.conftest import telegram_running, telegram_settings
from tests.dialog.telegram_person import TelegramPerson
from tests.dialog.web_person import WebPerson
from tests.fakes.telegram_api import FakeBotAPI
from tests.jobs.org import local


async def someone_holds_room_201(db: Database, day: int, month: int) -> None:
    async with db.unit_of_work() as session:
        room = await session.scalar(select(BookingResource).order_by(BookingResource.id).limit(1))
        li = await session.scalar(select(Person).where(Person.handle == "li.na"))
        assert room is not None and li is not None
        starts = local(day, 10, month=month)
        made = await ledger.reserve(
            session,
            resource_id=room.id,
            booker_id=li.id,
            title="审计访谈",
            starts=starts,
            ends=starts + timedelta(hours=1),
            channel="web",
            now=TUESDAY_MORNING,
        )
        assert made is not None


@pytest.fixture
async def telegram(db: Database, bot_api: FakeBotAPI) -> AsyncIterator[Service]:
    await rooms_bookable(db)
    await office_calendar(db, holidays="2026-12-01", makeup_days="2026-12-05")
    service = on_clock(build_service(telegram_settings(db, bot_api)), at(TUESDAY_MORNING))
    async for running in telegram_running(service):
        yield running


async def test_weekly_across_a_holiday_with_one_tuesday_taken(
    db: Database, bot_api: FakeBotAPI, telegram: Service
) -> None:
    await someone_holds_room_201(db, 8, 12)
    chen = TelegramPerson(bot_api, db, bot_api.user(7901, "陈晨", "zh-hans"))
    await chen.says("/book")
    await chen.presses("行政楼 201")
    await chen.presses("8")
    await chen.presses("今天")
    await chen.presses("10:00")
    await chen.presses("1 小时")
    assert "重复到哪一天为止？" in await chen.presses("每周")
    assert "结束日期要在 2026-11-24 之后。" in await chen.says("2026-11-24")
    assert "会议主题是什么？" in await chen.says("2026-12-15")
    asked = await chen.says("项目周会")
    assert "其中 1 次已被占用：2026-12-08。其余的照订吗？" in asked
    summary = await chen.presses("其余照订")
    assert "重复：每周，至 2026-12-15，共 2 次（节假日跳过）" in summary
    done = await chen.presses("✔ 提交")
    assert "✅ 已预订「项目周会」共 2 次（日历文件随附）：" in done
    assert "2026-11-24 10:00–11:00" in done and "2026-12-15 10:00–11:00" in done
    assert "2026-12-01" not in done.text.split("未预订")[0]  # the holiday is skipped, not booked
    assert "未预订（已被占用）：2026-12-08" in done
    [document] = [m for m in chen.chat if m.kind == "document"]
    assert document.file is not None
    events = Calendar.from_ical(document.file.data).walk("VEVENT")
    assert [str(event["SUMMARY"]) for event in events] == ["项目周会", "项目周会"]
    assert await bookings_made(db) == 3  # hers two, and 李娜's


async def test_every_working_day_counts_the_make_up_saturday_and_none_may_be_booked(db: Database) -> None:
    await rooms_bookable(db)
    await office_calendar(db, holidays="none", makeup_days="2026-12-05")
    await someone_holds_room_201(db, 4, 12)
    async with browser_chat_at(db, at(TUESDAY_MORNING)) as client:
        emma = WebPerson(client, "emma.clark")
        await emma.says("/book")
        await emma.presses("Administration Building 201")
        await emma.says("6")
        await emma.says("2026-12-03")
        await emma.presses("10:00")
        await emma.presses("1 hour")
        await emma.presses("Every working day")
        await emma.says("2026-12-07")
        asked = await emma.says("Daily stand-up")
        assert "1 of them is taken already: 2026-12-04. Book the rest?" in asked
        summary = await emma.presses("Book the rest")
        # 3, 5 (the make-up Saturday) and 7 December; Sunday the 6th is off, the 4th is taken.
        assert "Repeats: Every working day until 2026-12-07, 3 times (holidays skipped)" in summary
        assert "Book the rest?" in await emma.presses("← Back")  # she thinks better of it
        await emma.presses("Book none")
        assert "Fine: nothing was booked." in await emma.presses("✔ Submit")
        assert await bookings_made(db) == 1  # only 李娜's
