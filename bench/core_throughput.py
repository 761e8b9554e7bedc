"""core-throughput: how many updates a second `Houqin.handle` takes with no channel in front of it.

Fifty people talk to the core at once, closed loop: each hands its next update over as soon as the
previous one is answered, walking whole repair conversations (/repair → … → a ticket) again and
again. Counted over a fixed stretch after a warm-up, on SQLite and on PostgreSQL, with the CPU this
process spent per update (the figure issue 17 wants a quarter of). Measured here, never asserted
in tests.
"""

from __future__ import annotations

import asyncio
import time

from bench.common import Context, Row, core_service
from bench.script import START, converse, decide, inbound, payloads_of, telegram_sender

NAME = "core-throughput"
PEOPLE = 50


async def run(ctx: Context) -> list[Row]:
    seconds = 2.0 if ctx.quick else 15.0
    rows: list[Row] = []
    for variant, url in await ctx.databases.both():
        handled, elapsed, cpu = await measure(url, seconds)
        rate = handled / elapsed if elapsed else 0.0
        note = f"{PEOPLE} people closed loop, {handled} updates in {elapsed:.1f} s"
        rows.append(Row(NAME, variant, "updates handled per second", round(rate, 1), "/s", note=note))
        rows.append(Row(NAME, variant, "CPU per update (this process)", round(1000 * cpu / max(handled, 1), 2), "ms"))
    return rows


async def measure(url: str, seconds: float) -> tuple[int, float, float]:
    service = core_service(url)
    houqin = service.houqin
    try:
        for warm in (1, 2):  # statements compiled, pool filled, a first report in place
            await converse(houqin, telegram_sender(warm), f"warm-{warm}")
        handled = 0
        stop = asyncio.Event()

        async def person(number: int) -> None:
            nonlocal handled
            sender, turn, act = telegram_sender(20_000 + number), 0, START
            while not stop.is_set():
                outcome = await houqin.handle(inbound(sender, f"p{number}-{turn}", act))
                handled += 1
                turn += 1
                act = decide(payloads_of(outcome)) or START

        began, cpu = time.perf_counter(), time.process_time()
        people = [asyncio.create_task(person(n)) for n in range(PEOPLE)]
        await asyncio.sleep(seconds)
        stop.set()
        counted, elapsed, spent = handled, time.perf_counter() - began, time.process_time() - cpu
        await asyncio.gather(*people)
        return counted, elapsed, spent
    finally:
        await service.db.dispose()
