"""The table of jobs: each scheduled in the organisation's time zone; a new one is one more row."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot.areas import AREAS
from handlers.core.jobs import Job, Running, local_format
from handlers.core.rules import RepairRules
from handlers.core.schedule import Schedule, parse_time
from handlers.digest.send import DIGEST
from jobs.runs import last_runs
from jobs.scheduler import JOBS, Jobs
from storage.db import Database
from tests.jobs.org import SCHEDULE, SHANGHAI, Clock, local


def test_every_job_is_scheduled_in_the_organisations_time_zone(db: Database) -> None:
    jobs = Jobs(db, SCHEDULE, RepairRules(), areas=AREAS)
    declared = {job.name for job in JOBS} | {job.name for area in AREAS for job in area.jobs}
    assert declared >= {"repairs.autoclose", DIGEST, "scorecards.monthly", "reminders", "housekeeping"}
    assert {job.id for job in jobs.scheduler.get_jobs()} == declared | {"catch_up"}
    assert jobs.next_run(jobs.job(DIGEST), local(26, 15)) == local(30, 8)
    friday = Jobs(db, Schedule(SHANGHAI, digest_weekday=4, digest_time=parse_time("17:30")), RepairRules(), areas=AREAS)
    assert friday.next_run(friday.job(DIGEST), local(26, 15)) == local(27, 17, 30)
    assert friday.latest(friday.job(DIGEST), local(26, 15)) == local(20, 17, 30)


async def test_a_new_job_is_one_more_row_in_the_table(db: Database) -> None:
    ran: list[tuple[datetime, datetime]] = []

    async def scorecard(jobs: Running, scheduled: datetime, now: datetime) -> Any:
        ran.append((scheduled, now))
        return "3 scorecards"

    monthly = Job(
        "monthly_scorecard",
        "each technician's month",
        lambda s: {"day": 1, "hour": 9},
        local_format("%Y-%m"),
        scorecard,
        lookback=timedelta(days=32),
    )
    jobs = Jobs(db, SCHEDULE, RepairRules(), areas=AREAS, clock=Clock(local(1, 10, month=12)), table=[*JOBS, monthly])
    await jobs.catch_up()
    await jobs.catch_up()
    assert ran == [(local(1, 9, month=12), local(1, 10, month=12))]
    assert [(run.period, run.outcome) for run in await last_runs(db, "monthly_scorecard")] == [
        ("2026-12", "3 scorecards")
    ]
