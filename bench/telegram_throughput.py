"""telegram-throughput: updates per second through python-telegram-bot's real Application.

N people at once, each walking a whole repair conversation and waiting for each of Houqin's answers
before its next step (closed loop per person: the buttons pressed are the ones on screen). With N
well above one an update is always queued, so the rate is the bot's capacity. The ceiling is a bare
PTB echo bot on the same fake, the same people sending as many texts each as Houqin's conversation
took; it is short, so it runs three times and the median counts.

The fake answers in well under a millisecond, which makes this a measure of CPU per update. Real
Telegram is tens of milliseconds or more away, so both are measured once more with every Bot API
request answered ROUND_TRIP_S later: then the number of round trips per update decides.
"""

from __future__ import annotations

from bench import telegram
from bench.common import Context, Row

NAME = "telegram-throughput"
RATIO_TARGET = 0.5
ECHO_RUNS = 3
ROUND_TRIP_S = 0.05


async def run(ctx: Context) -> list[Row]:
    people = 10 if ctx.quick else 50
    variants = [("Houqin, SQLite", await ctx.databases.sqlite())]
    if (pg := await ctx.databases.postgresql()) is not None:
        variants.append(("Houqin, PostgreSQL", pg))
    measured = [(variant, await telegram.closed_loop("repair", people, url)) for variant, url in variants]
    per_person = max(1, round(measured[0][1].updates / people))
    runs = 1 if ctx.quick else ECHO_RUNS
    echoes = [await telegram.closed_loop("echo", people, texts=per_person) for _ in range(runs)]
    ceiling = sorted(echoes, key=lambda echo: echo.rate)[len(echoes) // 2]
    spread = f"median of {runs}: " + ", ".join(f"{echo.rate:.0f}" for echo in echoes) + " /s"
    rows = [_rate_row("echo ceiling (PTB)", ceiling, spread)]
    for variant, houqin in measured:
        rows.extend(_compared(variant, houqin, ceiling))
    # Houqin calls the Bot API over aiohttp (bot/channels/telegram/transport.py): the same echo bot on
    # that transport too, so the gap that is Houqin's own work shows as well as the ratio.
    same = [await telegram.closed_loop("echo", people, texts=per_person, transport="aiohttp") for _ in range(runs)]
    same_ceiling = sorted(same, key=lambda echo: echo.rate)[len(same) // 2]
    rows.append(_rate_row("echo (PTB over aiohttp, as Houqin's channel)", same_ceiling))
    for variant, houqin in measured:
        rows.append(_ratio_row(f"{variant}, to the echo over aiohttp", houqin, same_ceiling))

    # Far from the Bot API: fewer people, as each update now takes a few round trips.
    far_people, far = (2 if ctx.quick else 10), f"{ROUND_TRIP_S * 1000:.0f} ms to the Bot API"
    # A fresh database: the new fake numbers its updates from the start again, and Houqin would
    # rightly take them for redeliveries of the ones it has already handled.
    fresh = await ctx.databases.sqlite()
    houqin_far = await telegram.closed_loop("repair", far_people, fresh, round_trip=ROUND_TRIP_S)
    echo_far = await telegram.closed_loop("echo", far_people, texts=per_person, round_trip=ROUND_TRIP_S)
    rows.append(_rate_row(f"echo ceiling (PTB), {far}", echo_far))
    rows.extend(_compared(f"Houqin, SQLite, {far}", houqin_far, echo_far))
    return rows


def _compared(variant: str, houqin: telegram.ClosedLoopResult, ceiling: telegram.ClosedLoopResult) -> list[Row]:
    return [_rate_row(variant, houqin), _ratio_row(variant, houqin, ceiling)]


def _ratio_row(variant: str, houqin: telegram.ClosedLoopResult, ceiling: telegram.ClosedLoopResult) -> Row:
    ratio = houqin.rate / ceiling.rate
    return Row(NAME, variant, "ratio to echo", ratio, "×", f"≥ {RATIO_TARGET:g}", ratio >= RATIO_TARGET)


def _rate_row(variant: str, measured: telegram.ClosedLoopResult, extra: str = "") -> Row:
    busy_bot, busy_fake = measured.bot_cpu / measured.elapsed, measured.fake_cpu / measured.elapsed
    notes = [
        f"{measured.updates} updates in {measured.elapsed:.1f} s",
        f"CPU busy: bot {busy_bot:.0%}, fake Bot API {busy_fake:.0%}",
        f"Bot API requests per update {measured.requests / max(measured.updates, 1):.2f}",
    ]
    if measured.errors:
        notes.append(f"{len(measured.errors)} people failed, first: {measured.errors[0][:120]}")
    if extra:
        notes.append(extra)
    return Row(NAME, variant, "updates/s", measured.rate, "/s", note="; ".join(notes))
