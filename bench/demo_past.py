"""demo-past: how long `houqin demo` takes to write the demo organisation's six months of past
(handlers/core/demo.py), on a fresh migrated SQLite file with the organisation seeded: the target is
under 10 s, so `make run` stays quick. Process CPU time is reported beside the wall time."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

from bench.common import Context, Row
from bot.areas import AREAS
from handlers.core.demo import write_past
from handlers.core.schedule import Schedule
from storage.db import Database
from storage.demo import seed_database
from storage.migrate import upgrade_async
from storage.models import utcnow

NAME = "demo-past"
TARGET_S = 10.0


async def run(ctx: Context) -> list[Row]:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'demo.db'}"
        await upgrade_async(url)
        await seed_database(url)
        db = Database(url)
        try:
            began, cpu = time.perf_counter(), time.process_time()
            added = await write_past(db, AREAS, utcnow(), Schedule(ZoneInfo("Asia/Shanghai")))
            wall, used = time.perf_counter() - began, time.process_time() - cpu
        finally:
            await db.dispose()
    note = ", ".join(f"{count} {kind}" for kind, count in (added or {}).items()) + f"; CPU {used:.1f} s"
    return [Row(NAME, "SQLite", "write six months", wall, "s", f"≤ {TARGET_S:.0f} s", wall <= TARGET_S, note)]
