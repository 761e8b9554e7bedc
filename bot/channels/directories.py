"""A platform's directory (Feishu's, WeCom's contact API) read and applied once a day, by whichever
process of one Houqin comes first (handlers/core/directory.py applies it; job_runs keeps the day's
run to one)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from zoneinfo import ZoneInfo

from handlers.core.directory import Applied
from handlers.core.engine import Houqin
from handlers.core.outages import log_failure

log = logging.getLogger(__name__)
# How often a process looks whether today's directory sync is done.
EVERY_SECONDS = 3600.0


async def sync_daily(
    houqin: Houqin,
    zone: ZoneInfo,
    sync: Callable[[str], Awaitable[Applied | None]],
    platform: str,
    unreadable: tuple[type[Exception], ...],
) -> None:
    """For ever: once a day (the organisation's day) `sync(day)`; a directory that cannot be read (no
    contact scope yet: one of `unreadable`) is tried again hourly."""
    while True:
        day = houqin.clock().astimezone(zone).date().isoformat()
        try:
            applied = await sync(day)
            if applied is not None:
                log.info("%s directory for %s: %s", platform, day, applied)
        except unreadable as exc:
            log.warning("could not read the %s directory (%s); trying again in an hour", platform, exc)
        except Exception as exc:
            log_failure(log, exc, f"applying the {platform} directory")
        await asyncio.sleep(EVERY_SECONDS)
