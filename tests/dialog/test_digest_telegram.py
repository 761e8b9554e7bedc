"""A manager on Telegram gets the weekly digest (its text, then its chart as a photo) through the
real python-telegram-bot stack, and presses "approve pending" to approve what waits for them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import delete, select

from bot.areas import AREAS
from bot.service import Service
from handlers.digest.send import send_weekly
from storage.db import Database
from storage.models import Person, PersonRole, Requisition, Ticket, utcnow
from tests.channels import telegram_of
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
    tally = await send_weekly(db, SCHEDULE, now, now, only=[manager_id], areas=AREAS)
    assert tally.sent == 1
    telegram_of(telegram)._wake.set()
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


async def test_a_manager_reminds_overdue_technicians_from_the_digest_and_the_technician_gets_going(
    db: Database, telegram: Service, telegram_user: Callable[..., TelegramPerson]
) -> None:
    manager, technician, reporter = (
        telegram_user(8311, "林主任"),
        telegram_user(8312, "赵师傅"),
        telegram_user(8313, "王"),
    )
    await make_staff(db, manager, "manager:logistics", department="logistics")
    await make_staff(db, technician, "technician:electrical", department="logistics")
    await make_staff(db, reporter, department="finance")
    now = utcnow()
    async with db.unit_of_work() as session:
        ids: dict[str, int] = {name: pid for name, pid in await session.execute(select(Person.display_name, Person.id))}
        late = Ticket(
            reporter_id=ids["王"],
            category="electrical",
            description="灯不亮",
            location_text="A-201",
            urgency="high",
            status="accepted",
            channel="telegram",
            assignee_id=ids["赵师傅"],
            created_at=now - timedelta(hours=30),
            due_at=now - timedelta(hours=6, minutes=5),
        )
        session.add(late)
        await session.flush()
        late.number = number = f"R-2026-{late.id:06d}"

    await send_weekly(db, SCHEDULE, now, now, only=[ids["林主任"]], areas=AREAS)
    telegram_of(telegram)._wake.set()
    await notices_delivered(db)
    digest = manager.latest("📊 每周简报 — 后勤保障处")
    assert f"目前超时（1）：\n  · {number} 电气照明，赵师傅，超时 6 小时" in (digest.text or "")

    answered = await manager.presses("⏰ 提醒超时的维修人员")
    assert answered == ["已提醒 1 位维修人员处理超时工单。"]
    nudge = technician.latest(f"⏰ {number} 已超时 6 小时")
    assert "▶ 开始维修" in [b["text"] for b in nudge.buttons]
    await technician.presses("▶ 开始维修")
    async with db.unit_of_work() as session:
        assert await session.scalar(select(Ticket.status).where(Ticket.number == number)) == "in_progress"

    # The digest's buttons are retired once pressed; pressed again anyway (a replayed press) within the
    # hour it nudges nobody twice, and someone without the role is refused.
    again = await manager.presses_data(digest.message_id, "jb:remind", strict=False)
    assert "已提醒 0 位维修人员处理超时工单。" in again
    refused = await reporter.presses_data(digest.message_id, "jb:remind", strict=False)
    assert "只有部门负责人和管理员可以提醒维修人员。" in refused
