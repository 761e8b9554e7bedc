"""APScheduler inside the Houqin process, in the organisation's time zone.

APScheduler decides when to try; jobs/runs.py decides whether this period still needs doing, so
several processes may all schedule the same job safely.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.housekeeping import tidy
from handlers.rules import RepairRules
from handlers.tickets import Actor, close_unconfirmed
from jobs.runs import run_once
from jobs.scorecards import SCORECARDS, monthly_scorecards
from storage.db import Database
from storage.models import Person, utcnow

HOUSEKEEPING = "housekeeping"
AUTO_CLOSE = "repairs.autoclose"


async def housekeeping(db: Database, zone: ZoneInfo, now: datetime) -> bool:
    """Once per local day: forget what Houqin no longer needs (see handlers/housekeeping.py)."""
    day = now.astimezone(zone).date().isoformat()
    return await run_once(db, HOUSEKEEPING, day, now, lambda session: tidy(session, now))


async def auto_close(db: Database, zone: ZoneInfo, rules: RepairRules, now: datetime) -> bool:
    """Once per local hour: resolved tickets nobody confirmed in time close themselves."""
    hour = now.astimezone(zone).strftime("%Y-%m-%dT%H")

    async def work(session: AsyncSession) -> str:
        houqin = Person(display_name="Houqin")  # never added to the session: the system acting
        closed = await close_unconfirmed(Actor(session, houqin, "system", now, zone, rules))
        return f"closed {len(closed)}: {', '.join(closed)}" if closed else "closed 0"

    return await run_once(db, AUTO_CLOSE, hour, now, work)


class Jobs:
    def __init__(
        self, db: Database, zone: ZoneInfo, rules: RepairRules, clock: Callable[[], datetime] = utcnow
    ) -> None:
        self.db, self.zone, self.rules, self.clock = db, zone, rules, clock
        self.scheduler = AsyncIOScheduler(timezone=zone)
        self.scheduler.add_job(
            self._auto_close, "cron", minute=5, id=AUTO_CLOSE, coalesce=True, max_instances=1, misfire_grace_time=3600
        )
        # Last month's scorecards to managers on the first working day (jobs/scorecards.py).
        self.scheduler.add_job(
            self._scorecards, "cron", minute=41, id=SCORECARDS, coalesce=True, max_instances=1, misfire_grace_time=3600
        )
        # Hourly, so a process that was down at night still tidies that day; run_once keeps it to one.
        self.scheduler.add_job(
            self._housekeeping,
            "cron",
            minute=17,
            id=HOUSEKEEPING,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=3600,
        )

    async def _scorecards(self) -> None:
        await monthly_scorecards(self.db, self.zone, self.clock())

    async def _auto_close(self) -> None:
        await auto_close(self.db, self.zone, self.rules, self.clock())

    async def _housekeeping(self) -> None:
        await housekeeping(self.db, self.zone, self.clock())

    def start(self) -> None:
        self.scheduler.start()

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
