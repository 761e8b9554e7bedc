"""The schedule's settings: sensible defaults, and a bad value stops start-up with one line naming it."""

from __future__ import annotations

import os
from datetime import date, time, timedelta
from pathlib import Path

import pytest

from bot.settings import SettingsError, load_settings
from handlers.core.schedule import format_dates, parse_dates, parse_working_days
from tests.jobs.org import local

NAMES = (
    "DIGEST_",
    "QUIET_",
    "WORKING_",
    "HOLIDAYS",
    "MAKEUP_DAYS",
    "ESCALATE_",
    "CATCH_UP_",
    "TELEGRAM_SEND_RATE",
    "TIMEZONE",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    for name in list(os.environ):
        if name.startswith(NAMES):
            monkeypatch.delenv(name)


def test_the_defaults_are_a_monday_morning_digest_and_a_quiet_night() -> None:
    schedule = load_settings().schedule
    assert (schedule.digest_weekday, schedule.digest_time) == (0, time(8, 0))
    assert schedule.quiet == (time(21, 0), time(8, 0)) and schedule.working_days == frozenset(range(5))
    assert (schedule.escalate_after, schedule.catch_up) == (timedelta(hours=24), timedelta(hours=12))
    assert schedule.digest_due(local(26, 15)) == local(23, 8)
    assert schedule.digest_week(local(23, 8)) == (local(16, 0), local(23, 0))
    assert schedule.week_key(local(23, 8)) == "2026-W48"


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("DIGEST_WEEKDAY", "funday", "DIGEST_WEEKDAY is invalid: 'funday' should be one of mon, tue, wed"),
        ("DIGEST_TIME", "8am", "DIGEST_TIME is invalid: '8am' should be a time of day such as 08:00"),
        ("QUIET_HOURS", "21:00", "QUIET_HOURS is invalid: '21:00' should look like 21:00-08:00 (or none)"),
        ("QUIET_HOURS", "08:00-08:00", "QUIET_HOURS is invalid: '08:00-08:00' starts and ends at the same time"),
        ("WORKING_DAYS", "mon-fry", "WORKING_DAYS is invalid: 'mon-fry' should be a day (mon) or a range"),
        (
            "HOLIDAYS",
            "2026-10-01..2026-10-07,2026-13-01",
            "HOLIDAYS is invalid: '2026-13-01' is not a date (YYYY-MM-DD) or a range of dates (2026-10-01..2026-10-07)",
        ),
        ("HOLIDAYS", "National Day", "HOLIDAYS is invalid: 'National Day' is not a date (YYYY-MM-DD)"),
        ("HOLIDAYS", "2026-10-01-2026-10-07", "HOLIDAYS is invalid: '2026-10-01-2026-10-07' is not a date"),
        ("HOLIDAYS", "2026-01-01..2027-06-30", "HOLIDAYS is invalid: '2026-01-01..2027-06-30' is longer than a year"),
        ("MAKEUP_DAYS", "2026-10-10..2026-09-27", "MAKEUP_DAYS is invalid: '2026-10-10..2026-09-27' ends before it"),
        ("ESCALATE_AFTER_HOURS", "-1", "ESCALATE_AFTER_HOURS is invalid: Input should be greater than or equal to 0"),
        ("CATCH_UP_HOURS", "soon", "CATCH_UP_HOURS is invalid: Input should be a valid integer"),
        ("TELEGRAM_SEND_RATE", "50", "TELEGRAM_SEND_RATE is invalid: Input should be less than or equal to 30"),
    ],
)
def test_a_bad_value_is_named_in_one_line(monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert str(raised.value).startswith(says) and "\n" not in str(raised.value)


def test_working_days_take_ranges_lists_and_wrap_around() -> None:
    assert parse_working_days("mon,wed,fri") == {0, 2, 4}
    assert parse_working_days("sun-tue") == {6, 0, 1}
    assert parse_working_days("monday-friday, sun") == {0, 1, 2, 3, 4, 6}


def test_holidays_and_make_up_days_are_dates_and_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOLIDAYS", "2026-10-01..2026-10-07, 2027-01-01")
    monkeypatch.setenv("MAKEUP_DAYS", "2026-09-27,2026-10-10")
    schedule = load_settings().schedule
    assert len(schedule.holidays) == 8 and date(2027, 1, 1) in schedule.holidays
    assert schedule.makeup_days == {date(2026, 9, 27), date(2026, 10, 10)}
    assert load_settings(holidays="", makeup_days="none").schedule.holidays == frozenset()
    # Kept in one compact form, the one /settings shows and stores: runs of days as ranges.
    assert format_dates(schedule.holidays) == "2026-10-01..2026-10-07,2027-01-01"
    assert parse_dates(format_dates(schedule.holidays)) == schedule.holidays
