"""Working days and quiet hours changed from chat (/settings) are what the reminders job runs with."""

from __future__ import annotations

from datetime import timedelta

from bot.areas import AREAS
from handlers.core import org_settings
from handlers.core.rules import RepairRules
from handlers.digest.send import DIGEST
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
    jobs = Jobs(db, SCHEDULE, RepairRules(), areas=AREAS, clock=clock, table=list(JOBS))
    await jobs.fire(jobs.job(REMINDERS))
    assert await sent_to(db, "zhao.lei") == []
    clock.now = local(25, 7)  # Wednesday, 07:00: quiet by the environment, not since /settings said off
    await jobs.fire(jobs.job(REMINDERS))
    assert len(await sent_to(db, "zhao.lei")) == 1


async def test_a_digest_day_changed_from_chat_moves_the_digest(db: Database) -> None:
    jobs = Jobs(db, SCHEDULE, RepairRules(), areas=AREAS, clock=Clock(TUESDAY_10), table=list(JOBS))
    async with db.unit_of_work() as session:
        session.add(OrgSetting(key="digest_weekday", value="fri"))
        session.add(OrgSetting(key="digest_time", value="16:30"))
    await jobs.refresh_schedule()
    digest = jobs.scheduler.get_job(DIGEST)
    assert digest is not None and str(digest.trigger) == str(jobs.trigger(jobs.job(DIGEST)))
    assert jobs.next_run(jobs.job(DIGEST), TUESDAY_10) == local(27, 16, 30)  # Friday 16:30
