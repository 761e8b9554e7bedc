"""One person's update that Houqin cannot handle (a bug that strikes only them) while polling
Telegram: it is tried a few times, then the person is told nothing was kept and their chat goes on;
meanwhile everyone else is answered as usual.

The fault is laid in the database (tests/faults.py): a trigger refuses the first contact of that one
Telegram account, as a bug would fail every try of that update. On SQLite and PostgreSQL, through
the real polling loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import func, select

from bot.channels.telegram import channel as telegram_channel
from bot.service import Service
from storage.db import Database
from storage.models import ChannelAccount, ProcessedDelivery
from tests.dialog.telegram_person import TelegramPerson
from tests.fakes.telegram_api import FakeBotAPI
from tests.faults import Refusal, database_refuses

POISONED = 7301  # the Telegram user whose every update fails
SORRY = "抱歉，系统出了点问题，刚才的操作没有保存。请再试一次。"


@pytest.fixture
async def poison(db: Database) -> AsyncIterator[Refusal]:
    """Every first contact of the poisoned account fails, as a bug striking only them would."""
    async with database_refuses(
        db, "channel_accounts", when=f"NEW.external_id = '{POISONED}'", name="poisoned"
    ) as refusal:
        yield refusal


async def eventually(condition: Callable[[], bool], timeout: float = 15.0) -> None:  # noqa: ASYNC109
    """Tries happen in the background, a second apart: wait (a bounded while) for what they end in."""
    async with asyncio.timeout(timeout):
        while True:
            if condition():
                return
            await asyncio.sleep(0.02)


async def accounts(db: Database, user_id: int) -> int:
    async with db.unit_of_work() as session:
        found = select(func.count()).select_from(ChannelAccount).where(ChannelAccount.external_id == str(user_id))
        return int(await session.scalar(found) or 0)


async def test_a_poisoned_update_is_tried_then_apologised_for_and_the_chat_goes_on(
    db: Database, bot_api: FakeBotAPI, telegram_user: Callable[..., TelegramPerson], poison: Refusal
) -> None:
    stuck = telegram_user(POISONED, "钱")
    update = stuck.user.send_text("/help")
    await eventually(lambda: any(SORRY in (m.text or "") for m in stuck.chat))
    # Tried UPDATE_ATTEMPTS times (one getUpdates after another), then told once; nothing was kept.
    assert [m.text for m in stuck.chat] == [SORRY]
    assert await accounts(db, POISONED) == 0
    async with db.unit_of_work() as session:
        assert await session.scalar(select(func.count()).select_from(ProcessedDelivery)) == 0
    # Passed over: Telegram is told so, and it is never handed out again.
    await eventually(lambda: bot_api.acknowledged_offset > update["update_id"])
    # Once the fault is gone, the same chat is served as anyone's.
    await poison.lift()
    assert "/repair" in (await stuck.says("/help")).text
    assert await accounts(db, POISONED) == 1


async def test_while_one_update_waits_for_its_retry_everyone_else_is_answered(
    db: Database,
    bot_api: FakeBotAPI,
    telegram: Service,
    telegram_user: Callable[..., TelegramPerson],
    poison: Refusal,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Between two tries of the failing update a long time passes: longer than the whole test.
    monkeypatch.setattr(telegram_channel, "RETRY_BACKOFF_SECONDS", 600.0)
    stuck = telegram_user(POISONED, "钱")
    update = stuck.user.send_text("/help")  # fetched first, and failing
    others = [telegram_user(7400 + n, f"员工{n}") for n in range(3)]
    # Three people hold whole conversations meanwhile, each answered in turn.
    for person in others:
        assert "/repair" in (await person.says("/help")).text
        assert "需要维修的是哪一类" in (await person.says("/repair")).text
        assert "哪栋楼" in (await person.presses("电气")).text
        assert "没有保存任何内容" in (await person.says("/cancel")).text
    # The failing update still waits for its second try: untold, unacknowledged, its chat quiet.
    assert stuck.chat == [] and bot_api.acknowledged_offset <= update["update_id"]
    assert await accounts(db, POISONED) == 0
