"""A manager on Telegram gets the weekly digest (its text, then its chart as a photo) through the
real python-telegram-bot stack, and presses "approve pending" to approve what waits for them."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import delete, select

from bot.service import Service
from handlers.digest_send import send_weekly
from storage.db import Database
from storage.models import Person, PersonRole, Requisition, utcnow
from tests.dialog.telegram_person import TelegramPerson, notices_delivered
from tests.dialog.test_ticket_life_telegram import make_staff
from tests.jobs.org import SCHEDULE, requisition


async def test_a_manager_reads_the_digest_and_approves_whats_pending_from_it(
    db: Database, telegram: Service, telegram_user: Callable[..., TelegramPerson]
) -> None:
    async with db.unit_of_work() as session:
        # The demo's finance manager uses the browser; this one uses Telegram.
        await session.execute(delete(PersonRole).where(PersonRole.role == "manager", PersonRole.scope == "finance"))
    manager = telegram_user(8301, "黄主任")
    await make_staff(db, manager, "manager:finance", department="finance")
    number = await requisition(db, created=utcnow(), lines=(("PAPER-A4", 2),))
    async with db.unit_of_work() as session:
        manager_id = await session.scalar(select(Person.id).where(Person.display_name == "黄主任"))
    assert manager_id is not None

    now = utcnow()
    tally = await send_weekly(db, SCHEDULE, now, now, only=[manager_id])
    assert tally.sent == 1
    assert telegram.telegram is not None
    telegram.telegram._wake.set()
    await notices_delivered(db)

    digest, picture = manager.chat[-2:]
    assert (digest.text or "").startswith("📊 每周简报 — 财务处")
    assert "目前待审批 1 个" in (digest.text or "")  # submitted today: next week's figures, but waiting now
    assert [b["text"] for b in digest.buttons] == ["✔ 审批待办（1）"]
    assert picture.kind == "photo" and picture.file is not None
    assert picture.file.data.startswith(b"\x89PNG\r\n\x1a\n")

    queue = await manager.presses("✔ 审批待办")
    assert "等你审批（1 个），点一个打开：" in queue
    opened = await manager.presses(number)
    assert f"📦 {number}" in opened
    await manager.presses("✔ 批准")
    async with db.unit_of_work() as session:
        status = await session.scalar(select(Requisition.status).where(Requisition.number == number))
    assert status == "approved"
