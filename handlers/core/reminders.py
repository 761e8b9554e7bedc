"""Reminders that get things moving: who is nudged about what, and how often.

Each rule reads what is waiting now and returns deliveries keyed (kind, subject, person, period);
the send log (handlers/core/sends.py) makes each reach its person once per period. Nothing goes out in
quiet hours or on days off: the run is skipped and the next allowed run finds the same things still
waiting, so a reminder is deferred, never dropped.

The rules are the areas' (Area.reminders), run in the areas' order:

  overdue ticket          → its technician, once per working day per ticket (handlers/repairs/reminders.py)
  still overdue past the grace (ESCALATE_AFTER_HOURS) → the technician's department manager (or the
                            logistics admins when there is none, or nobody is assigned), once per ticket
  resolved, not confirmed → the reporter, one nudge before the auto-close rule closes it
  requisitions waiting since before today → each approver, one grouped message per working day
                            (handlers/supplies/requisitions.py)
  survey invitation not answered → the invitee, one nudge in the survey's last day (anonymous
                            surveys: every invitee, so the nudges say nothing of who answered;
                            handlers/surveys/campaigns.py)

A nudge due "in the last day" before a deadline that falls after a weekend, a holiday or a night
comes in the last working hours before it instead (Schedule.nudge_from).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core.rules import RepairRules
from handlers.core.schedule import Schedule
from handlers.core.sends import Delivery, Tally, deliver_all
from storage.db import Database

# Brought forward before a weekend, a nudge still never comes sooner than this (or half the time,
# if shorter) after the person was told: right after the invitation or the "repaired" notice.
SETTLE = timedelta(hours=12)


@dataclass(frozen=True)
class Context:
    session: AsyncSession
    schedule: Schedule
    rules: RepairRules
    now: datetime

    @property
    def today(self) -> str:
        return self.schedule.day_key(self.now)

    def when(self, at: datetime) -> str:
        return self.schedule.local(at).strftime("%m-%d %H:%M")


Rule = Callable[[Context], Awaitable[list[Delivery]]]


def why_not_now(schedule: Schedule, now: datetime) -> str | None:
    """None when reminders may go out now; else why they wait (the run's outcome in `houqin jobs`)."""
    if not schedule.is_working_day(now):
        return "deferred: not a working day"
    if schedule.is_quiet(now):
        return "deferred: quiet hours"
    return None


async def due_now(
    db: Database, schedule: Schedule, rules: RepairRules, now: datetime, nudges: Sequence[Rule]
) -> list[Delivery]:
    async with db.unit_of_work() as session:
        ctx = Context(session, schedule, rules, now)
        return [delivery for rule in nudges for delivery in await rule(ctx)]


async def send_reminders(
    db: Database, schedule: Schedule, rules: RepairRules, now: datetime, nudges: Sequence[Rule]
) -> Tally | str:
    """One reminders run of the areas' rules (`nudges`): what is due goes out (once per person per
    period), or the reason it waits."""
    reason = why_not_now(schedule, now)
    if reason is not None:
        return reason
    return await deliver_all(db, await due_now(db, schedule, rules, now, nudges), now)
