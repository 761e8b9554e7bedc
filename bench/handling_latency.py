"""handling-latency: how long Houqin takes per update at a fixed offered load of 100 updates/s.

Core: repair conversations of many people, each update handed to ``Houqin.handle`` at its scheduled
time in this process's event loop (open loop, see bench/load.py); latency is from the scheduled time
to handle() returning, so it includes waiting behind other updates but no network.
Channel: the same schedule pushed into the fake Bot API, latency until Houqin's last reply for that
update reaches the fake (see bench/telegram.py).
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field

from bench import telegram
from bench.common import Context, Row, core_service, latency_rows
from bench.load import schedule
from bench.script import Act, calibrate, converse, inbound, telegram_sender
from handlers.core.engine import Houqin

NAME = "handling-latency"
RATE = 100.0
P99_TARGET_MS = 10.0
DRAIN_S = 60.0  # after the last send, how long unfinished updates may take before they count as missing


@dataclass
class Measured:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    achieved_rate: float = math.nan
    stale: int = 0  # answered "this button is stale": the schedule outran the dialog
    missing: int = 0


async def run(ctx: Context) -> list[Row]:
    duration = 1.0 if ctx.quick else 10.0
    rows: list[Row] = []
    for variant, url in await _databases(ctx):
        rows.extend(_rows(f"core, {variant}", await core_latency(url, RATE, duration)))
    for variant, url in await _databases(ctx):
        channel = await telegram.open_loop(url, RATE, duration)
        measured = Measured(channel.latencies, [], channel.achieved_rate, 0, channel.missing)
        note = f"presses sent before their button was shown: {channel.ahead}; " if channel.ahead else ""
        note += f"CPU busy: bot {channel.bot_busy:.0%}, fake Bot API {channel.fake_busy:.0%}"
        rows.extend(_rows(f"Telegram channel, {variant}", measured, note))
    return rows


async def _databases(ctx: Context) -> list[tuple[str, str]]:
    return await ctx.databases.both()


def _rows(variant: str, measured: Measured, extra: str = "") -> list[Row]:
    notes = [f"{len(measured.latencies)} updates answered at {measured.achieved_rate:.0f}/s"]
    if measured.missing:
        notes.append(f"{measured.missing} not answered within {DRAIN_S:.0f} s")
    if measured.errors:
        notes.append(f"{len(measured.errors)} failed, first: {measured.errors[0][:120]}")
    if measured.stale:
        notes.append(f"{measured.stale} answered as stale")
    if extra:
        notes.append(extra)
    rows = latency_rows(NAME, variant, measured.latencies, p99_target_ms=P99_TARGET_MS)
    rows[1].note = "; ".join(notes)
    return rows


async def core_latency(url: str, rate: float, duration: float) -> Measured:
    service = core_service(url)
    try:
        # Warm-up first: SQLAlchemy compiles and caches each statement on first use, the pool opens
        # connections, and a flow that notices earlier reports sees one, as it would in real use.
        for person in (1, 2):
            await converse(service.houqin, telegram_sender(person), f"warm-{person}")
        acts = await calibrate(service.houqin, telegram_sender(3), "calibration")
        return await _drive(service.houqin, acts, rate, duration)
    finally:
        await service.db.dispose()


async def _drive(houqin: Houqin, acts: list[Act], rate: float, duration: float) -> Measured:
    loop = asyncio.get_running_loop()
    measured = Measured()
    sends = list(schedule(rate, duration, len(acts)))
    latencies = [math.nan] * len(sends)
    tasks: set[asyncio.Task[None]] = set()

    async def handle(index: int, due: float, conversation: int, step: int) -> None:
        update = inbound(telegram_sender(10_000 + conversation), f"{conversation}-{step}", acts[step])
        try:
            outcome = await houqin.handle(update)
        except Exception as exc:  # counted and reported: one failure must not stop the schedule
            measured.errors.append(f"{type(exc).__name__}: {exc}")
            return
        latencies[index] = loop.time() - due
        if outcome.toast is not None:
            measured.stale += 1

    def fire(index: int, due: float, conversation: int, step: int) -> None:
        task = loop.create_task(handle(index, due, conversation, step))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    start = loop.time() + 0.05
    # call_at, not sleep-then-send: the schedule stays fixed even when handling blocks the loop.
    timers = [loop.call_at(start + s.at, fire, s.index, start + s.at, s.conversation, s.step) for s in sends]
    began = time.perf_counter()
    last_send, deadline = start + sends[-1].at, start + sends[-1].at + DRAIN_S
    await asyncio.sleep(last_send - loop.time() + 0.001)
    if tasks:
        await asyncio.wait(set(tasks), timeout=max(0.0, deadline - loop.time()))
    elapsed = time.perf_counter() - began
    for timer in timers:
        timer.cancel()
    for task in list(tasks):  # still running after the drain limit: reported missing
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    measured.latencies = [value for value in latencies if not math.isnan(value)]
    measured.missing = len(sends) - len(measured.latencies) - len(measured.errors)
    measured.achieved_rate = len(measured.latencies) / elapsed
    return measured
