"""The process whose memory the footprint benchmark measures (run by bench/footprint.py).

`python -m bench.footprint_worker DATABASE_URL UPDATES LIMIT_S` builds Houqin as `houqin run` does,
with Telegram and the browser chat configured, hands UPDATES updates of repair conversations to the
core, marks each replied as a channel does, and prints one JSON line with VmRSS/VmHWM along the way.
It imports only what that needs (no Alembic, no benchmark harness), so the numbers are Houqin's.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from bench.memory import memory_mib
from bench.script import converse, telegram_sender
from bot.app import create_app
from bot.service import build_service
from bot.settings import load_settings

PEOPLE = 250  # distinct Telegram users, so the identity and dialog rows are many, as in an office
WORKERS = 10  # conversations in flight at once; PEOPLE is a multiple, so no two share a person


async def measure(database_url: str, updates: int, limit_s: float) -> dict[str, Any]:
    settings = load_settings(
        _env_file=None,
        database_url=database_url,
        demo_mode=True,
        web_enabled=True,
        # Configured, never started: PTB's Application and its imports are in memory, no network is used.
        telegram_bot_token="123456:FOOTPRINT",
        telegram_api_base_url="http://127.0.0.1:9",
        admins="",
        log_level="WARNING",
    )
    service = build_service(settings)
    create_app(service)
    start = memory_mib()
    samples: list[tuple[int, float]] = []
    handled = 0
    deadline = time.monotonic() + limit_s

    async def worker(first: int) -> None:
        nonlocal handled
        number = first
        while handled < updates:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {handled} updates handled in {limit_s:.0f} s")
            done = await converse(service.houqin, telegram_sender(1_000_000 + number % PEOPLE), f"{number}")
            for _, outcome in done:
                await service.houqin.mark_replied(outcome, prompt_ref="1")
            if (handled + len(done)) // 1000 > handled // 1000:
                samples.append((handled + len(done), memory_mib()["VmRSS"]))
            handled += len(done)
            number += WORKERS

    began = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(WORKERS)))
    rate = handled / (time.perf_counter() - began)
    end = memory_mib()
    await service.db.dispose()
    # Growth after the first fifth (caches filled, pool open): a steady climb from there is a leak.
    settled = [sample for sample in samples if sample[0] >= handled // 5]
    growth = 0.0
    if len(settled) >= 2:
        growth = (settled[-1][1] - settled[0][1]) / (settled[-1][0] - settled[0][0]) * 1000
    return {
        "start": start,
        "end": end,
        "samples": samples,
        "growth_mib_per_1000": growth,
        "rate": rate,
        "handled": handled,
    }


def main() -> None:
    database_url, updates, limit_s = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    print(json.dumps(asyncio.run(measure(database_url, updates, limit_s))))


if __name__ == "__main__":
    main()
