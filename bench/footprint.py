"""footprint: resident memory after 10,000 updates, and time from start to ready.

Memory: a fresh process (`python -m bench.footprint_worker`) builds the service as `houqin run`
would with Telegram and the browser chat configured (so every module a production process imports is
imported), then hands 10,000 updates of repair conversations to the core and marks them replied, as
a channel does; it reports VmRSS and VmHWM from /proc/self/status before and after, and along the way
so a leak would show as growth.

Start-up: `houqin run --demo` as a subprocess on a migrated, seeded SQLite file, timed from spawn
until GET /healthz answers 200; median of 5.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import Context, Row
from bench.memory import memory_mib

NAME = "footprint"
RSS_TARGET_MIB = 120.0
READY_TARGET_S = 1.5
WORKER_LIMIT_S = 180.0
PACKAGE_ROOT = Path(__file__).absolute().parent.parent  # where `python -m bench.footprint_worker` is found


async def run(ctx: Context) -> list[Row]:
    updates = 1_000 if ctx.quick else 10_000
    url = await ctx.databases.sqlite()
    memory = await asyncio.to_thread(_memory_in_worker, url, updates, ctx.databases.workdir)
    growth = memory["growth_mib_per_1000"]
    rows = [
        Row(NAME, "Houqin process, SQLite", "RSS at start", memory["start"]["VmRSS"], "MiB"),
        Row(
            NAME,
            "Houqin process, SQLite",
            f"RSS after {updates:,} updates",
            memory["end"]["VmRSS"],
            "MiB",
            f"≤ {RSS_TARGET_MIB:g} MiB",
            memory["end"]["VmRSS"] <= RSS_TARGET_MIB,
            f"peak {memory['end']['VmHWM']:.1f} MiB; growth after warm-up {growth:.2f} MiB per 1,000 updates; "
            f"{memory['rate']:.0f} updates/s through the core",
        ),
    ]
    runs = 1 if ctx.quick else 5
    ready, idle = await asyncio.to_thread(_time_to_ready, await ctx.databases.sqlite(), ctx.databases.workdir, runs)
    median = statistics.median(ready)
    rows.append(
        Row(
            NAME,
            "houqin run --demo",
            "start to ready",
            median,
            "s",
            f"≤ {READY_TARGET_S:g} s",
            median <= READY_TARGET_S,
            f"median of {runs}: " + ", ".join(f"{value:.2f}" for value in ready),
        )
    )
    rows.append(Row(NAME, "houqin run --demo", "RSS when ready", statistics.median(idle), "MiB"))
    return rows


# --- memory: the worker process -----------------------------------------------------------------


def _memory_in_worker(database_url: str, updates: int, workdir: Path) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.footprint_worker", database_url, str(updates), str(WORKER_LIMIT_S - 30)]
    path = os.pathsep.join(filter(None, [str(PACKAGE_ROOT), os.environ.get("PYTHONPATH")]))
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=WORKER_LIMIT_S,
        check=False,
        env=_env(PYTHONPATH=path),
        cwd=workdir,  # no .env there: only what the worker sets configures it
    )
    if done.returncode != 0:
        raise RuntimeError(f"footprint worker failed:\n{done.stderr[-2000:]}")
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


# --- start-up -----------------------------------------------------------------------------------


def _env(**extra: str) -> dict[str, str]:
    # Nothing of the caller's Houqin configuration may leak in (a token would start Telegram).
    prefixes = ("TELEGRAM_", "DATABASE_", "HTTP_", "DEMO_", "WEB_", "ADMINS", "LOG_LEVEL")
    clean = {key: value for key, value in os.environ.items() if not key.startswith(prefixes)}
    return {**clean, **extra}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _time_to_ready(database_url: str, workdir: Path, runs: int) -> tuple[list[float], list[float]]:
    houqin = str(Path(sys.executable).with_name("houqin"))
    ready: list[float] = []
    idle: list[float] = []
    for _ in range(runs):
        port = _free_port()
        env = _env(DATABASE_URL=database_url, HTTP_PORT=str(port), LOG_LEVEL="WARNING")
        started = time.perf_counter()
        # cwd: a folder without a .env, so only the environment above configures it.
        process = subprocess.Popen(
            [houqin, "run", "--demo"], env=env, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            ready.append(_wait_healthy(f"http://127.0.0.1:{port}/healthz", started, process))
            idle.append(memory_mib(process.pid)["VmRSS"])
        finally:
            process.terminate()
            try:
                process.communicate(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()
    return ready, idle


def _wait_healthy(url: str, started: float, process: subprocess.Popen[bytes]) -> float:
    deadline = started + 30
    with httpx.Client(timeout=1) as client:
        while time.perf_counter() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"houqin run exited with {process.returncode}")
            try:
                if client.get(url).status_code == 200:
                    return time.perf_counter() - started
            except httpx.TransportError:
                pass
            time.sleep(0.01)
    raise TimeoutError("houqin run --demo did not answer /healthz within 30 s")
