"""feishu-ack and feishu-fan-out: Feishu's two numbers from issue 18.

feishu-ack: how long Feishu waits for the answer to a card's button (card.action.trigger; Feishu's own
limit is 3 s, the target 300 ms at p99). The answer carries the core's turn (the pressed card redrawn
with the choice), so it is a dialog turn's latency. Through the webhook route as `houqin run` builds it
(encrypted, signed bodies through httpx's ASGITransport, the SDK's client on the fake Open Platform on
127.0.0.1), and over the long connection (the fake pushes the callback as a protobuf frame to the
SDK's ws.Client, which answers on the socket). Each round: /repair typed (not timed), the first
choice pressed (timed), /cancel (not timed); one after another, so the numbers are a press's own.

feishu-fan-out: 2,000 notices through the real channel against the fake enforcing Feishu's limits
(50 messages/s per app, 5/s per person; 429 / 99991400 beyond), queued as the reminder job queues
them and paced out at FEISHU_SEND_RATE (20/s by default). Measured: the achieved rate, and 429s.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx

from bench.common import Context, Row, bench_settings, latency_rows
from bench.fan_out import _pause, make_people, unsent
from bot.app import create_app
from bot.service import build_service
from bot.settings import Settings
from handlers.core.i18n import Lines, msg
from handlers.core.outbox import Notice
from handlers.core.sends import Delivery, deliver_all, fixed
from storage.db import Database
from storage.models import utcnow
from tests.channels import feishu_of
from tests.dialog.feishu_person import FeishuPerson, FeishuWorld
from tests.fakes.feishu_api import ENCRYPT_KEY, VERIFICATION_TOKEN, FakeFeishu

ACK = "feishu-ack"
FAN_OUT = "feishu-fan-out"
TARGET_MS = 300.0
PER_APP, PER_PERSON = 50.0, 5.0


async def run_ack(ctx: Context) -> list[Row]:
    rounds = 10 if ctx.quick else 200
    databases = await ctx.databases.both()
    rows: list[Row] = []
    for db_name, url in databases:
        rows.extend(
            latency_rows(ACK, f"webhook, {db_name}", await presses(url, rounds, "webhook"), p99_target_ms=TARGET_MS)
        )
    url = await ctx.databases.sqlite()
    connected = await presses(url, rounds, "long_connection")
    rows.extend(latency_rows(ACK, "long connection, SQLite", connected, p99_target_ms=TARGET_MS))
    return rows


async def presses(url: str, rounds: int, mode: str) -> list[float]:
    took: list[float] = []
    async with FakeFeishu() as api:
        settings = feishu_settings(url, api, mode)
        service = build_service(settings)
        channel = feishu_of(service)
        await service.start()
        try:
            transport = httpx.ASGITransport(app=create_app(service))
            async with httpx.AsyncClient(transport=transport, base_url="http://houqin.bench", timeout=30) as http:
                if mode == "webhook":
                    world = FeishuWorld(api, channel, service.db, http)
                else:
                    await asyncio.wait_for(api.connected.wait(), timeout=30)
                    world = FeishuWorld(api, channel, service.db)
                bench = FeishuPerson.of(world, "ou_bench", "测试")
                for round_ in range(rounds + 1):  # the first is a warm-up
                    await bench.writes("/repair")
                    question = bench.chat[-1]
                    value = question.buttons[0]["behaviors"][0]["value"]
                    started = time.perf_counter()
                    answer = await world.deliver(press_payload(bench, question.id, value), settle=False)
                    elapsed = time.perf_counter() - started
                    assert "card" in answer.body, answer
                    await world.settle()
                    await bench.writes("/cancel")
                    if round_:
                        took.append(elapsed)
        finally:
            await service.stop()
    return took


def press_payload(who: FeishuPerson, message_id: str, value: dict[str, str]) -> dict[str, object]:
    from tests.dialog.feishu_person import event_payload

    event = {
        "operator": {"open_id": who.open_id},
        "action": {"value": value, "tag": "button"},
        "context": {"open_message_id": message_id},
    }
    return event_payload("card.action.trigger", event)


async def run_fan_out(ctx: Context) -> list[Row]:
    people = 200 if ctx.quick else 2_000
    url = await ctx.databases.sqlite()
    async with FakeFeishu() as api:
        db = Database(url)
        try:
            person_ids = await make_people(db, range(people), "feishu", "ou_")
        finally:
            await db.dispose()
        settings = feishu_settings(url, api, "webhook")
        service = build_service(settings)
        await service.start()
        try:
            api.enforce(PER_APP, PER_PERSON)
            reminder = msg("reminder.approvals", count=1, lines=Lines((msg("digest.hours", hours="1"),)))
            deliveries = [
                Delivery("reminder.approvals", "queue", pid, "bench", fixed(Notice(pid, reminder)))
                for pid in person_ids
            ]
            await deliver_all(service.db, deliveries, utcnow())
            feishu_of(service)._wake.set()
            deadline = time.monotonic() + people / settings.feishu_send_rate * 2 + 60
            await until(lambda: unsent(service.db), deadline)
            left = await unsent(service.db)
        finally:
            await service.stop()
    rate = api.measured_rate()
    variant = f"{people:,} notices, FEISHU_SEND_RATE {settings.feishu_send_rate:g}/s"
    served = sum(1 for chat in api.messages.values() if chat)
    note = f"served {served:,}; never sent {left}; Feishu's limits {PER_APP:g}/s per app, {PER_PERSON:g}/s per person"
    return [
        Row(
            FAN_OUT,
            variant,
            "achieved rate",
            rate,
            "msg/s",
            f"≥ {0.95 * settings.feishu_send_rate:g}",
            rate >= 0.95 * settings.feishu_send_rate,
        ),
        Row(FAN_OUT, variant, "429s", api.rate_limited_answers, "", "0", api.rate_limited_answers == 0, note),
    ]


def feishu_settings(url: str, api: FakeFeishu, mode: str) -> Settings:
    """`houqin run` with only Feishu on, talking to the fake; anyone who writes is in."""
    return bench_settings(
        database_url=url,
        feishu_app_id=api.app_id,
        feishu_app_secret=api.app_secret,
        feishu_mode=mode,
        feishu_encrypt_key=ENCRYPT_KEY,
        feishu_verification_token=VERIFICATION_TOKEN,
        feishu_api_base_url=api.base_url,
        feishu_directory_sync=False,
        web_enabled=False,
        telegram_bot_token="",
        access_policy="open",
    )


async def until(waiting: Callable[[], Awaitable[int]], deadline: float) -> None:
    """Until nothing waits (or the deadline): looked at twice a second, as bench/fan_out.py does."""
    while await waiting() and time.monotonic() < deadline:
        await _pause()
