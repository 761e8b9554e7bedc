"""Notices to other people over Telegram: one slow chat does not hold up the others; a person who
blocked the bot is marked unreachable and skipped from then on."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

import pytest
from sqlalchemy import select

from bot.service import Service
from handlers.core.conversation import Inbound, Outcome
from handlers.core.i18n import msg
from handlers.core.outbox import Notice, notify
from storage.db import Database
from storage.models import ChannelAccount, OutboxMessage, Person, utcnow
from tests.channels import telegram_of
from tests.dialog.telegram_person import TelegramPerson, notices_delivered
from tests.fakes.telegram_api import FakeBotAPI


async def person_of(db: Database, telegram_id: int) -> int:
    async with db.unit_of_work() as session:
        found = await session.scalar(
            select(ChannelAccount.person_id).where(ChannelAccount.external_id == str(telegram_id))
        )
        assert found is not None
        return found


async def queue(db: Database, person_id: int, count: int, now: datetime) -> None:
    async with db.unit_of_work() as session:
        for n in range(count):
            await notify(session, Notice(person_id, msg("ticket.notice.closed", number=f"R-2026-{n:06d}")), now)


async def test_a_flood_limited_chat_waits_alone(
    db: Database, bot_api: FakeBotAPI, telegram: Service, telegram_user: Callable[..., TelegramPerson]
) -> None:
    busy, calm = telegram_user(9001, "忙"), telegram_user(9002, "闲")
    await busy.says("/start")
    await calm.says("/start")
    # Stricter than Telegram (and than Houqin's own pacing of one per 1.1 s), so this chat is told to wait.
    bot_api.enforce_limits(per_chat_per_second=0.5, global_per_second=30.0)
    await queue(db, await person_of(db, 9001), 3, utcnow())
    await queue(db, await person_of(db, 9002), 1, utcnow())
    telegram_of(telegram)._wake.set()

    # The calm chat's notice goes out at once, although the busy chat is being told to wait.
    await bot_api.wait_for(lambda: any("R-2026-000000" in (m.text or "") for m in calm.chat), timeout=15)
    await bot_api.wait_for(lambda: sum("已关闭" in (m.text or "") for m in busy.chat) == 3, timeout=15)
    assert bot_api.too_many_requests >= 1
    await notices_delivered(db)


async def test_a_person_who_blocked_the_bot_is_marked_unreachable(
    db: Database, bot_api: FakeBotAPI, telegram: Service, telegram_user: Callable[..., TelegramPerson]
) -> None:
    gone = telegram_user(9003, "走了")
    await gone.says("/start")
    gone.user.blocked = True
    person_id = await person_of(db, 9003)
    await queue(db, person_id, 2, utcnow())
    telegram_of(telegram)._wake.set()
    await notices_delivered(db)
    async with db.unit_of_work() as session:
        account = await session.scalar(select(ChannelAccount).where(ChannelAccount.person_id == person_id))
        assert account is not None and account.unreachable_since is not None
        errors = (await session.scalars(select(OutboxMessage.error).where(OutboxMessage.person_id == person_id))).all()
        assert set(errors) == {"unreachable"}
        # Nothing more is queued for them until they write again.
        assert not await notify(session, Notice(person_id, msg("ticket.notice.closed", number="R")), utcnow())
        assert await session.get(Person, person_id) is not None


async def test_a_slow_chat_does_not_hold_up_another_and_each_chat_keeps_its_order(
    db: Database,
    bot_api: FakeBotAPI,
    telegram: Service,
    telegram_user: Callable[..., TelegramPerson],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slow, quick = telegram_user(9101, "慢"), telegram_user(9102, "快")
    houqin = telegram_of(telegram).houqin
    real_handle = houqin.handle
    release = asyncio.Event()
    seen: list[str] = []

    async def handle(inbound: Inbound) -> Outcome:
        seen.append(f"{inbound.sender.external_id}:{inbound.command or inbound.text}")
        if inbound.sender.external_id == "9101":
            await release.wait()  # this person's first update is stuck (a slow query, say)
        return await real_handle(inbound)

    monkeypatch.setattr(houqin, "handle", handle)
    slow.user.send_text("/start")
    slow.user.send_text("/help")
    quick.user.send_text("/start")
    # The other person is answered while the first is still stuck...
    await bot_api.wait_for(lambda: len(quick.chat) == 1, timeout=15)
    assert slow.chat == [] and "9101:help" not in seen  # ...whose second update waits its turn
    release.set()
    await bot_api.wait_for(lambda: len(slow.chat) == 2, timeout=15)
    assert (slow.chat[0].text or "").startswith("你好，慢") and "/repair" in (slow.chat[1].text or "")
