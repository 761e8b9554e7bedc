"""Resolved tickets nobody confirmed in time close themselves: the repairs' hourly job (Area.jobs,
run by jobs/scheduler.py), once per local hour."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core.actor import Actor
from handlers.core.jobs import Job, Running, local_format, run_once
from handlers.core.rules import RepairRules
from handlers.repairs.tickets import close_unconfirmed
from storage.db import Database
from storage.models import Person

AUTO_CLOSE = "repairs.autoclose"


async def auto_close(db: Database, zone: ZoneInfo, rules: RepairRules, now: datetime) -> bool:
    """Once per local hour: resolved tickets nobody confirmed in time close themselves."""
    hour = now.astimezone(zone).strftime("%Y-%m-%dT%H")

    async def work(session: AsyncSession) -> str:
        houqin = Person(display_name="Houqin")  # never added to the session: the system acting
        closed = await close_unconfirmed(Actor(session, houqin, "system", now, zone, rules))
        return f"closed {len(closed)}: {', '.join(closed)}" if closed else "closed 0"

    return await run_once(db, AUTO_CLOSE, hour, now, work)


async def _auto_close(jobs: Running, scheduled: datetime, now: datetime) -> object:
    return await auto_close(jobs.db, jobs.schedule.zone, jobs.rules, now)


JOB = Job(
    AUTO_CLOSE,
    "resolved tickets nobody confirmed close themselves",
    lambda s: {"minute": 5},
    local_format("%Y-%m-%dT%H"),
    _auto_close,
    claims_itself=True,
    rank=10,
)
