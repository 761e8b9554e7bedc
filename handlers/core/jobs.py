"""A scheduled job as an area declares it (`Area.jobs`) and jobs/scheduler.py runs it, and the claim
that keeps each period to one run.

Exactly once per period: a job claims (job, period) in job_runs before it works. The unique key, not
the scheduler, is what stops a restart, a catch-up run or a second Houqin process from doing the same
period twice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core.rules import RepairRules
from handlers.core.schedule import Schedule
from storage.db import Database
from storage.models import JobRun

if TYPE_CHECKING:
    from handlers.core.area import Area

log = logging.getLogger(__name__)
Work = Callable[[AsyncSession], Awaitable[object]]


class Running(Protocol):
    """What a job is given of the scheduler running it (jobs/scheduler.Jobs)."""

    db: Database
    # The organisation's schedule as of this run (/settings laid over the environment's), and the
    # environment's own.
    schedule: Schedule
    base: Schedule
    rules: RepairRules
    default_locale: str
    areas: Sequence[Area]


@dataclass(frozen=True)
class Job:
    name: str
    description: str
    # CronTrigger fields (minute, hour, day_of_week, …) for this organisation's schedule.
    cron: Callable[[Schedule], dict[str, Any]]
    # The period a scheduled time stands for: what "done once" is counted in.
    period: Callable[[Schedule, datetime], str]
    # Does the period's work; given the scheduled time and the clock's now. Returns the outcome.
    run: Callable[[Running, datetime, datetime], Awaitable[object]]
    # True when run() records the period itself (run_once); else the scheduler records it after run() returns.
    claims_itself: bool = False
    # How far back its latest scheduled time may be (a weekly job's is up to 7 days ago).
    lookback: timedelta = timedelta(days=1)
    # A catch-up runs the jobs by rank: auto-close (10) first, so neither the reminders (30) nor the
    # digest (40) speak of a ticket it closes; housekeeping 20, scorecards 50.
    rank: int = 50


def local_format(pattern: str) -> Callable[[Schedule, datetime], str]:
    return lambda schedule, at: schedule.local(at).strftime(pattern)


async def run_once(db: Database, job: str, period: str, now: datetime, work: Work, *, brief: bool = False) -> bool:
    """Run `work` for (job, period) unless that period was already claimed; True when it ran.

    The claim and the work share one transaction, so a run that fails leaves no claim behind and
    the next tick (or process) tries the period again. `brief` as in Database.unit_of_work.
    """
    try:
        async with db.unit_of_work(brief=brief) as session:
            run = JobRun(job=job, period=period, started_at=now)
            session.add(run)
            await session.flush()
            outcome = await work(session)
            run.finished_at = now
            run.outcome = str(outcome)[:200]
    except IntegrityError:
        log.debug("%s for %s already ran", job, period)
        return False
    log.info("%s for %s: %s", job, period, outcome)
    return True
