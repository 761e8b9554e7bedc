"""Booking a meeting room on Telegram (in Chinese, with buttons) and in Slack (in English, page by
page in a modal): the same questions, the same B-number, the .ics file delivered as a document or an
upload that a real calendar library reads back."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from icalendar import Calendar

from bot.service import Service, build_service
from storage.db import Database
from tests.bookings import TUESDAY_MORNING, at, bookings_made, on_clock, rooms_bookable
from tests.dialog.conftest import slack_settings, slack_world_for, telegram_running, telegram_settings
from tests.dialog.slack_person import SlackPerson, SlackWorld
from tests.dialog.telegram_person import TelegramPerson
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.telegram_api import FakeBotAPI


@pytest.fixture
async def telegram(db: Database, bot_api: FakeBotAPI) -> AsyncIterator[Service]:
    await rooms_bookable(db)
    service = on_clock(build_service(telegram_settings(db, bot_api)), at(TUESDAY_MORNING))
    async for running in telegram_running(service):
        yield running


@pytest.fixture
async def slack(db: Database, slack_api: FakeSlackAPI) -> AsyncIterator[SlackWorld]:
    await rooms_bookable(db)
    service = on_clock(build_service(slack_settings(db, slack_api)), at(TUESDAY_MORNING))
    async for world in slack_world_for(service, slack_api, db):
        yield world


async def test_telegram_books_a_room_in_chinese_and_gets_the_ics_as_a_document(
    db: Database, bot_api: FakeBotAPI, telegram: Service
) -> None:
    chen = TelegramPerson(bot_api, db, bot_api.user(7801, "陈晨", "zh-hans"))
    asked = await chen.says("/book")
    assert "订哪间会议室？" in asked
    assert [b["text"] for b in asked.messages[-1].buttons][:3] == [
        "行政楼 201 第一会议室（12 人，投影仪）",
        "教学楼 102 阶梯教室（60 人，投影仪、视频会议）",
        "🔎 任意合适的会议室",
    ]
    assert "多少人参加？" in await chen.presses("教学楼 102")
    assert "哪一天？" in await chen.presses("20")
    assert "几点开始？" in await chen.presses("明天")
    assert "开多久？" in await chen.says("15:00")  # typed, not pressed
    assert "重复吗？" in await chen.presses("2 小时")
    assert "会议主题是什么？" in await chen.presses("只这一次")
    assert "时间：2026-11-25 15:00–17:00" in await chen.says("年度总结大会")
    done = await chen.presses("✔ 提交")
    assert "✅ 已预订 B-2026-000001：教学楼 102 阶梯教室，2026-11-25 15:00–17:00，「年度总结大会」。" in done
    [document] = [m for m in chen.chat if m.kind == "document"]
    assert document.file is not None and document.file.filename == "B-2026-000001.ics"
    [event] = Calendar.from_ical(document.file.data).walk("VEVENT")
    assert str(event["SUMMARY"]) == "年度总结大会"
    assert "B-2026-000001" in await chen.says("/book my")
    assert await bookings_made(db) == 1


async def test_slack_books_a_room_in_english_page_by_page(slack: SlackWorld) -> None:
    emma = SlackPerson.of(slack, "UEMMA", "Emma", locale="en-US")
    await emma.slash("/houqin", "book")
    assert "Which room?" in emma.page
    assert emma.options()[:2] == [
        "Administration Building 201 Meeting room 1 (seats 12, projector)",
        "Teaching Building 102 Lecture hall (seats 60, projector, video)",
    ]
    await emma.chooses("Administration Building 201")
    assert "How many people?" in emma.page
    await emma.types("14")
    assert "Administration Building 201 Meeting room 1 has room for 12, not 14" in str(emma.errors)
    await emma.types("6")
    assert "Which day?" in emma.page
    await emma.types("2026-11-27")
    assert "When does it start?" in emma.page and emma.options()[:2] == ["08:00", "08:30"]
    await emma.chooses("09:00")
    assert "How long?" in emma.page
    await emma.chooses("30 minutes")
    assert "Does it repeat?" in emma.page
    await emma.chooses("Just once")
    await emma.types("Budget check")
    assert "Room: Administration Building 201 Meeting room 1\nWhen: 2026-11-27 09:00–09:30" in emma.page
    await emma.submits()
    assert (
        "✅ Booked B-2026-000001: Administration Building 201 Meeting room 1, 2026-11-27 09:00–09:30"
        in emma.dm[-1].shown
    )
    [uploaded] = emma.api.files[emma.api.dm_of("UEMMA")]
    assert uploaded.name == "B-2026-000001.ics"
    [event] = Calendar.from_ical(uploaded.content).walk("VEVENT")
    assert str(event["SUMMARY"]) == "Budget check"
