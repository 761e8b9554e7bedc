"""Around a booking's start on Telegram (Chinese) and in Slack (English): the reminder arrives with
its Check in button, pressing it keeps the room; a booking nobody checked in to is released by the
job and its booker told."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.areas import AREAS
from bot.service import Service, build_service
from handlers.bookings.attendance import JOB
from handlers.core.rules import RepairRules
from jobs.scheduler import Jobs
from storage.db import Database
from tests.bookings import TUESDAY_MORNING, bookings_made, on_clock, rooms_bookable
from tests.channels import telegram_of
from tests.dialog.conftest import slack_settings, slack_world_for, telegram_running, telegram_settings
from tests.dialog.slack_person import SlackPerson, SlackWorld
from tests.dialog.telegram_person import TelegramPerson, notices_delivered
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.telegram_api import FakeBotAPI
from tests.jobs.org import SCHEDULE, Clock, local

CLOCK = Clock(TUESDAY_MORNING)


@pytest.fixture
async def telegram(db: Database, bot_api: FakeBotAPI) -> AsyncIterator[Service]:
    CLOCK.now = TUESDAY_MORNING
    await rooms_bookable(db)
    service = on_clock(build_service(telegram_settings(db, bot_api)), lambda: CLOCK.now)
    async for running in telegram_running(service):
        yield running


@pytest.fixture
async def slack(db: Database, slack_api: FakeSlackAPI) -> AsyncIterator[SlackWorld]:
    CLOCK.now = TUESDAY_MORNING
    await rooms_bookable(db)
    service = on_clock(build_service(slack_settings(db, slack_api)), lambda: CLOCK.now)
    async for world in slack_world_for(service, slack_api, db):
        yield world


def jobs_of(db: Database) -> Jobs:
    return Jobs(db, SCHEDULE, RepairRules(), areas=AREAS, clock=lambda: CLOCK.now)


async def test_telegram_reminds_checks_in_and_releases(db: Database, bot_api: FakeBotAPI, telegram: Service) -> None:
    chen = TelegramPerson(bot_api, db, bot_api.user(7811, "陈晨", "zh-hans"))
    for start, title in (("10:00", "预算评审"), ("14:00", "新人培训")):
        await chen.says("/book")
        await chen.presses("行政楼 201")
        await chen.presses("4")
        await chen.presses("今天")
        await chen.presses(start)
        await chen.presses("1 小时")
        await chen.presses("只这一次")
        await chen.says(title)
        assert "✅ 已预订" in await chen.presses("✔ 提交")

    await jobs_of(db).fire(JOB, now=local(24, 9, 46))
    telegram_of(telegram)._wake.set()
    await notices_delivered(db)
    reminder = chen.latest("⏰ 会议「预算评审」")
    assert [b["text"] for b in reminder.buttons] == ["✅ 签到"]
    CLOCK.now = local(24, 9, 55)
    assert "已签到 B-2026-000001，会议室为你保留。" in await chen.presses("✅ 签到")

    await jobs_of(db).fire(JOB, now=local(24, 14, 16))
    telegram_of(telegram)._wake.set()
    await notices_delivered(db)
    assert "会议「新人培训」（B-2026-000002）开始 15 分钟后无人签到，会议室已释放" in str(chen.latest("无人签到").text)
    assert await bookings_made(db, "released") == 1 and await bookings_made(db) == 1


async def test_slack_reminds_checks_in_and_releases(db: Database, slack: SlackWorld) -> None:
    emma = SlackPerson.of(slack, "UEMMA2", "Emma", locale="en-US")
    for start, title in (("10:00", "Budget review"), ("14:00", "Onboarding")):
        await emma.slash("/houqin", "book")
        await emma.chooses("Administration Building 201")
        await emma.types("4")
        await emma.chooses("Today")
        await emma.chooses(start)
        await emma.chooses("1 hour")
        await emma.chooses("Just once")
        await emma.types(title)
        await emma.submits()
        assert "✅ Booked" in emma.dm[-1].shown

    await jobs_of(db).fire(JOB, now=local(24, 9, 46))
    await slack.settle()
    assert "⏰ “Budget review” (B-2026-000001) starts at 10:00." in emma.latest("Budget review").shown
    CLOCK.now = local(24, 9, 55)
    await emma.presses("✅ Check in")
    await slack.settle()
    assert "Checked in to B-2026-000001: the room is yours." in emma.dm[-1].shown

    await jobs_of(db).fire(JOB, now=local(24, 14, 16))
    await slack.settle()
    assert "Nobody checked in to “Onboarding” (B-2026-000002)" in emma.latest("Nobody checked in").shown
    assert await bookings_made(db, "released") == 1
