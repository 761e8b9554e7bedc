"""APScheduler inside the Houqin process, in the organisation's time zone.

APScheduler decides when to try; jobs/runs.py decides whether this period still needs doing, so
several processes may all schedule the same job safely.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from handlers.housekeeping import tidy
from jobs.runs import run_once
from storage.db import Database
from storage.models import utcnow

HOUSEKEEPING = "housekeeping"


async def housekeeping(db: Database, zone: ZoneInfo, now: datetime) -> bool:
    """Once per local day: forget what Houqin no longer needs (see handlers/housekeeping.py)."""
    day = now.astimezone(zone).date().isoformat()
    return await run_once(db, HOUSEKEEPING, day, now, lambda session: tidy(session, now))


class Jobs:
    def __init__(self, db: Database, zone: ZoneInfo, clock: Callable[[], datetime] = utcnow) -> None:
        self.db, self.zone, self.clock = db, zone, clock
        self.scheduler = AsyncIOScheduler(timezone=zone)
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

    async def _housekeeping(self) -> None:
        await housekeeping(self.db, self.zone, self.clock())

    def start(self) -> None:
        self.scheduler.start()

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
