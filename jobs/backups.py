"""The daily backup: once a local day, the whole database into BACKUP_DIR, the newest BACKUP_KEEP kept.

Whichever process comes first takes the day (job_runs, as every job); the copy is made while Houqin
serves (storage/backup.py). A day whose backup failed is tried again by the scheduler's catch-up.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from handlers.core.jobs import Job, Running, local_format
from storage import backup

log = logging.getLogger(__name__)

BACKUP = "backup"


def backup_job(folder: Path, keep: int) -> Job:
    async def run(jobs: Running, scheduled: datetime, now: datetime) -> object:
        written = await backup.backup(jobs.db.url, folder / backup.default_name(jobs.db.url, now))
        removed = backup.keep_last(folder, keep)
        log.info("backup written to %s (%d bytes); %d older removed", written, written.stat().st_size, len(removed))
        return written.name

    # 02:45 local: after the night's housekeeping (hourly at :17), before anyone is at work.
    return Job(
        BACKUP,
        f"the database into {folder}, the newest {keep} kept",
        lambda s: {"hour": 2, "minute": 45},
        local_format("%Y-%m-%d"),
        run,
        rank=60,
    )
