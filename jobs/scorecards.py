"""The month's scorecards to managers on the first working day of the next month, exactly once.

A row of jobs/scheduler.JOBS tries it on the first fifteen days of each month at 09:30 (and the
scheduler's catch-up after that): 国庆 or 春节 with a weekend can close the office for the whole first
week. run_once's (job, month) key keeps it to one sending however many processes try.
"""

from __future__ import annotations

from datetime import datetime

from handlers.admin.scorecards import previous_month, send_monthly
from handlers.core import org_settings
from handlers.core.schedule import Schedule
from jobs.runs import run_once
from storage.db import Database

SCORECARDS = "scorecards.monthly"
# Not in the small hours: managers read them at work.
FROM_HOUR = 9


def scorecard_month(schedule: Schedule, at: datetime) -> str:
    """The period a run on the first days of a month stands for: the month before."""
    return previous_month(schedule.local(at).date()).first.strftime("%Y-%m")


async def monthly_scorecards(db: Database, base: Schedule, now: datetime) -> bool:
    """True when last month's cards were sent now; False on other days or when already sent.

    The first working day is by the organisation's calendar: `base` (the environment's) with
    /settings working_days, holidays and makeup_days laid over it."""
    local = base.local(now)
    today = local.date()
    if local.hour < FROM_HOUR:
        return False
    async with db.unit_of_work() as session:
        calendar = await org_settings.schedule(session, base)
    if today != calendar.first_working_day(today):
        return False
    month = previous_month(today).first.strftime("%Y-%m")
    return await run_once(db, SCORECARDS, month, now, lambda session: send_monthly(session, now, base.zone))
