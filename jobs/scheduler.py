"""APScheduler inside the Houqin process, in the organisation's time zone, driving a table of jobs.

APScheduler decides when to try; the database decides whether a period still needs doing: jobs that
work in one transaction claim (job, period) in job_runs (handlers/core/jobs.py), fan-outs record each
recipient in the send log (handlers/core/sends.py) and the run once it is finished. So several processes
may all schedule the same job, and a restart or a catch-up never does a period twice.

On start, and every quarter of an hour after, every job's latest scheduled time is looked at: not
yet done and no older than CATCH_UP_HOURS, it runs now; older, it is skipped and logged (and shown
by `houqin jobs`).

The core's own jobs (reminders, housekeeping) are JOBS; each area declares its own (`Area.jobs`:
auto-close, the digest, scorecards), run beside them. A new job is one more `Job`
(handlers/core/jobs.py): its cron fields, its period, and what it does; a name taken twice stops
the start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from handlers.core import authz, logcontext, metrics, org_settings
from handlers.core.area import Area, AreaClash
from handlers.core.housekeeping import tidy
from handlers.core.jobs import Job, Running, local_format, run_once
from handlers.core.reminders import send_reminders
from handlers.core.rules import RepairRules
from handlers.core.schedule import Schedule
from handlers.core.sends import Tally
from storage.db import Database, log_failure
from storage.models import JobRun, utcnow

log = logging.getLogger(__name__)

HOUSEKEEPING = "housekeeping"
REMINDERS = "reminders"
CATCH_UP_EVERY_MINUTES = 15


async def housekeeping(db: Database, zone: ZoneInfo, now: datetime, areas: Sequence[Area] = ()) -> bool:
    """Once per local day: forget what Houqin no longer needs (see handlers/core/housekeeping.py), and
    the areas' own tidying (Area.tidy)."""
    day = now.astimezone(zone).date().isoformat()
    return await run_once(db, HOUSEKEEPING, day, now, lambda session: tidy(session, now, areas))


async def _housekeeping(jobs: Running, scheduled: datetime, now: datetime) -> object:
    return await housekeeping(jobs.db, jobs.schedule.zone, now, jobs.areas)


async def _reminders(jobs: Running, scheduled: datetime, now: datetime) -> object:
    # Working days and quiet hours as the organisation set them from chat (/settings), read per run.
    schedule = await org_settings.current_schedule(jobs.db, jobs.schedule)
    nudges = [rule for area in jobs.areas for rule in area.reminders]
    return await send_reminders(jobs.db, schedule, jobs.rules, now, nudges)


JOBS: list[Job] = [
    # Hourly, so a process that was down at night still tidies that day; run_once keeps it to one.
    Job(
        HOUSEKEEPING,
        "forget old delivery keys, stray photos, idle dialogs",
        lambda s: {"minute": 17},
        local_format("%Y-%m-%d"),
        _housekeeping,
        claims_itself=True,
        rank=20,
    ),
    Job(
        REMINDERS,
        "overdue tickets, escalations, approvals waiting, unconfirmed repairs",
        lambda s: {"minute": "*/15"},
        local_format("%Y-%m-%dT%H:%M"),
        _reminders,
        rank=30,
    ),
]


@dataclass
class Jobs:
    db: Database
    schedule: Schedule
    rules: RepairRules = field(default_factory=RepairRules)
    clock: Callable[[], datetime] = utcnow
    default_locale: str = "zh_CN"
    # The core's jobs; the areas' own (Area.jobs) are run beside them.
    table: list[Job] = field(default_factory=lambda: list(JOBS))
    # Whose jobs, reminder rules, digest sections and tidying the jobs run (bot/areas.py).
    areas: Sequence[Area] = ()

    def __post_init__(self) -> None:
        # The jobs may run without the core (`houqin jobs`): the areas' privileged actions, for authz.
        authz.declare(self.areas)
        declared = [*(("the core", job) for job in self.table), *((a.name, job) for a in self.areas for job in a.jobs)]
        owners: dict[str, str] = {}
        for owner, job in declared:
            if job.name in owners:
                raise AreaClash(f"job {job.name!r} is declared twice: by {owners[job.name]!r} and by {owner!r}")
            owners[job.name] = owner
        self.table = sorted((job for _, job in declared), key=lambda job: job.rank)
        # The environment's schedule; what admins change from chat (/settings) is laid over it.
        self.base = self.schedule
        self.scheduler = AsyncIOScheduler(timezone=self.schedule.zone)
        self._catching_up: asyncio.Task[None] | None = None
        for job in self.table:
            self.scheduler.add_job(
                self.fire,
                self.trigger(job),
                args=[job],
                id=job.name,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=int(self.schedule.catch_up.total_seconds()) or 1,
            )
        # Not only on start: a period that failed (the database was away, a recipient's notice could
        # not be built) is tried again every quarter of an hour while within the catch-up window.
        self.scheduler.add_job(
            self.catch_up, "interval", minutes=CATCH_UP_EVERY_MINUTES, id="catch_up", coalesce=True, max_instances=1
        )

    def trigger(self, job: Job) -> CronTrigger:
        return CronTrigger(timezone=self.schedule.zone, **job.cron(self.schedule))

    def job(self, name: str) -> Job:
        return next(job for job in self.table if job.name == name)

    def latest(self, job: Job, now: datetime) -> datetime | None:
        """The job's latest scheduled time at or before `now`."""
        trigger = self.trigger(job)
        found, at = None, trigger.get_next_fire_time(None, now - job.lookback)
        while at is not None and at <= now:
            found = at
            at = trigger.get_next_fire_time(at, at + timedelta(seconds=1))
        return found

    def next_run(self, job: Job, now: datetime) -> datetime | None:
        after: datetime | None = self.trigger(job).get_next_fire_time(None, now)
        return after

    async def fire(self, job: Job, now: datetime | None = None) -> object:
        """Do the job's latest scheduled period if nobody has: on time, or late within the catch-up window."""
        now = now or self.clock()
        scheduled = self.latest(job, now)
        if scheduled is None:
            return None
        period = job.period(self.schedule, scheduled)
        if await self.done(job.name, period):
            return None
        late = now - scheduled
        if late > self.schedule.catch_up and not await self.ever_ran(job.name):
            # A new database (or a job new to it) has missed nothing: its last time was before it existed.
            before = "not run: its last time came before this database first ran it"
            log.info("%s for %s %s", job.name, period, before)
            await self.record(job.name, period, now, before)
            return before
        if late > self.schedule.catch_up:
            skipped = f"skipped: missed by {late.total_seconds() / 3600:.1f} h, beyond the catch-up window"
            log.warning("%s for %s %s", job.name, period, skipped)
            metrics.JOB_RUNS.labels(job.name, "skipped").inc()
            await self.record(job.name, period, now, skipped)
            return skipped
        started = self.clock()
        try:
            with logcontext.about(job=job.name):
                outcome = await job.run(self, scheduled, now)
        except Exception as exc:
            # Not recorded: the next tick or start tries the period again (the send log skips whoever was served).
            metrics.JOB_RUNS.labels(job.name, "failed").inc()
            log_failure(log, exc, "%s for %s", job.name, period)
            return None
        if isinstance(outcome, Tally) and outcome.failed:
            # Not done while someone is left: the next start (within the catch-up window) serves them.
            log.warning("%s for %s: %s; left for the next try", job.name, period, outcome)
            metrics.JOB_RUNS.labels(job.name, "failed").inc()
        elif not job.claims_itself:
            await self.record(job.name, period, started, str(outcome))
        took = (self.clock() - started).total_seconds() * 1000
        if not (isinstance(outcome, Tally) and outcome.failed):
            metrics.JOB_RUNS.labels(job.name, "done").inc()
            metrics.JOB_LAST_SUCCESS.labels(job.name).set(self.clock().timestamp())
        log.info("%s for %s: %s", job.name, period, outcome, extra={"job": job.name, "duration_ms": round(took, 1)})
        return outcome

    async def done(self, name: str, period: str) -> bool:
        async with self.db.unit_of_work() as session:
            found = await session.scalar(select(JobRun.id).where(JobRun.job == name, JobRun.period == period))
        return found is not None

    async def ever_ran(self, name: str) -> bool:
        """Whether this database holds any run of the job (done, skipped or claimed)."""
        async with self.db.unit_of_work() as session:
            found = await session.scalar(select(JobRun.id).where(JobRun.job == name).limit(1))
        return found is not None

    async def record(self, name: str, period: str, started: datetime, outcome: str) -> None:
        try:
            async with self.db.unit_of_work() as session:
                session.add(
                    JobRun(job=name, period=period, started_at=started, finished_at=self.clock(), outcome=outcome[:200])
                )
        except IntegrityError:
            log.debug("%s for %s was recorded by another process", name, period)

    async def refresh_schedule(self) -> None:
        """Take up a digest day or time changed from chat (/settings): on start and every catch-up."""
        current = await org_settings.current_schedule(self.db, self.base)
        if current == self.schedule:
            return
        self.schedule = current
        for job in self.table:
            self.scheduler.reschedule_job(job.name, trigger=self.trigger(job))

    async def catch_up(self, now: datetime | None = None) -> None:
        """Each job's latest period that nobody did, if recent enough (else skipped, logged)."""
        await self.refresh_schedule()
        for job in self.table:
            await self.fire(job, now)

    def start(self) -> None:
        self.scheduler.start()
        # In the background: a long fan-out must not hold up the channels starting.
        self._catching_up = asyncio.get_running_loop().create_task(self.catch_up())

    def stop(self) -> None:
        if self._catching_up is not None:
            self._catching_up.cancel()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
