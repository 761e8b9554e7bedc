"""What ran: the periods jobs claimed in job_runs (the claim itself is handlers/core/jobs.run_once,
which areas' jobs use too)."""

from __future__ import annotations

from sqlalchemy import select

from storage.db import Database
from storage.models import JobRun


async def last_runs(db: Database, job: str, limit: int = 5) -> list[JobRun]:
    async with db.unit_of_work() as session:
        found = await session.scalars(
            select(JobRun).where(JobRun.job == job).order_by(JobRun.started_at.desc()).limit(limit)
        )
        return list(found.all())
