"""A platform's directory read and applied once a day (the organisation's day), by whichever process
comes first (Houqin.directory_sync keeps the day's run in job_runs); one that cannot be read (the
app lacks the contact permission yet) is tried again hourly. Feishu, DingTalk and WeCom run it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from handlers.core import directory
from handlers.core.outages import log_failure

log = logging.getLogger(__name__)
# How often a process looks whether today's directory sync is done.
EVERY_SECONDS = 3600.0


async def sync_daily(
    platform: str,
    sync: Callable[[str], Awaitable[directory.Applied | None]],
    clock: Callable[[], datetime],
    zone: ZoneInfo,
    unreadable: type[Exception],
) -> None:
    """Forever: today's sync, if no process has done it; `unreadable` is the platform's refusal."""
    while True:
        day = clock().astimezone(zone).date().isoformat()
        try:
            applied = await sync(day)
            if applied is not None:
                log.info("%s directory for %s: %s", platform, day, applied)
        except unreadable as exc:
            log.warning("could not read the %s directory (%s); trying again in an hour", platform, exc)
        except Exception as exc:
            log_failure(log, exc, f"applying the {platform} directory")
        await asyncio.sleep(EVERY_SECONDS)
