"""Around a booking's start, in the browser chat: the reminder 15 minutes before with its Check in
button, check-in by the room's door QR, too early refused, and a room nobody checked in to released
by the job 15 minutes after the start, its booker told (a no-show)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from bot.areas import AREAS
from handlers.bookings import ledger
from handlers.bookings.attendance import JOB
from handlers.core.rules import RepairRules
from jobs.scheduler import Jobs
from storage.db import Database
from storage.models import Booking, BookingResource, Person
from tests.bookings import bookings_made, browser_chat_at, rooms_bookable
from tests.dialog.web_person import WebPerson
from tests.jobs.org import SCHEDULE, Clock, local


async def booked(db: Database, who: str, starts: datetime, title: str) -> Booking:
    async with db.unit_of_work() as session:
        room = await session.scalar(select(BookingResource).order_by(BookingResource.id).limit(1))
        person = await session.scalar(select(Person).where(Person.handle == who))
        assert room is not None and person is not None
        made = await ledger.reserve(
            session,
            resource_id=room.id,
            booker_id=person.id,
            title=title,
            starts=starts,
            ends=starts + timedelta(hours=1),
            channel="web",
            now=local(24, 9),
        )
        assert made is not None
        return made


async def test_reminded_checked_in_by_button_and_by_door_and_a_no_show_released(db: Database) -> None:
    await rooms_bookable(db)
    review = await booked(db, "wang.fang", local(24, 10), "预算评审")
    training = await booked(db, "wang.fang", local(24, 14), "新人培训")
    visit = await booked(db, "emma.clark", local(24, 16), "Vendor visit")
    clock = Clock(local(24, 9, 10))
    jobs = Jobs(db, SCHEDULE, RepairRules(), areas=AREAS, clock=lambda: clock.now)
    async with browser_chat_at(db, lambda: clock.now) as client:
        wang, emma = WebPerson(client, "wang.fang"), WebPerson(client, "emma.clark")
        mine = await wang.says("/book my")
        assert mine.labels == ["✖ 取消预订", "✖ 取消预订"]  # no Check in yet
        refused = await wang.presses_payload(f"bk:{review.id}:checkin")
        assert f"预订 {review.number} 现在不能签到：签到时间为开始前后 15 分钟内。" in refused

        await jobs.fire(JOB, now=local(24, 9, 46))
        [reminder] = await wang.inbox()
        assert f"⏰ 会议「预算评审」（{review.number}）将于 10:00 开始。" in reminder["text"]
        await jobs.fire(JOB, now=local(24, 9, 51))  # the next run reminds nobody twice
        assert await wang.inbox(ack=[reminder["id"]]) == []
        clock.now = local(24, 9, 52)
        assert f"已签到 {review.number}，会议室为你保留。" in await wang.presses_payload(f"bk:{review.id}:checkin")
        assert "is not yours to check in to" in await emma.presses_payload(f"bk:{training.id}:checkin")

        # Nobody comes to the training: released at 14:15, wang told; the review stays.
        await jobs.fire(JOB, now=local(24, 14, 16))
        notices = await wang.inbox()
        assert any(
            f"会议「新人培训」（{training.number}）开始 15 分钟后无人签到，会议室已释放" in n["text"] for n in notices
        )
        assert await bookings_made(db, "released") == 1

        # Emma scans the room's door at 16:05: her visit is checked in and not released at 16:15.
        clock.now = local(24, 16, 5)
        room = visit.resource_id
        assert f"Checked in to {visit.number}: the room is yours." in await emma.says(f"/start bkin_{room}")
        await jobs.fire(JOB, now=local(24, 16, 21))
        assert await bookings_made(db, "released") == 1
        clock.now = local(24, 17, 0)
        assert "This room has no booking to check in to right now." in await emma.says(f"/start bkin_{room}")


async def test_a_booking_nobody_approved_before_its_start_gives_the_room_back(db: Database) -> None:
    await rooms_bookable(db)
    async with db.unit_of_work() as session:
        room = await session.scalar(select(BookingResource).order_by(BookingResource.id).limit(1))
        person = await session.scalar(select(Person).where(Person.handle == "wang.fang"))
        assert room is not None and person is not None
        waiting = await ledger.reserve(
            session,
            resource_id=room.id,
            booker_id=person.id,
            title="预算评审",
            starts=local(24, 10),
            ends=local(24, 11),
            channel="web",
            now=local(24, 9),
            status=ledger.PENDING,
        )
        assert waiting is not None
    jobs = Jobs(db, SCHEDULE, RepairRules(), areas=AREAS, clock=lambda: local(24, 10, 1))
    await jobs.fire(JOB, now=local(24, 9, 56))  # before its start: still waiting
    assert await bookings_made(db, "pending") == 1
    await jobs.fire(JOB, now=local(24, 10, 1))
    assert await bookings_made(db, "pending") == 0 and await bookings_made(db, "cancelled") == 1
    async with browser_chat_at(db, lambda: local(24, 10, 2)) as client:
        [told] = await WebPerson(client, "wang.fang").inbox()
        assert told["text"] == f"你的预订 {waiting.number}（「预算评审」）在开始前未获审批，会议室已释放。"
