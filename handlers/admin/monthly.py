"""The month's scorecards to managers on the first working day of the next month, exactly once.

The admin area's job (Area.jobs, run by jobs/scheduler.py) tries it on the first fifteen days of
each month at 09:30 (and the scheduler's catch-up after that): 国庆 or 春节 with a weekend can close
the office for the whole first week. run_once's (job, month) key keeps it to one sending however many processes try.
"""

from __future__ import annotations

from datetime import datetime

from handlers.admin.scorecards import previous_month, send_monthly
from handlers.core import org_settings
from handlers.core.jobs import Job, Running, run_once
from handlers.core.schedule import Schedule
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


# What a run did, said plainly in the log and `houqin jobs` (not as True/False).
SENT = "sent last month's scorecards"
NOTHING_NOW = "nothing to send now (not the month's first working day from 09:00, or sent already)"


async def _scorecards(jobs: Running, scheduled: datetime, now: datetime) -> object:
    return SENT if await monthly_scorecards(jobs.db, jobs.base, now) else NOTHING_NOW


# Tried on each of the month's first days; it sends on the first working one, which a long holiday
# can push into the second week.
JOB = Job(
    SCORECARDS,
    "last month's scorecards to department managers",
    lambda s: {"day": "1-15", "hour": 9, "minute": 30},
    scorecard_month,
    _scorecards,
    claims_itself=True,
)
