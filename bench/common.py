"""What every benchmark shares: result rows, percentiles, scratch databases, settings and machine facts."""

from __future__ import annotations

import math
import os
import platform
import shutil
import sqlite3
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import text

from bot.service import Service, build_service, settle_memory
from bot.settings import Settings, load_settings
from storage.db import Database
from storage.demo import seed_database
from storage.migrate import upgrade_async
from storage.models import Base

PG_ADMIN_DSN = os.environ.get("HOUQIN_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
# One scratch database per run: two runs at once (two checkouts, a developer and CI) must not drop
# each other's.
PG_BENCH_DB = f"houqin_bench_{os.getpid()}"


@dataclass
class Row:
    """One measured number, with the target it is judged against (judged, never asserted)."""

    bench: str
    variant: str
    metric: str
    value: float | None
    unit: str
    target: str = ""
    meets: bool | None = None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Context:
    quick: bool
    databases: Databases
    notes: list[str] = field(default_factory=list)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile: the value at least p% of the samples are at or below."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def latency_rows(
    bench: str, variant: str, seconds: Sequence[float], *, p99_target_ms: float | None = None
) -> list[Row]:
    """p50 / p99 / max in milliseconds; p99 is the one with a target."""
    p50, p99 = percentile(seconds, 50) * 1000, percentile(seconds, 99) * 1000
    top = max(seconds, default=math.nan) * 1000
    target = f"≤ {p99_target_ms:g} ms" if p99_target_ms is not None else ""
    meets = p99 <= p99_target_ms if p99_target_ms is not None else None
    return [
        Row(bench, variant, "p50", p50, "ms"),
        Row(bench, variant, "p99", p99, "ms", target, meets),
        Row(bench, variant, "max", top, "ms"),
    ]


# --- scratch databases --------------------------------------------------------------------------


class Databases:
    """Fresh, migrated, demo-seeded databases for each measurement.

    SQLite: one migrated file copied per use (migrating each time would cost a second).
    PostgreSQL: one scratch database, emptied and seeded again per use, dropped by close().
    """

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._sqlite_template: Path | None = None
        self._sqlite_count = 0
        self._pg_url: str | None = None
        self.pg_problem: str | None = None

    async def sqlite(self) -> str:
        if self._sqlite_template is None:
            template = self.workdir / "template.db"
            url = f"sqlite+aiosqlite:///{template}"
            await upgrade_async(url)
            await seed_database(url)
            self._sqlite_template = template
        self._sqlite_count += 1
        path = self.workdir / f"houqin-{self._sqlite_count}.db"
        shutil.copy(self._sqlite_template, path)
        return f"sqlite+aiosqlite:///{path}"

    async def both(self) -> list[tuple[str, str]]:
        """("SQLite", url) and, when a server answers, ("PostgreSQL", url): fresh, seeded."""
        found = [("SQLite", await self.sqlite())]
        if (pg := await self.postgresql()) is not None:
            found.append(("PostgreSQL", pg))
        return found

    async def postgresql(self) -> str | None:
        """A freshly seeded PostgreSQL database, or None (with pg_problem set) when none answers."""
        if self.pg_problem is not None:
            return None
        if self._pg_url is None:
            try:
                admin = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
            except (OSError, asyncpg.PostgresError) as exc:
                self.pg_problem = f"PostgreSQL not reachable at {PG_ADMIN_DSN}: {exc}"
                return None
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{PG_BENCH_DB}" WITH (FORCE)')
                await admin.execute(f'CREATE DATABASE "{PG_BENCH_DB}"')
            finally:
                await admin.close()
            base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
            self._pg_url = f"{base}/{PG_BENCH_DB}"
            await upgrade_async(self._pg_url)
        else:
            await _truncate(self._pg_url)
        await seed_database(self._pg_url)
        return self._pg_url

    async def close(self) -> None:
        if self._pg_url is not None:
            admin = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{PG_BENCH_DB}" WITH (FORCE)')
            finally:
                await admin.close()
            self._pg_url = None


async def _truncate(url: str) -> None:
    db = Database(url)
    try:
        tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
        async with db.unit_of_work() as session:
            await session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    finally:
        await db.dispose()


# --- the machine --------------------------------------------------------------------------------


async def machine() -> dict[str, Any]:
    return {**_machine_facts(), "postgresql": await _pg_version()}


def _machine_facts() -> dict[str, Any]:
    cpu = next(
        (
            line.partition(":")[2].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    mem_kib = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "kernel": platform.release(),
    }


async def _pg_version() -> str | None:
    try:
        connection = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    except (OSError, asyncpg.PostgresError):
        return None
    try:
        return str(await connection.fetchval("SHOW server_version"))
    finally:
        await connection.close()


def bench_settings(**overrides: object) -> Settings:
    """Settings for a benchmark's Houqin: nothing from a developer's .env, the defaults spelled out."""
    fixed: dict[str, object] = {
        "_env_file": None,
        "default_locale": "zh_CN",
        "timezone": "Asia/Shanghai",
        "admins": "",
        "telegram_mode": "polling",
        "log_level": "WARNING",
        # Benchmarked people write first and become staff, as before there were members only.
        "access_policy": "open",
    }
    return load_settings(**{**fixed, **overrides})


def core_service(database_url: str) -> Service:
    """Houqin as the composition root builds it, with no channel and nothing started: for the core.
    Its start-up memory settled as `houqin run` settles it (bot/service.py:settle_memory)."""
    service = build_service(bench_settings(database_url=database_url, web_enabled=False, telegram_bot_token=""))
    settle_memory()
    return service
