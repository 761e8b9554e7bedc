"""Working days and quiet hours changed from chat (/settings) are what the reminders job runs with."""

from __future__ import annotations

from datetime import timedelta

from handlers import org_settings
from handlers.rules import RepairRules
from jobs.scheduler import JOBS, REMINDERS, Jobs
from storage.db import Database
from storage.models import OrgSetting
from tests.jobs.org import SCHEDULE, Clock, local, sent_to, ticket

TUESDAY_10 = local(24, 10)


async def test_the_organisations_days_off_and_quiet_hours_hold_back_reminders(db: Database) -> None:
    await ticket(db, created=TUESDAY_10 - timedelta(hours=30), takes=timedelta(hours=24))  # overdue
    async with db.unit_of_work() as session:
        session.add(OrgSetting(key="working_days", value="wed,thu,fri"))  # Tuesday is now a day off
        session.add(OrgSetting(key="quiet_hours", value="off"))
    async with db.unit_of_work() as session:
        changed = await org_settings.schedule(session, SCHEDULE)
    assert (changed.working_days, changed.quiet, changed.digest_time) == (
        frozenset({2, 3, 4}),
        None,
        SCHEDULE.digest_time,
    )

    clock = Clock(TUESDAY_10)
    jobs = Jobs(db, SCHEDULE, RepairRules(), clock=clock, table=list(JOBS))
    await jobs.fire(jobs.job(REMINDERS))
    assert await sent_to(db, "zhao.lei") == []
    clock.now = local(25, 7)  # Wednesday, 07:00: quiet by the environment, not since /settings said off
    await jobs.fire(jobs.job(REMINDERS))
    assert len(await sent_to(db, "zhao.lei")) == 1
