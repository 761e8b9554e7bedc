"""Organisation settings changed from chat, stored in org_settings, over the environment.

Each key has a parser that validates what an admin types and stores it in one normal form; the typed
getters read that and fall back to the environment's value (Settings) when nobody changed it. Read
per use, never cached in a process: another Houqin process may have changed it a moment ago.

Getters for other areas: ``sla_rules``, ``default_locale``, ``digest_weekday``, ``digest_time``,
``quiet_hours``, ``working_days``, ``holidays``, ``makeup_days``, ``is_working_day``,
``scorecard_points``, and ``schedule`` / ``current_schedule`` (the jobs' Schedule with these laid over
it; reminders and the monthly scorecards run with it, and ask its ``works_on``).
The /settings command that changes them is handlers/admin/settings.py.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, time
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core.i18n import LOCALES, Msg, Renderable, msg
from handlers.core.rules import URGENCIES, RepairRules, parse_sla
from handlers.core.schedule import RANGE, BadDates, Schedule, date_ranges, format_dates, format_range, parse_dates
from storage.db import Database
from storage.models import OrgSetting

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_WORDS = {
    **{name: index for index, name in enumerate(DAYS)},
    **{str(index + 1): index for index in range(7)},
    **{word: index for index, word in enumerate(("一", "二", "三", "四", "五", "六", "日"))},
    "七": 6,
    "天": 6,
}
# Reward and penalty points per event in a technician's month (考核与奖惩), unless changed.
DEFAULT_POINTS = {"resolved": 1, "rated_5": 2, "low_rating": -2, "sla_breach": -3, "reopened": -2}
DEFAULT_DIGEST_WEEKDAY = 0  # Monday
DEFAULT_DIGEST_TIME = time(9, 0)
DEFAULT_WORKING_DAYS = frozenset(range(5))
# What the person is told for each of schedule.DATE_PROBLEMS.
DATE_ERRORS = {
    "date": "settings.error.dates_date",
    "order": "settings.error.dates_order",
    "length": "settings.error.dates_length",
}
# The overview names this many upcoming holiday ranges; the rest are counted.
SHOWN_RANGES = 4


class BadValue(Exception):
    def __init__(self, reason: Msg) -> None:
        super().__init__(reason.key)
        self.reason = reason


def _sla(text: str) -> str:
    try:
        hours = parse_sla(text.replace(" ", ","))
    except ValueError:
        raise BadValue(msg("settings.error.sla", urgencies=", ".join(URGENCIES))) from None
    return ",".join(f"{u}={int(hours[u].total_seconds() // 3600)}" for u in URGENCIES)


def _language(text: str) -> str:
    word = text.strip().lower().replace("-", "_")
    found = {"zh_cn": "zh_CN", "zh": "zh_CN", "中文": "zh_CN", "en": "en", "english": "en"}.get(word)
    if found is None or found not in LOCALES:
        raise BadValue(msg("settings.error.language", languages=", ".join(LOCALES)))
    return found


def _day(word: str) -> int:
    found = DAY_WORDS.get(word.strip().lower().removeprefix("周").removeprefix("星期")[:3])
    if found is None:
        raise BadValue(msg("settings.error.day", days=", ".join(DAYS)))
    return found


def _weekday(text: str) -> str:
    return DAYS[_day(text)]


def _clock(text: str) -> time:
    found = re.fullmatch(r"(\d{1,2})[:：](\d{2})", text.strip())
    if found is None or int(found.group(1)) > 23 or int(found.group(2)) > 59:
        raise BadValue(msg("settings.error.time"))
    return time(int(found.group(1)), int(found.group(2)))


def _time(text: str) -> str:
    return _clock(text).strftime("%H:%M")


def _quiet(text: str) -> str:
    if text.strip().lower() in ("off", "none", "无", "关闭"):
        return "off"
    start, sep, end = text.replace("–", "-").replace("~", "-").partition("-")
    if not sep:
        raise BadValue(msg("settings.error.quiet"))
    first, last = _clock(start), _clock(end)
    if first == last:
        raise BadValue(msg("settings.error.quiet"))
    return f"{first:%H:%M}-{last:%H:%M}"


def _working(text: str) -> str:
    days: set[int] = set()
    for part in filter(None, re.split(r"[,，、\s]+", text.strip().lower())):
        first, sep, last = part.partition("-")
        if sep:
            a, b = _day(first), _day(last)
            if b < a:
                raise BadValue(msg("settings.error.day", days=", ".join(DAYS)))
            days.update(range(a, b + 1))
        else:
            days.add(_day(part))
    if not days:
        raise BadValue(msg("settings.error.day", days=", ".join(DAYS)))
    return ",".join(DAYS[d] for d in sorted(days))


def _dates(text: str) -> str:
    """Holidays or make-up days as typed in chat (2026-10-01..2026-10-07，2027-01-01; 至 and ~ too)."""
    if text.strip().lower() in ("none", "off", "无", "清空"):
        return "none"
    # A hyphen joins a date's own parts, so only a spaced one (2026-10-01 - 2026-10-07) joins two dates.
    typed = re.sub(r"\s*(?:\.\.|~|～|至|–|—)\s*|\s+-\s+", RANGE, text.strip())
    try:
        return format_dates(parse_dates(re.sub(r"[,，、;；\s]+", ",", typed)))
    except BadDates as bad:
        raise BadValue(msg(DATE_ERRORS[bad.problem], part=bad.part)) from None


def _points(text: str) -> str:
    points: dict[str, int] = {}
    for item in filter(None, re.split(r"[,，\s]+", text.strip())):
        name, sep, number = item.partition("=")
        if not sep or name not in DEFAULT_POINTS or not re.fullmatch(r"[+-]?\d{1,3}", number.strip()):
            raise BadValue(msg("settings.error.points", events=", ".join(DEFAULT_POINTS)))
        points[name] = int(number)
    if not points:
        raise BadValue(msg("settings.error.points", events=", ".join(DEFAULT_POINTS)))
    merged = {**DEFAULT_POINTS, **points}
    return ",".join(f"{name}={merged[name]:+d}" for name in DEFAULT_POINTS)


def as_stored(stored: str, today: date) -> Renderable | str:
    return stored


def upcoming_first(stored: str, today: date) -> Renderable | str:
    """Holidays as the overview shows them: the next few ranges from today, the rest counted."""
    runs = date_ranges(parse_dates(stored))
    if not runs:
        return msg("settings.dates.none")
    ahead = [run for run in runs if run[1] >= today]
    shown = ", ".join(format_range(*run) for run in ahead[:SHOWN_RANGES])
    later, past = len(ahead) - min(len(ahead), SHOWN_RANGES), len(runs) - len(ahead)
    return msg(
        "settings.dates",
        dates=shown or msg("settings.dates.none"),
        later=msg("settings.dates.later", count=later) if later else "",
        past=msg("settings.dates.past", count=past) if past else "",
    )


@dataclass(frozen=True)
class Key:
    parse: Callable[[str], str]
    # How the overview shows the stored normal form, given today's local date.
    show: Callable[[str, date], Renderable | str] = as_stored


KEYS: dict[str, Key] = {
    "sla_hours": Key(_sla),
    "default_language": Key(_language),
    "digest_weekday": Key(_weekday),
    "digest_time": Key(_time),
    "quiet_hours": Key(_quiet),
    "working_days": Key(_working),
    "holidays": Key(_dates, upcoming_first),
    "makeup_days": Key(_dates, upcoming_first),
    "scorecard_points": Key(_points),
}


async def stored(session: AsyncSession) -> dict[str, OrgSetting]:
    return {row.key: row for row in await session.scalars(select(OrgSetting))}


# Read on many updates (the default language, the SLA): built once (issue 17).
VALUE_OF = select(OrgSetting.value).where(OrgSetting.key == bindparam("key"))


async def value(session: AsyncSession, key: str) -> str | None:
    assert key in KEYS, key
    return await session.scalar(VALUE_OF, {"key": key})


# --- typed getters --------------------------------------------------------------------------------


async def sla_rules(session: AsyncSession, fallback: RepairRules) -> RepairRules:
    found = await value(session, "sla_hours")
    return dataclasses.replace(fallback, sla=parse_sla(found)) if found else fallback


async def default_locale(session: AsyncSession, fallback: str) -> str:
    return await value(session, "default_language") or fallback


async def digest_weekday(session: AsyncSession, fallback: int = DEFAULT_DIGEST_WEEKDAY) -> int:
    """Monday is 0, as date.weekday() counts."""
    found = await value(session, "digest_weekday")
    return DAYS.index(found) if found else fallback


async def digest_time(session: AsyncSession, fallback: time = DEFAULT_DIGEST_TIME) -> time:
    found = await value(session, "digest_time")
    return _clock(found) if found else fallback


async def quiet_hours(session: AsyncSession, fallback: tuple[time, time] | None = None) -> tuple[time, time] | None:
    """(start, end) local times, the end possibly the next morning; None when there are none."""
    found = await value(session, "quiet_hours")
    if not found:
        return fallback
    if found == "off":
        return None
    start, _, end = found.partition("-")
    return _clock(start), _clock(end)


async def working_days(session: AsyncSession, fallback: frozenset[int] = DEFAULT_WORKING_DAYS) -> frozenset[int]:
    found = await value(session, "working_days")
    return frozenset(DAYS.index(day) for day in found.split(",")) if found else fallback


async def holidays(session: AsyncSession, fallback: frozenset[date] = frozenset()) -> frozenset[date]:
    found = await value(session, "holidays")
    return parse_dates(found) if found else fallback


async def makeup_days(session: AsyncSession, fallback: frozenset[date] = frozenset()) -> frozenset[date]:
    found = await value(session, "makeup_days")
    return parse_dates(found) if found else fallback


async def is_working_day(session: AsyncSession, day: date, base: Schedule) -> bool:
    return (await schedule(session, base)).works_on(day)


async def schedule(session: AsyncSession, base: Schedule) -> Schedule:
    """The environment's schedule with the organisation's changes from chat (working days, holidays
    and make-up days, quiet hours, digest day and time) laid over it."""
    return dataclasses.replace(
        base,
        working_days=await working_days(session, base.working_days),
        holidays=await holidays(session, base.holidays),
        makeup_days=await makeup_days(session, base.makeup_days),
        quiet=await quiet_hours(session, base.quiet),
        digest_weekday=await digest_weekday(session, base.digest_weekday),
        digest_time=await digest_time(session, base.digest_time),
    )


async def office(session: AsyncSession, zone: ZoneInfo, base: Schedule | None) -> Schedule:
    """The office calendar a handler keeps to: the environment's (`base`, StepContext.calendar), or a
    plain one in `zone` when none was given, with the organisation's /settings laid over it."""
    return await schedule(session, base or Schedule(zone))


async def current_schedule(db: Database, base: Schedule) -> Schedule:
    async with db.unit_of_work() as session:
        return await schedule(session, base)


async def scorecard_points(session: AsyncSession) -> dict[str, int]:
    found = await value(session, "scorecard_points")
    if not found:
        return dict(DEFAULT_POINTS)
    return {name: int(number) for name, _, number in (item.partition("=") for item in found.split(","))}
