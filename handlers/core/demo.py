"""The demo organisation's past: months of believable life before today, so that a first `make run`
shows digests, statistics, scorecards and charts with something in them.

Each area writes its own past (Area.demo: repairs its tickets and ratings, supplies its requisitions
and the stock they moved), from one seeded random generator, dated relative to now so it always ends
yesterday. It is written once per database (job_runs: a second `houqin demo` changes nothing).
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core.jobs import run_once
from handlers.core.schedule import Schedule
from storage.db import Database
from storage.models import Person

if TYPE_CHECKING:
    from handlers.core.area import Area

JOB = "demo.history"
SEED = 20260901  # the same past for every demo
DAYS = 182  # about six months


@dataclass
class Past:
    """The stretch of days an area fills, and the one generator every area draws from in turn."""

    first: date
    last: date  # yesterday
    schedule: Schedule  # the organisation's working days, holidays (国庆, 春节…) and make-up days
    rng: random.Random

    @property
    def zone(self) -> ZoneInfo:
        return self.schedule.zone

    def works_on(self, day: date) -> bool:
        return self.schedule.works_on(day)

    def days(self) -> Iterator[date]:
        day = self.first
        while day <= self.last:
            yield day
            day += timedelta(days=1)

    def at(self, day: date, earliest: int = 8, latest: int = 18) -> datetime:
        """A moment of working hours on `day`, in UTC as stored."""
        minutes = self.rng.randint(earliest * 60, latest * 60 - 1)
        local = datetime.combine(day, time(minutes // 60, minutes % 60), self.zone)
        return local.astimezone(ZoneInfo("UTC"))

    def weighted(self, choices: dict[str, float]) -> str:
        return self.rng.choices(list(choices), weights=list(choices.values()))[0]


async def demo_people(session: AsyncSession) -> list[Person]:
    """The demo organisation's people, in a fixed order (so the same seed gives the same past)."""
    return list(await session.scalars(select(Person).where(Person.demo_key.is_not(None)).order_by(Person.id)))


# An area's past: writes it into the session, returns what it added by kind.
History = Callable[[AsyncSession, Past], Awaitable[dict[str, int]]]


async def write_past(
    db: Database, areas: Sequence[Area], now: datetime, schedule: Schedule, days: int = DAYS
) -> dict[str, int] | None:
    """Every area's past (`days` of it: a benchmark asks for a year), in one transaction, once per
    database; None when it was written before."""
    today = now.astimezone(schedule.zone).date()
    past = Past(today - timedelta(days=days), today - timedelta(days=1), schedule, random.Random(SEED))
    added: dict[str, int] = {}

    async def work(session: AsyncSession) -> object:
        for area in areas:
            for history in area.demo:
                for kind, count in (await history(session, past)).items():
                    added[kind] = added.get(kind, 0) + count
        return added

    # Thousands of small statements under the write lock, with nothing else waiting on the loop (a
    # command, a test): SQLite runs them without aiosqlite's thread hops (measured: `houqin demo`
    # 8.0–9.2 → 3.3–4.6 s of CPU).
    ran = await run_once(db, JOB, "once", now, work, brief=True)
    return added if ran else None
