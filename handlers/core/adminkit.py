"""What the admin commands share: finding people by handle, periods typed in chat, pages of lines.

Dates people type are days in the organisation's time zone; a period is [start, end) in UTC.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core.flow import Rows
from handlers.core.i18n import Label, Lines, Msg, Renderable, msg
from storage.models import Department, Person

PAGE_SIZE = 10
HANDLE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,39}$")


@dataclass(frozen=True)
class Joined:
    """Several parts on one line, joined as each language lists things (、 or ,)."""

    parts: tuple[Renderable, ...]

    def render(self, locale: str) -> str:
        return ("、" if locale == "zh_CN" else ", ").join(part.render(locale) for part in self.parts)


async def department_names(session: AsyncSession, codes: Sequence[str]) -> tuple[Label, ...]:
    """Departments as people call them (财务处 / Finance Office), in the order given; a code no
    department has any more, as it is."""
    found = {d.code: d for d in await session.scalars(select(Department).where(Department.code.in_(codes)))}
    return tuple(Label(found[c].name_zh, found[c].name_en) if c in found else Label(c, c) for c in codes)


def person_ref(person: Person) -> str:
    return f"@{person.handle}" if person.handle else f"#{person.id}"


# --- periods ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    first: date  # local days, both included
    last: date

    def bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        start = datetime.combine(self.first, time(), zone).astimezone(UTC)
        end = datetime.combine(self.last + timedelta(days=1), time(), zone).astimezone(UTC)
        return start, end

    @property
    def label(self) -> str:
        return f"{self.first.isoformat()} – {self.last.isoformat()}"

    @property
    def compact(self) -> str:
        """For button payloads (64 bytes on Telegram)."""
        return f"{self.first:%Y%m%d}-{self.last:%Y%m%d}"

    @classmethod
    def from_compact(cls, text: str) -> Period | None:
        first, _, last = text.partition("-")
        try:
            period = cls(datetime.strptime(first, "%Y%m%d").date(), datetime.strptime(last, "%Y%m%d").date())
        except ValueError:
            return None
        return period if period.first.year in YEARS and period.last.year in YEARS else None


MAX_PERIOD = timedelta(days=366 * 2)


# Years a period may name: far enough either way for any real record, and never near date's limits.
YEARS = range(2000, 2101)
DAY = re.compile(r"(?:(\d{4})[-/.])?(\d{1,2})[-/.](\d{1,2})")


def parse_day(text: str, today: date) -> date | None:
    """2026-11-26, 2026/11/26, 11-26 (this year); ASCII digits only."""
    found = DAY.fullmatch(text.strip())
    if found is None or not text.isascii():
        return None
    year = int(found.group(1)) if found.group(1) else today.year
    if year not in YEARS:
        return None
    try:
        return date(year, int(found.group(2)), int(found.group(3)))
    except ValueError:
        return None


def parse_month(text: str) -> Period | None:
    found = re.fullmatch(r"(\d{4})-(\d{1,2})", text.strip())
    if found is None or not text.isascii() or int(found.group(1)) not in YEARS or not 1 <= int(found.group(2)) <= 12:
        return None
    return month_period(date(int(found.group(1)), int(found.group(2)), 1))


def month_period(day: date) -> Period:
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return Period(first, following - timedelta(days=1))


class BadPeriod(Exception):
    pass


def parse_period(words: Sequence[str], today: date, default: str = "month") -> Period:
    """`week`, `month`, `YYYY-MM`, or `FROM TO`; nothing means `default` (week or month to date)."""
    if not words:
        words = [default]
    if len(words) == 1:
        word = words[0].lower()
        if word in ("week", "周", "本周"):
            return Period(today - timedelta(days=today.weekday()), today)
        if word in ("month", "月", "本月"):
            return Period(today.replace(day=1), today)
        if (month := parse_month(word)) is not None:
            return month
        raise BadPeriod(word)
    if len(words) == 2:
        first, last = parse_day(words[0], today), parse_day(words[1], today)
        if first is None or last is None or last < first or last - first > MAX_PERIOD:
            raise BadPeriod(" ".join(words))
        return Period(first, last)
    raise BadPeriod(" ".join(words))


def local_time(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def when(moment: datetime | None, zone: ZoneInfo) -> str:
    """An export's cell for a moment that may not have come (resolved, closed)."""
    return local_time(moment, zone) if moment is not None else ""


# The most rows one export writes.
MAX_ROWS = 50_000


# --- pages ------------------------------------------------------------------------------------------


def paged(
    title: Renderable, lines: Sequence[Renderable], page: int, payload: Callable[[int], str], size: int = PAGE_SIZE
) -> tuple[Msg, Rows]:
    """One page of a long list, with ◀ ▶ buttons whose payloads `payload(page)` makes."""
    pages = max(1, -(-len(lines) // size))
    page = min(max(page, 0), pages - 1)
    shown = Lines(tuple(lines[page * size : (page + 1) * size])) if lines else msg("admin.list.empty")
    buttons = tuple(
        (msg(key), payload(target))
        for key, target, present in (
            ("dialog.button.previous", page - 1, page > 0),
            ("dialog.button.next", page + 1, page < pages - 1),
        )
        if present
    )
    text = msg("admin.list.page", title=title, lines=shown, page=page + 1, pages=pages, count=len(lines))
    return text, ((buttons,) if buttons else ())
