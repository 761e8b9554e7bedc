"""scale-out: 1, 2 and 4 `houqin run` processes on one PostgreSQL, behind a load balancer.

Telegram has one poller per bot, so more processes mean webhooks: each process is the real `houqin
run` in webhook mode (its own ASGI server, jobs and outbox sender), and the fake Bot API, in its own
process (bench/telegram.py), POSTs each person's updates always to the same one, as a load balancer
with sticky sessions would. Fifty people walk repair conversations closed loop, as in
telegram-throughput. Reported for each count: updates per second, the latency of each act until the
answer it waited for (p50/p99), and the CPU the Houqin processes and PostgreSQL used, in cores, out of
the cores this machine has: N processes can approach N× one only while there are cores to spare.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.common import Context, Row, latency_rows
from bench.telegram import FakeTelegram, fake_telegram
from tests.reliability.harness import HouqinProcess, start_webhook

NAME = "scale-out"
PEOPLE = 50
COUNTS = (1, 2, 4)
SECRET = "bench-scale-out_2026"
WEBHOOK_PATH = "/telegram/webhook"
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Measured:
    updates: int
    elapsed: float
    answered_in: list[float]
    errors: list[str]
    houqin_cores: float
    postgres_cores: float
    fake_cores: float
    waits: dict[str, int]  # what PostgreSQL's busy sessions were waiting on, sampled
    samples: int
    requests: int  # Bot API requests Houqin made
    in_answers: int  # calls Houqin left to its webhook answers (a press's answerCallbackQuery)


async def run(ctx: Context) -> list[Row]:
    rows: list[Row] = []
    cores = len(os.sched_getaffinity(0))
    for count in (1, 2) if ctx.quick else COUNTS:
        url = await ctx.databases.postgresql()
        if url is None:
            return [Row(NAME, "PostgreSQL", "updates/s", None, "/s", note=ctx.databases.pg_problem or "")]
        variant = f"{count} process{'es' if count > 1 else ''}, PostgreSQL"
        measured = await _measure(url, count, people=10 if ctx.quick else PEOPLE)
        rate = measured.updates / measured.elapsed
        note = (
            f"{cores} cores here; Houqin processes used {measured.houqin_cores:.2f} cores, PostgreSQL "
            f"{measured.postgres_cores:.2f}, the fake {measured.fake_cores:.2f}; Bot API requests per update "
            f"{measured.requests / max(measured.updates, 1):.2f}, calls in webhook answers "
            f"{measured.in_answers / max(measured.updates, 1):.2f}"
        )
        if measured.samples:
            busy = sum(measured.waits.values())
            waits = ", ".join(
                f"{what} {count}" for what, count in sorted(measured.waits.items(), key=lambda kv: -kv[1])
            )
            note += f"; busy PostgreSQL sessions per sample {busy / measured.samples:.2f} ({waits or 'none'})"
        if measured.errors:
            note += f"; errors: {'; '.join(measured.errors[:3])}"
        rows.append(Row(NAME, variant, "updates/s", round(rate, 1), "/s", note=note))
        rows.extend(latency_rows(NAME, variant, measured.answered_in)[:2])
    return rows


async def _measure(url: str, count: int, people: int) -> Measured:
    with tempfile.TemporaryDirectory(prefix="houqin-scale-") as workdir:
        async with fake_telegram() as fake:
            processes = [HouqinProcess(f"houqin-{n + 1}", _environment(url, fake), Path(workdir)) for n in range(count)]
            try:
                async with httpx.AsyncClient() as client:
                    for process in processes:
                        await start_webhook(process, client)
                urls = [f"{process.base_url}{WEBHOOK_PATH}" for process in processes]
                await fake.order(30, op="webhooks", urls=urls, secret=SECRET)
                pids = [process.current.process.pid for process in processes]
                before = _cpu_seconds(pids), _postgres_cpu_seconds()
                waits: dict[str, int] = {}
                sampling = asyncio.create_task(_sample_waits(url, waits))
                try:
                    answer: dict[str, Any] = await fake.order(
                        300, op="closed", mode="repair", people=people, first_user=300_000, warmup=2, limit=240, texts=0
                    )
                finally:
                    sampling.cancel()
                    await asyncio.gather(sampling, return_exceptions=True)
                houqin_cpu, postgres_cpu = _cpu_seconds(pids) - before[0], _postgres_cpu_seconds() - before[1]
            finally:
                for process in processes:
                    await process.stop()
                complaints = [line for process in processes for line in _complaints(process)]
    elapsed = float(answer["elapsed"])
    # The CPU is counted over the warm-up too (two people of `people`): a small overstatement.
    return Measured(
        int(answer["updates"]),
        elapsed,
        list(answer["answered_in"]),
        list(answer["errors"]) + complaints,
        houqin_cpu / elapsed,
        postgres_cpu / elapsed,
        float(answer["cpu"]) / elapsed,
        waits,
        waits.pop("_samples", 0),
        int(answer["requests"]),
        int(answer["in_answers"]),
    )


async def _sample_waits(url: str, waits: dict[str, int]) -> None:
    """Every 50 ms, what each of the database's active sessions waits on (pg_stat_activity): a lock, a
    client (Houqin not reading fast enough), I/O, or nothing (on CPU). Counted into `waits`."""
    dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
    connection = await asyncpg.connect(dsn)
    try:
        while True:
            rows = await connection.fetch(
                "SELECT coalesce(wait_event_type || ':' || wait_event, 'on CPU') AS what FROM pg_stat_activity"
                " WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()"
            )
            waits["_samples"] = waits.get("_samples", 0) + 1
            for row in rows:
                waits[row["what"]] = waits.get(row["what"], 0) + 1
            await asyncio.sleep(0.05)
    finally:
        await connection.close()


def _complaints(process: HouqinProcess) -> list[str]:
    """The first warnings and errors a process logged: what went wrong, when something did."""
    lines = process.logs().splitlines()
    return [f"{process.name}: {line[:200]}" for line in lines if " WARNING " in line or " ERROR " in line][:3]


def _environment(url: str, fake: FakeTelegram) -> dict[str, str]:
    """`houqin run` in webhook mode, nothing else from the developer's environment (HouqinProcess)."""
    return {
        "DATABASE_URL": url,
        "TELEGRAM_BOT_TOKEN": fake.token,
        "TELEGRAM_API_BASE_URL": fake.base_url.removesuffix("/bot"),
        "TELEGRAM_MODE": "webhook",
        # Telegram would POST here; the fake POSTs to each process's own port instead.
        "TELEGRAM_WEBHOOK_URL": f"https://houqin.invalid{WEBHOOK_PATH}",
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "WEB_ENABLED": "false",
        "ACCESS_POLICY": "open",  # benchmarked people write first and become staff
        "DEFAULT_LOCALE": "zh_CN",
        "TIMEZONE": "Asia/Shanghai",
        "ADMINS": "",
        "LOG_LEVEL": "WARNING",
    }


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of these processes so far (/proc/PID/stat)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of the line)
    return total / CLK_TCK


def _postgres_cpu_seconds() -> float:
    """All PostgreSQL server processes on this machine (postmaster and backends)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in ("postgres", "postmaster"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return _cpu_seconds(pids)
