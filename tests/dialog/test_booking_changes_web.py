"""Changing a room booking in the browser chat: its booker moves it (re-checked: a taken time, a
holiday, outside the open hours and a stranger are refused, nothing changed); logistics move and
cancel someone else's, audited, the booker told; two cancels at once change it once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from handlers.bookings import ledger
from storage.db import Database
from storage.models import AuditEntry, Booking, BookingResource, Person
from tests.bookings import TUESDAY_MORNING, at, bookings_made, browser_chat_at, office_calendar, rooms_bookable
from tests.dialog.web_person import WebPerson
from tests.jobs.org import local


async def booked(db: Database, who: str, day: int, hour: int) -> str:
    async with db.unit_of_work() as session:
        room = await session.scalar(select(BookingResource).order_by(BookingResource.id).limit(1))
        person = await session.scalar(select(Person).where(Person.handle == who))
        assert room is not None and person is not None
        made = await ledger.reserve(
            session,
            resource_id=room.id,
            booker_id=person.id,
            title="例会",
            starts=local(day, hour),
            ends=local(day, hour) + timedelta(hours=1),
            channel="web",
            now=TUESDAY_MORNING,
        )
        assert made is not None and made.number is not None
        return made.number


async def times_of(db: Database, number: str) -> tuple[str, str]:
    async with db.unit_of_work() as session:
        booking = await session.scalar(select(Booking).where(Booking.number == number))
        assert booking is not None
        return booking.starts_at.isoformat(), booking.status


async def test_moves_and_cancels_rechecked_and_told(db: Database) -> None:
    await rooms_bookable(db)
    await office_calendar(db, holidays="2026-11-27")
    mine = await booked(db, "wang.fang", 25, 10)
    theirs = await booked(db, "li.na", 25, 14)
    async with browser_chat_at(db, at(TUESDAY_MORNING)) as client:
        wang, lin, zhang = WebPerson(client, "wang.fang"), WebPerson(client, "lin.hua"), WebPerson(client, "zhang.wei")
        before = await times_of(db, mine)
        assert "已有预订" in await wang.says(f"/book move {mine} 13:30")  # 13:30–14:30 meets 李娜's 14:00
        assert "2026-11-27 是节假日" in await wang.says(f"/book move {mine} 2026-11-27 10:00")
        assert "会议室开放时间为 08:00–18:00" in await wang.says(f"/book move {mine} 17:30 60")
        assert "用法：" in await wang.says(f"/book move {mine} 下午")
        assert "管理会议室预订" in await zhang.says(f"/book move {mine} 16:00")  # not his, not logistics
        assert await times_of(db, mine) == before
        assert f"已改期 {mine}：2026-11-26 09:00–10:30。" in await wang.says(f"/book move {mine} 11-26 09:00 90")

        assert f"已改期 {theirs}" in await lin.says(f"/book move {theirs} 15:00")
        presses = await asyncio.gather(lin.says(f"/book cancel {theirs}"), lin.says(f"/book cancel {theirs}"))
        texts = sorted(press.text for press in presses)
        assert texts == [f"已取消预订 {theirs}，会议室已释放。", f"预订 {theirs} 已结束或已取消，无法再取消。"]
        told = "\n".join(str(n["text"]) for n in await WebPerson(client, "li.na").inbox())
        assert f"你的会议室预订 {theirs} 已由 林华 改到 2026-11-25 15:00–16:00。" in told
        assert f"你的会议室预订 {theirs}（2026-11-25 15:00–16:00）已被 林华 取消。" in told
    assert await bookings_made(db) == 1
    async with db.unit_of_work() as session:
        done = list(await session.scalars(select(AuditEntry.detail).where(AuditEntry.record == theirs)))
        assert {entry["did"] for entry in done} == {"move", "cancel"}
