"""Exactly once per period: a job claims (job, period) in job_runs before it works.

The unique key, not the scheduler, is what stops a restart, a catch-up run or a second Houqin
process from doing the same period twice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database
from storage.models import JobRun

log = logging.getLogger(__name__)
Work = Callable[[AsyncSession], Awaitable[object]]


async def run_once(db: Database, job: str, period: str, now: datetime, work: Work) -> bool:
    """Run `work` for (job, period) unless that period was already claimed; True when it ran.

    The claim and the work share one transaction, so a run that fails leaves no claim behind and
    the next tick (or process) tries the period again.
    """
    try:
        async with db.unit_of_work() as session:
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


async def last_runs(db: Database, job: str, limit: int = 5) -> list[JobRun]:
    async with db.unit_of_work() as session:
        found = await session.scalars(
            select(JobRun).where(JobRun.job == job).order_by(JobRun.started_at.desc()).limit(limit)
        )
        return list(found.all())
