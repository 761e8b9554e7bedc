"""A fan-out to 1,000 people against a fake Bot API that enforces Telegram's flood limits (30/s
overall, 1/s per chat, 429 beyond): everyone is served with no 429, and the bot keeps answering
someone who writes in meanwhile. Takes ~40 s of real time (1,000 messages at 25/s): the one such test."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import func, insert, select

from bot.service import Service
from handlers.core.i18n import Lines, msg
from handlers.core.outbox import Notice
from handlers.core.sends import Delivery, deliver_all, fixed
from storage.db import Database
from storage.models import ChannelAccount, OutboxMessage, Person, utcnow
from tests.dialog.telegram_person import TelegramPerson, handled, notices_delivered
from tests.fakes.telegram_api import FakeBotAPI

RECIPIENTS = 1000
FIRST_ID = 700_000


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_thousand_recipients_are_served_inside_telegrams_limits_while_the_bot_keeps_answering(
    db: Database, bot_api: FakeBotAPI, telegram: Service, telegram_user: Callable[..., TelegramPerson]
) -> None:
    ids = range(FIRST_ID, FIRST_ID + RECIPIENTS)
    for telegram_id in ids:
        bot_api.user(telegram_id, f"员工{telegram_id}")
    async with db.unit_of_work() as session:
        await session.execute(insert(Person), [{"display_name": f"员工{i}", "locale": "zh_CN"} for i in ids])
        people = (
            await session.execute(select(Person.id, Person.display_name).where(Person.display_name.like("员工%")))
        ).all()
        await session.execute(
            insert(ChannelAccount),
            [
                {"person_id": pid, "channel": "telegram", "external_id": name[2:], "address": name[2:]}
                for pid, name in people
            ],
        )
    bot_api.enforce_limits(per_chat_per_second=1.0, global_per_second=30.0)
    reminder = msg("reminder.approvals", count=1, lines=Lines((msg("digest.hours", hours="1"),)))
    deliveries = [
        Delivery("reminder.approvals", "queue", pid, "2026-11-24", fixed(Notice(pid, reminder))) for pid, _ in people
    ]
    tally = await deliver_all(db, deliveries, utcnow())
    assert tally.sent == RECIPIENTS

    # Someone writes in while the fan-out is going out: answered before it is over.
    asker = telegram_user(9_000_001, "问")
    update = asker.user.send_text("/start")
    await handled(db, update["update_id"], timeout=30)
    async with db.unit_of_work() as session:
        still_to_send = await session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.sent_at.is_(None))
        )
    assert still_to_send and still_to_send > 100
    assert (asker.chat[0].text or "").startswith("你好，问")

    await notices_delivered(db, timeout=120)
    served = {m.chat_id for chat_id in ids for m in bot_api.messages(chat_id)}
    assert len(served) == RECIPIENTS
    assert bot_api.too_many_requests == 0
    rate = bot_api.measured_rate()
    print(f"\n{RECIPIENTS} recipients: {rate:.1f} messages/s, 429s: {bot_api.too_many_requests}")
    assert rate <= 30
