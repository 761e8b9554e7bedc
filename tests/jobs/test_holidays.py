"""Public holidays and make-up working days (节假日与调休) in the calendar the reminders keep to.

October 2026 in Shanghai: National Day (国庆) closes the office from Thursday 10-01 to Wednesday 10-07,
and Saturday 10-10 is worked instead. The reminders job runs from the scheduler's own table on a
fixed clock.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta

import pytest

from bot.areas import AREAS
from handlers.core import org_settings
from handlers.core.rules import RepairRules
from handlers.core.schedule import parse_dates
from jobs.scheduler import JOBS, REMINDERS, Jobs
from storage.db import Database
from storage.models import OrgSetting
from tests.jobs.org import SCHEDULE, Clock, local, sent_to, ticket

NATIONAL_DAY = "2026-10-01..2026-10-07"
MAKEUP_SATURDAY = "2026-10-10"
# The environment's calendar: HOLIDAYS=2026-10-01..2026-10-07, MAKEUP_DAYS=2026-10-10.
OCTOBER_CALENDAR = dataclasses.replace(
    SCHEDULE, holidays=parse_dates(NATIONAL_DAY), makeup_days=parse_dates(MAKEUP_SATURDAY)
)


def october(day: int, hour: int = 10, minute: int = 0) -> datetime:
    return local(day, hour, minute, month=10)


async def overdue_since_september(db: Database) -> str:
    return await ticket(db, created=datetime(2026, 9, 29, 9, tzinfo=SCHEDULE.zone), takes=timedelta(hours=24))


async def reminders_at(jobs: Jobs, clock: Clock, when: datetime) -> object:
    clock.now = when
    return await jobs.fire(jobs.job(REMINDERS))


async def test_no_reminder_through_national_day_but_one_on_the_make_up_saturday(db: Database) -> None:
    number = await overdue_since_september(db)
    clock = Clock(october(1))
    jobs = Jobs(db, OCTOBER_CALENDAR, RepairRules(), areas=AREAS, clock=clock, table=list(JOBS))

    assert await reminders_at(jobs, clock, october(1)) == "deferred: not a working day"  # a Thursday
    for day in range(2, 8):
        assert await reminders_at(jobs, clock, october(day, 11)) == "deferred: not a working day"
    assert await sent_to(db, "zhao.lei") == [], "nobody is nudged on a public holiday"

    assert await reminders_at(jobs, clock, october(10, 7, 45)) == "deferred: quiet hours"  # still early
    await reminders_at(jobs, clock, october(10, 10))  # the make-up Saturday: the office works
    [nudge] = await sent_to(db, "zhao.lei")
    assert nudge.startswith(f"⏰ {number} is overdue")
    assert await reminders_at(jobs, clock, october(11)) == "deferred: not a working day"  # an ordinary Sunday


async def test_holidays_set_from_chat_replace_the_environments(db: Database) -> None:
    await overdue_since_september(db)
    async with db.unit_of_work() as session:
        # As /settings holidays stores it: only the first two days; the make-up day stays the environment's.
        session.add(OrgSetting(key="holidays", value="2026-10-01..2026-10-02"))
    clock = Clock(october(1))
    jobs = Jobs(db, OCTOBER_CALENDAR, RepairRules(), areas=AREAS, clock=clock, table=list(JOBS))

    assert await reminders_at(jobs, clock, october(2)) == "deferred: not a working day"
    await reminders_at(jobs, clock, october(5))  # Monday: a holiday by the environment, not any more
    assert len(await sent_to(db, "zhao.lei")) == 1
    await reminders_at(jobs, clock, october(10))
    assert len(await sent_to(db, "zhao.lei")) == 2, "the environment's make-up Saturday still holds"


@pytest.mark.parametrize(
    ("day", "works"),
    [
        (date(2026, 9, 30), True),  # a Wednesday before the holiday
        (date(2026, 10, 1), False),  # National Day, a Thursday
        (date(2026, 10, 3), False),  # a Saturday inside the holiday
        (date(2026, 10, 8), True),  # back at work
        (date(2026, 10, 10), True),  # the make-up Saturday
        (date(2026, 10, 11), False),  # an ordinary Sunday
    ],
)
async def test_one_rule_decides_a_working_day(db: Database, day: date, works: bool) -> None:
    assert OCTOBER_CALENDAR.works_on(day) is works
    async with db.unit_of_work() as session:
        assert await org_settings.is_working_day(session, day, OCTOBER_CALENDAR) is works


def test_a_deadline_inside_the_national_day_holiday_is_nudged_before_it_begins() -> None:
    deadline = october(5, 12)
    assert OCTOBER_CALENDAR.nudge_from(deadline, timedelta(hours=24)) == datetime(2026, 9, 30, 8, tzinfo=SCHEDULE.zone)
