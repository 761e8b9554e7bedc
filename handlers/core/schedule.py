"""When Houqin may nudge people, and when the weekly digest is due: the organisation's calendar.

Read from settings (DIGEST_WEEKDAY, DIGEST_TIME, QUIET_HOURS, WORKING_DAYS, HOLIDAYS, MAKEUP_DAYS, …)
with what admins changed from chat laid over them (handlers/core/org_settings.schedule); kept as one frozen
value. `Schedule.works_on` is the one answer to "is this a working day": every job asks it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
RANGE = ".."
# 2026-10-01, also 2026-10-1 and 2026/10/01 as people write them.
DAY = re.compile(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})", re.ASCII)
# A closure longer than a year is a typo (2026 for 2027), not a holiday.
LONGEST_RANGE = timedelta(days=366)
# How far back Schedule.nudge_from looks for a working hour before a deadline (past 国庆 and 春节).
LOOK_BACK_DAYS = 31


def parse_weekday(value: str) -> int:
    """mon … sun (or the full English name): Monday is 0, as datetime.weekday() counts."""
    word = value.strip().lower()
    for names in (WEEKDAYS, FULL_NAMES):
        if word in names:
            return names.index(word)
    raise ValueError(f"{value!r} should be one of {', '.join(WEEKDAYS)}")


def parse_time(value: str) -> time:
    found = HHMM.match(value.strip())
    if found is None:
        raise ValueError(f"{value!r} should be a time of day such as 08:00")
    return time(int(found[1]), int(found[2]))


def parse_quiet_hours(value: str) -> tuple[time, time] | None:
    """ "21:00-08:00" (may wrap past midnight); empty or "none" for no quiet hours."""
    if value.strip().lower() in ("", "none", "off"):
        return None
    start, sep, end = value.partition("-")
    if not sep:
        raise ValueError(f"{value!r} should look like 21:00-08:00 (or none)")
    quiet = parse_time(start), parse_time(end)
    if quiet[0] == quiet[1]:
        raise ValueError(f"{value!r} starts and ends at the same time; use none for no quiet hours")
    return quiet


def parse_working_days(value: str) -> frozenset[int]:
    """ "mon-fri", "mon,wed,fri", "mon-fri,sun"; ranges may wrap ("sat-mon")."""
    days: set[int] = set()
    for part in filter(None, (piece.strip() for piece in value.split(","))):
        first, sep, last = part.partition("-")
        try:
            start = parse_weekday(first)
            end = parse_weekday(last) if sep else start
        except ValueError:
            raise ValueError(f"{part!r} should be a day (mon) or a range of days (mon-fri)") from None
        day = start
        days.add(day)
        while day != end:
            day = (day + 1) % 7
            days.add(day)
    if not days:
        raise ValueError("names no day; use e.g. mon-fri")
    return frozenset(days)


# What can be wrong with one part of a list of dates (BadDates.problem), as the settings' error says it.
DATE_PROBLEMS = {
    "date": "is not a date (YYYY-MM-DD) or a range of dates (2026-10-01..2026-10-07)",
    "order": "ends before it starts",
    "length": "is longer than a year",
}


class BadDates(ValueError):
    """One part of a list of dates is wrong: `part` as written, `problem` a key of DATE_PROBLEMS."""

    def __init__(self, part: str, problem: str) -> None:
        super().__init__(f"{part!r} {DATE_PROBLEMS[problem]}")
        self.part, self.problem = part, problem


def parse_date(value: str) -> date:
    found = DAY.fullmatch(value.strip())
    if found is None:
        raise ValueError(f"{value!r} is not a date such as 2026-10-01")
    return date(int(found[1]), int(found[2]), int(found[3]))


def parse_dates(value: str) -> frozenset[date]:
    """ "2026-10-01..2026-10-07,2027-01-01": dates and inclusive ranges; empty or "none" for none."""
    if value.strip().lower() in ("", "none", "off"):
        return frozenset()
    days: set[date] = set()
    for part in filter(None, (piece.strip() for piece in value.split(","))):
        first, sep, last = part.partition(RANGE)
        try:
            start = parse_date(first)
            end = parse_date(last) if sep else start
        except ValueError:
            raise BadDates(part, "date") from None
        if end < start:
            raise BadDates(part, "order")
        if end - start >= LONGEST_RANGE:
            raise BadDates(part, "length")
        days.update(start + timedelta(days=n) for n in range((end - start).days + 1))
    return frozenset(days)


def date_ranges(days: frozenset[date]) -> list[tuple[date, date]]:
    """The dates as runs of consecutive days, earliest first."""
    runs: list[tuple[date, date]] = []
    for day in sorted(days):
        if runs and runs[-1][1] + timedelta(days=1) == day:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def format_range(first: date, last: date) -> str:
    return first.isoformat() if first == last else f"{first.isoformat()}{RANGE}{last.isoformat()}"


def format_dates(days: frozenset[date]) -> str:
    """The compact form parse_dates reads back: "2026-10-01..2026-10-07,2027-01-01" (or "none")."""
    return ",".join(format_range(*run) for run in date_ranges(days)) or "none"


@dataclass(frozen=True)
class Schedule:
    zone: ZoneInfo
    working_days: frozenset[int] = field(default_factory=lambda: frozenset(range(5)))
    # Public holidays (国庆) close the office on working weekdays; make-up days (调休) open it on others.
    holidays: frozenset[date] = frozenset()
    makeup_days: frozenset[date] = frozenset()
    # Local times; None means no quiet hours. A range may wrap past midnight (21:00–08:00).
    quiet: tuple[time, time] | None = (time(21, 0), time(8, 0))
    digest_weekday: int = 0
    digest_time: time = time(8, 0)
    # An overdue ticket still overdue this long after its due time goes to the technician's manager.
    escalate_after: timedelta = timedelta(hours=24)
    # An inspection round still not done this long after its due time goes to the inspector's manager.
    inspection_escalate_after: timedelta = timedelta(hours=4)
    # A scheduled run missed (the service was down) is made up on start if it is no older than this.
    catch_up: timedelta = timedelta(hours=12)

    def local(self, now: datetime) -> datetime:
        return now.astimezone(self.zone)

    def is_quiet(self, now: datetime) -> bool:
        if self.quiet is None:
            return False
        start, end = self.quiet
        at = self.local(now).time()
        return start <= at < end if start < end else at >= start or at < end

    def works_on(self, day: date) -> bool:
        """The office's one rule: a working weekday that is not a holiday, or a make-up day."""
        return day in self.makeup_days or (day.weekday() in self.working_days and day not in self.holidays)

    def is_working_day(self, now: datetime) -> bool:
        return self.works_on(self.local(now).date())

    def first_working_day(self, month: date) -> date | None:
        """The first day of `month`'s month the office works; None if it works on none of them."""
        day = month.replace(day=1)
        while day.month == month.month:
            if self.works_on(day):
                return day
            day += timedelta(days=1)
        return None

    def may_nudge(self, now: datetime) -> bool:
        """Reminders wait (they are not dropped) through quiet hours and days off."""
        return self.is_working_day(now) and not self.is_quiet(now)

    def nudge_from(self, deadline: datetime, lead: timedelta) -> datetime:
        """From when the one nudge before `deadline` may go: `lead` before it, or, when reminders may
        not go out at all in that stretch (a weekend, a holiday, the night), the last `lead` of the
        last stretch before it in which they may, so a Monday-morning deadline is nudged on Friday."""
        window = deadline - lead
        day = self.local(deadline).date()
        for _ in range(LOOK_BACK_DAYS):
            if self.works_on(day):
                for start, end in reversed(self._open_hours(day)):
                    end = min(end, deadline)
                    if start >= end:
                        continue
                    return window if end > window else max(start, end - lead)
            day -= timedelta(days=1)
        return window  # no time to nudge in at all: the usual window, which never comes

    def _open_hours(self, day: date) -> list[tuple[datetime, datetime]]:
        """The stretches of a working `day` outside quiet hours, in order."""
        midnight = datetime.combine(day, time(0), tzinfo=self.zone)
        if self.quiet is None:
            return [(midnight, midnight + timedelta(days=1))]
        quiet_from, quiet_to = (datetime.combine(day, t, tzinfo=self.zone) for t in self.quiet)
        if quiet_from > quiet_to:  # 21:00–08:00: open from the end of one night to the start of the next
            return [(quiet_to, quiet_from)]
        return [(midnight, quiet_from), (quiet_to, midnight + timedelta(days=1))]

    def day_key(self, now: datetime) -> str:
        return self.local(now).date().isoformat()

    def week_key(self, now: datetime) -> str:
        year, week, _ = self.local(now).isocalendar()
        return f"{year}-W{week:02d}"

    def digest_due(self, now: datetime) -> datetime:
        """The latest scheduled digest time at or before `now` (aware, in the organisation's zone)."""
        local = self.local(now)
        day = local.date() - timedelta(days=(local.weekday() - self.digest_weekday) % 7)
        due = datetime.combine(day, self.digest_time, tzinfo=self.zone)
        return due if due <= local else due - timedelta(days=7)

    def digest_week(self, due: datetime) -> tuple[datetime, datetime]:
        """The seven days a digest sent at `due` reports on: up to local midnight of the digest day."""
        end = datetime.combine(self.local(due).date(), time(0), tzinfo=self.zone)
        return end - timedelta(days=7), end
