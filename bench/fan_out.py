"""fan-out: reminders to 5,000 people through the real Telegram channel, against a fake Bot API that
enforces Telegram's flood limits (30 messages/s overall, 1/s per chat; 429 with retry_after beyond).

The reminders are queued as the reminder job queues them (handlers/core/sends.deliver_all: a send-log row
and an outbox row per person), then Houqin's outbox sender paces them out. Measured: the rate the
fake accepted them at (first to last), as a fraction of Telegram's 30/s, and how many 429s it had to
give. Run at the default budget (TELEGRAM_SEND_RATE 25/s, headroom for answering people meanwhile)
and at 29/s (as close to the limit as an operator may set it).
"""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import func, insert, select

from bench.common import Context, Row, bench_settings
from bot.service import build_service
from handlers.core.i18n import Lines, msg
from handlers.core.outbox import Notice
from handlers.core.sends import Delivery, Tally, deliver_all, fixed
from storage.db import Database
from storage.models import ChannelAccount, OutboxMessage, Person, utcnow
from tests.channels import telegram_of
from tests.fakes.telegram_api import FakeBotAPI

NAME = "fan-out"
ALLOWED = 30.0
TARGET = 0.95
FIRST_ID = 800_000


async def run(ctx: Context) -> list[Row]:
    people = 300 if ctx.quick else 5_000
    rows: list[Row] = []
    for budget in (25.0, 29.0):
        rows.extend(await measure(await ctx.databases.sqlite(), people, budget))
    return rows


async def measure(url: str, people: int, budget: float) -> list[Row]:
    async with FakeBotAPI() as api:
        ids = range(FIRST_ID, FIRST_ID + people)
        for telegram_id in ids:
            api.user(telegram_id, f"员工{telegram_id}")
        db = Database(url)
        try:
            person_ids = await make_people(db, ids)
        finally:
            await db.dispose()
        settings = bench_settings(
            database_url=url,
            web_enabled=False,
            telegram_bot_token=api.token,
            telegram_api_base_url=api.base_url.removesuffix("/bot"),
            telegram_send_rate=budget,
        )
        service = build_service(settings)
        await service.start()
        try:
            api.enforce_limits(per_chat_per_second=1.0, global_per_second=ALLOWED)
            queued_at = time.perf_counter()
            tally = await remind(service.db, person_ids, "bench")
            queued = time.perf_counter() - queued_at
            telegram_of(service)._wake.set()
            left = await sent_out(service.db, people / budget * 2 + 60)
        finally:
            await service.stop()
        served = len({chat_id for chat_id in ids if api.messages(chat_id)})
        rate = api.measured_rate()
        variant = f"{people:,} reminders, budget {budget:g}/s"
        note = f"queued in {queued:.1f} s ({tally.sent} sent-log rows); served {served:,}; never sent {left}"
        return [
            Row(NAME, variant, "achieved rate", rate, "msg/s"),
            Row(NAME, variant, "of Telegram's 30/s", rate / ALLOWED, "", f"≥ {TARGET:.0%}", rate / ALLOWED >= TARGET),
            Row(NAME, variant, "429s", api.too_many_requests, "", "0", api.too_many_requests == 0, note),
        ]


async def make_people(db: Database, ids: range, channel: str = "telegram", prefix: str = "") -> list[int]:
    """People 员工<id>, each with an account on `channel` whose id and address are prefix + id."""
    async with db.unit_of_work() as session:
        await session.execute(insert(Person), [{"display_name": f"员工{i}", "locale": "zh_CN"} for i in ids])
        made = (
            await session.execute(select(Person.id, Person.display_name).where(Person.display_name.like("员工%")))
        ).all()
        accounts = [
            {"person_id": pid, "channel": channel, "external_id": prefix + n[2:], "address": prefix + n[2:]}
            for pid, n in made
        ]
        await session.execute(insert(ChannelAccount), accounts)
    return [pid for pid, _ in made]


async def remind(db: Database, person_ids: list[int], subject: str) -> Tally:
    """A reminder for each of them, queued as the reminder job queues it (a send-log row, an outbox row)."""
    reminder = msg("reminder.approvals", count=1, lines=Lines((msg("digest.hours", hours="1"),)))
    deliveries = [
        Delivery("reminder.approvals", "queue", pid, subject, fixed(Notice(pid, reminder))) for pid in person_ids
    ]
    return await deliver_all(db, deliveries, utcnow())


async def sent_out(db: Database, within: float) -> int:
    """Until the outbox is empty, or `within` seconds have passed: how many were never sent."""
    deadline = time.monotonic() + within
    while await unsent(db) and time.monotonic() < deadline:
        await _pause()
    return await unsent(db)


async def unsent(db: Database) -> int:
    async with db.unit_of_work() as session:
        count = await session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.sent_at.is_(None))
        )
    return int(count or 0)


async def _pause() -> None:
    await asyncio.sleep(0.5)
