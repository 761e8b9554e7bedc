"""The weekly digest: one message that tells a manager their department's week, and logistics admins
and admins the organisation's.

The core knows only its frame: whose week (``Scope``), the title, and the areas' sections
(``Area.digest``), each computing its part of the week and saying it in catalog messages, placed by
``Section.place``; the first part that draws a chart gives the digest its picture, and the areas'
``DigestButton`` s offer their reader what they can do now. Each part is an aggregate query over
indexed times, so the digest stays fast with 100k+ tickets (bench/digest.py).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core.charts import Chart
from handlers.core.flow import Action, StepContext
from handlers.core.i18n import Label, Lines, Renderable, msg
from storage.models import Department, Person

TREND_WEEKS = 4
LIST_AT_MOST = 10
# Who reads the organisation's digest (a manager reads their department's).
ORG_ROLES = ("logistics_admin", "admin")


@dataclass(frozen=True)
class Scope:
    """Whose week: a department (for its managers) or, with None, the whole organisation."""

    department: Department | None = None

    @property
    def subject(self) -> str:
        return f"dept:{self.department.code}" if self.department else "org"

    @property
    def name(self) -> Renderable:
        if self.department is None:
            return msg("digest.scope.org")
        return Label(self.department.name_zh, self.department.name_en)


@dataclass(frozen=True)
class Week:
    """The digest's week, [start, end), computed at `now` (what is overdue is overdue now)."""

    start: datetime
    end: datetime
    now: datetime


class Part(Protocol):
    """What one area's section found in a scope's week."""

    def lines(self, zone: ZoneInfo) -> Sequence[Renderable]: ...

    def chart(self, scope: Scope, locale: str, zone: ZoneInfo) -> Chart | None: ...


@dataclass(frozen=True)
class Said:
    """A part that is only lines (no chart)."""

    said: Sequence[Renderable] = ()

    def lines(self, zone: ZoneInfo) -> Sequence[Renderable]:
        return self.said

    def chart(self, scope: Scope, locale: str, zone: ZoneInfo) -> Chart | None:
        return None


@dataclass(frozen=True)
class Section:
    """An area's part of the digest, placed among the others' by `place`: today the repairs' week
    is 10, supplies 20, the repair rating 30, surveys and suggestions 40, the repairs' trend 50."""

    place: int
    figures: Callable[[AsyncSession, Scope, Week], Awaitable[Part]]


@dataclass(frozen=True)
class DigestButton:
    """A button under the digest (jb:<value>) for what its reader can do now. `offer` gives its label
    when there is something (pending approvals, overdue tickets), else None; `press` decides anew on
    the server who may and what, whatever the button says."""

    value: str
    place: int
    offer: Callable[[AsyncSession, Person, Digest, datetime, ZoneInfo], Awaitable[Renderable | None]]
    press: Callable[[StepContext], Awaitable[Action]]


P = TypeVar("P", bound=Part)


@dataclass
class Digest:
    scope: Scope
    start: datetime
    end: datetime
    parts: list[Part] = field(default_factory=list)  # in their sections' places
    unreachable: list[str] = field(default_factory=list)

    def find(self, kind: type[P]) -> P | None:
        """The part of this kind, if an area computed one."""
        return next((part for part in self.parts if isinstance(part, kind)), None)


def seconds_between(session: AsyncSession, later: Any, earlier: Any) -> Any:
    """A duration in seconds as SQL: SQLite keeps times as text, PostgreSQL as timestamps."""
    if session.get_bind().dialect.name == "sqlite":
        return (func.julianday(later) - func.julianday(earlier)) * 86400.0
    return func.extract("epoch", later - earlier)


def within(column: Any, start: datetime, end: datetime) -> ColumnElement[bool]:
    return (column >= start) & (column < end)  # type: ignore[no-any-return]


def in_place(sections: Sequence[Section]) -> list[Section]:
    return sorted(sections, key=lambda section: section.place)


async def compute(
    session: AsyncSession, scope: Scope, start: datetime, end: datetime, now: datetime, sections: Sequence[Section] = ()
) -> Digest:
    week = Week(start, end, now)
    return Digest(scope, start, end, [await section.figures(session, scope, week) for section in in_place(sections)])


# --- what it says ---------------------------------------------------------------------------------


def percent(part: int, whole: int) -> str:
    return f"{round(100 * part / whole)}%" if whole else "—"


def hours(value: float | None) -> Renderable | str:
    return msg("digest.hours", hours=f"{value:.1f}") if value is not None else "—"


def stars(value: float | None) -> str:
    return f"★{value:.1f}" if value is not None else "—"


DAY = "%m-%d"


def text(digest: Digest, zone: Any) -> Lines:
    """The digest as catalog messages: its title, each part's lines, and whom it could not reach."""
    parts: list[Renderable] = [
        msg(
            "digest.title",
            scope=digest.scope.name,
            start=digest.start.astimezone(zone).strftime(DAY),
            end=(digest.end - timedelta(days=1)).astimezone(zone).strftime(DAY),
        )
    ]
    for part in digest.parts:
        parts.extend(part.lines(zone))
    if digest.unreachable:
        parts.append(msg("digest.unreachable", count=len(digest.unreachable), names=", ".join(digest.unreachable)))
    return Lines(tuple(parts))


def chart(digest: Digest, locale: str, zone: ZoneInfo) -> Chart | None:
    """The digest's picture, with labels in `locale`: the first part's that draws one."""
    return next((drawn for part in digest.parts if (drawn := part.chart(digest.scope, locale, zone)) is not None), None)
