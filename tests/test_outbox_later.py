"""A notice held back until later (Notice.not_before): not sent before its time, and, as one version of
a card, replaced by a newer version that is due now (a manager's low-rating notice, waiting for the
reporter's comment, goes at once when the comment comes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from handlers.core.flow import as_is
from handlers.core.outbox import Notice, Outbox, notify
from storage.db import Database
from storage.models import ChannelAccount, OutboxMessage, Person

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
WAIT = timedelta(minutes=10)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def manager(db: Database) -> int:
    """Someone with only a Telegram chat to send to."""
    async with db.unit_of_work() as session:
        person = Person(display_name="林主任")
        session.add(person)
        await session.flush()
        session.add(ChannelAccount(person_id=person.id, channel="telegram", external_id="7001", address="7001"))
        return person.id


async def queue(db: Database, person_id: int, text: str, later: datetime | None) -> None:
    async with db.unit_of_work() as session:
        notice = Notice(person_id, as_is(text), card_key="low-rating:1", not_before=later)
        assert await notify(session, notice, NOW)


async def test_a_notice_held_back_goes_at_its_time_not_before(db: Database) -> None:
    lin = await manager(db)
    await queue(db, lin, "★1, 意见：—", NOW + WAIT)
    clock = Clock(NOW + WAIT - timedelta(seconds=1))
    outbox = Outbox(db, "zh_CN", clock)
    assert await outbox.claim("telegram") == []
    clock.now = NOW + WAIT
    [due] = await outbox.claim("telegram")
    assert due.reply.text == "★1, 意见：—"


async def test_a_newer_version_due_now_replaces_the_one_held_back(db: Database) -> None:
    lin = await manager(db)
    await queue(db, lin, "★1, 意见：—", NOW + WAIT)
    await queue(db, lin, "★1, 意见：还是在滴水", None)
    outbox = Outbox(db, "zh_CN", Clock(NOW + timedelta(minutes=1)))
    [sent] = await outbox.claim("telegram")
    assert sent.reply.text == "★1, 意见：还是在滴水"
    async with db.unit_of_work() as session:
        held = await session.scalar(select(OutboxMessage).where(OutboxMessage.not_before.is_not(None)))
    assert held is not None and held.error == "superseded", "the version waiting is never sent after it"
