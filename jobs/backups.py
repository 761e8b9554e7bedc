"""The daily backup: once a local day, the whole database into BACKUP_DIR, the newest BACKUP_KEEP kept.

The day is claimed in job_runs before the copy is made (run_once), so of several processes only the
first writes it; the copy is made while Houqin serves (storage/backup.py). A day whose backup failed
leaves no claim and is tried again by the scheduler's catch-up.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core.jobs import Job, Running, local_format, run_once
from storage import backup

log = logging.getLogger(__name__)

BACKUP = "backup"
DAY = local_format("%Y-%m-%d")


def backup_job(folder: Path, keep: int) -> Job:
    async def run(jobs: Running, scheduled: datetime, now: datetime) -> object:
        async def work(session: AsyncSession) -> object:
            written = await backup.backup(jobs.db.url, folder / backup.default_name(jobs.db.url, now))
            removed = backup.keep_last(folder, keep)
            log.info("backup written to %s; %d older removed", written, len(removed))
            return written.name

        return await run_once(jobs.db, BACKUP, DAY(jobs.schedule, scheduled), now, work)

    # 02:45 local: after the night's housekeeping (hourly at :17), before anyone is at work.
    description = f"the database into {folder}, the newest {keep} kept"
    return Job(BACKUP, description, lambda s: {"hour": 2, "minute": 45}, DAY, run, claims_itself=True, rank=60)
