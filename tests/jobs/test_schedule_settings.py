"""The schedule's settings: sensible defaults, and a bad value stops start-up with one line naming it."""

from __future__ import annotations

import os
from datetime import time, timedelta
from pathlib import Path

import pytest

from bot.settings import SettingsError, load_settings
from handlers.schedule import parse_working_days
from tests.jobs.org import local

NAMES = ("DIGEST_", "QUIET_", "WORKING_", "ESCALATE_", "CATCH_UP_", "TELEGRAM_SEND_RATE", "TIMEZONE")


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
