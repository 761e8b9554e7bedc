"""The month's scorecards to managers on the first working day of the next month, exactly once.

Tried every hour from 09:00 (a process that was down in the morning still sends them that day); run_once's
(job, month) key keeps it to one sending however many processes try.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from handlers.scorecards import first_working_day, previous_month, send_monthly
from jobs.runs import run_once
from storage.db import Database

SCORECARDS = "scorecards.monthly"
# Not in the small hours: managers read them at work.
FROM_HOUR = 9


async def monthly_scorecards(db: Database, zone: ZoneInfo, now: datetime) -> bool:
    """True when last month's cards were sent now; False on other days or when already sent."""
    local = now.astimezone(zone)
    today = local.date()
    if local.hour < FROM_HOUR:
        return False
    async with db.unit_of_work() as session:
        if today != await first_working_day(session, today):
            return False
    month = previous_month(today).first.strftime("%Y-%m")
    return await run_once(db, SCORECARDS, month, now, lambda session: send_monthly(session, now, zone))
