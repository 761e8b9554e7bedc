"""Booking a meeting room in the browser chat, in Chinese and in English: the room, the day, a free
time, how long, a title; the .ics that comes with the confirmation opens in a real calendar library;
/book my, /book today and cancelling; and every bad answer said plainly, changing nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from icalendar import Calendar

from storage.db import Database
from tests.bookings import TUESDAY_MORNING, at, bookings_made, browser_chat_at, rooms_bookable
from tests.dialog.web_person import Said, WebPerson
from tests.jobs.org import SHANGHAI


async def download(client: httpx.AsyncClient, url: str) -> bytes:
    response = await client.get(url)
    assert response.status_code == 200
    return response.content


async def test_wang_fang_books_room_201_for_tomorrow_and_gets_a_calendar_file(db: Database) -> None:
    async with browser_chat_at(db, at(TUESDAY_MORNING)) as client:
        lin = WebPerson(client, "lin.hua")  # a logistics admin makes the room bookable
        assert "已设为可预订：行政楼 201 第一会议室（12 人，投影仪）" in await lin.says("/book room A 201 12 projector")
        wang = WebPerson(client, "wang.fang")
        asked = await wang.says("/book")
        assert "订哪间会议室？" in asked
        assert asked.labels[:2] == ["行政楼 201 第一会议室（12 人，投影仪）", "🔎 任意合适的会议室"]
        assert "多少人参加？" in await wang.presses("行政楼 201")
        too_many = await wang.says("30")
        assert "行政楼 201 第一会议室 最多容纳 12 人，坐不下 30 人。" in too_many
        assert "哪一天？" in await wang.says("10")
        slots = await wang.presses("明天")
        assert "几点开始？" in slots and "第 1/2 页" in slots.text
        assert slots.labels[:4] == ["08:00", "08:30", "09:00", "09:30"]
        assert "开多久？" in await wang.presses("10:00")
        assert "重复吗？" in await wang.presses("1 小时")
        assert "会议主题是什么？" in await wang.presses("只这一次")
        summary = await wang.says("财务月度例会")
        assert "会议室：行政楼 201 第一会议室\n时间：2026-11-25 10:00–11:00\n主题：财务月度例会" in summary
        done = await wang.presses("✔ 提交")
        assert "✅ 已预订 B-2026-000001：行政楼 201 第一会议室，2026-11-25 10:00–11:00，「财务月度例会」。" in done
        [ics] = done.files
        assert ics["name"] == "B-2026-000001.ics"
        event = Calendar.from_ical(await download(client, ics["url"])).walk("VEVENT")[0]
        assert str(event["SUMMARY"]) == "财务月度例会" and str(event["UID"]) == "B-2026-000001@houqin"
        assert event.decoded("DTSTART") == datetime(2026, 11, 25, 10, 0, tzinfo=SHANGHAI).astimezone(UTC)
        assert event.decoded("DTEND") == datetime(2026, 11, 25, 11, 0, tzinfo=SHANGHAI).astimezone(UTC)
        assert "第一会议室" in str(event["LOCATION"])

        mine = await wang.says("/book my")
        assert "你有 1 个待开的预订：" in mine and "B-2026-000001 · 2026-11-25 10:00–11:00" in mine
        assert mine.labels == ["✖ 取消预订"]  # check-in opens 15 minutes before the start
        today = await lin.says("/book today 2026-11-25")
        assert "📅 2026-11-25 会议室安排" in today and "10:00–11:00  财务月度例会（王芳）" in today
        # The same day as a picture: the rooms down the side, the meeting a bar across its hours.
        [picture] = today.files
        assert picture["name"] == "rooms-2026-11-25.png" and picture["image"]
        drawn = await client.get(picture["url"])
        assert drawn.status_code == 200 and drawn.content.startswith(b"\x89PNG")
        assert "已取消预订 B-2026-000001，会议室已释放。" in await wang.presses("✖ 取消预订")
        assert await bookings_made(db) == 0


async def test_emma_books_any_room_for_30_with_video_in_english(db: Database) -> None:
    await rooms_bookable(db)
    async with browser_chat_at(db, at(TUESDAY_MORNING)) as client:
        emma = WebPerson(client, "emma.clark")
        assert "Which room?" in await emma.says("/book")
        assert "How many people?" in await emma.presses("🔎 Any room that fits")
        assert "No room seats 80: the largest seats 60." in await emma.says("80")
        assert "What equipment do you need?" in await emma.says("30")
        assert "Which day?" in await emma.presses("video")
        slots = await emma.presses("Today")
        assert slots.labels[:2] == ["09:30", "10:00"]  # 09:10 now: earlier times have passed
        assert "How long?" in await emma.says("14:00")
        assert "Does it repeat?" in await emma.says("1.5h")
        assert "What is the meeting called?" in await emma.presses("Just once")
        assert "Room: any room for 30 people\nWhen: 2026-11-24 14:00–15:30" in await emma.says("IT all-hands")
        done = await emma.presses("✔ Submit")
        assert "✅ Booked B-2026-000001: Teaching Building 102 Lecture hall, 2026-11-24 14:00–15:30" in done


async def test_bad_days_times_and_lengths_are_refused_in_the_persons_language(db: Database) -> None:
    await rooms_bookable(db)
    async with browser_chat_at(db, at(TUESDAY_MORNING)) as client:
        wang = WebPerson(client, "wang.fang")
        admin = WebPerson(client, "admin")
        assert "已修改法定节假日" in await admin.says("/settings holidays 2026-11-26")
        await wang.says("/book")
        await wang.presses("行政楼 201")
        await wang.presses("8")
        assert "2026-11-23 已经过去了" in await wang.says("2026-11-23")
        assert "2026-11-28 不是工作日" in await wang.says("2026-11-28")
        assert "2026-11-26 是节假日" in await wang.says("11-26")
        assert "最多只能提前 60 天预订" in await wang.says("2027-06-01")
        assert "请按按钮，或输入日期" in await wang.says("下周吧")
        await wang.presses("今天")
        assert "会议室开放时间为 08:00–18:00" in await wang.says("19:00")
        assert "09:00 已经过去了" in await wang.says("09:00")
        assert "请选整点或半点开始" in await wang.says("10:15")
        await wang.says("16:00")
        assert "会议室 18:00 关闭" in await wang.says("3小时")
        assert "时长请按半小时计" in await wang.says("45")
        assert "一次最多预订 4 小时" in await wang.says("300")
        assert "重复吗？" in await wang.says("2小时")
        assert await bookings_made(db) == 0


async def book_201_tomorrow_at_ten(person: WebPerson, title: str) -> Said:
    await person.says("/book")
    await person.presses("行政楼 201")
    await person.says("10")
    await person.presses("明天")
    await person.presses("10:00")
    await person.presses("1 小时")
    await person.presses("只这一次")
    await person.says(title)
    return await person.presses("✔ 提交")


async def test_a_room_that_needs_approval_holds_the_time_until_logistics_decides(db: Database) -> None:
    async with browser_chat_at(db, at(TUESDAY_MORNING)) as client:
        lin = WebPerson(client, "lin.hua")
        made = await lin.says("/book room A 201 12 projector approval")
        assert "已设为可预订：行政楼 201 第一会议室（12 人，投影仪，须经后勤审批）" in made
        wang = WebPerson(client, "wang.fang")
        waiting = await book_201_tomorrow_at_ten(wang, "财务月度例会")
        assert waiting.texts[0] == (
            "📝 你的预订待后勤主管审批（1 个）：\n"
            "B-2026-000001 · 2026-11-25 10:00–11:00 · 行政楼 201 第一会议室 · 财务月度例会 · 待审批\n"
            "时段已为你保留，审批结果会通知你。"
        )
        assert waiting.files == [] and await bookings_made(db, "pending") == 1
        # The time is held while it waits: the next person is not offered 10:00.
        li = WebPerson(client, "li.na")
        await li.says("/book")
        await li.presses("行政楼 201")
        await li.says("5")
        slots = await li.presses("明天")
        assert "10:00" not in slots.labels and "09:30" in slots.labels
        await li.says("/cancel")

        # The logistics admin's card: someone else's press is refused, a press decides once.
        [card] = [n for n in await lin.inbox() if "申请预订须审批的会议室" in n["text"]]
        approve = next(b["payload"] for row in card["buttons"] for b in row if b["label"] == "✔ 批准")
        assert "没有权限" in (await wang.presses_payload(approve)).text
        assert await bookings_made(db, "pending") == 1
        assert (await lin.presses_payload(approve)).texts[0] == "已批准 B-2026-000001，已通知预订人。"
        assert (await lin.presses_payload(approve)).texts[0] == "B-2026-000001 已经处理过了，未作改动。"
        assert await bookings_made(db) == 1
        [told] = [n for n in await wang.inbox() if "已获批准" in n["text"]]
        assert told["text"].startswith(
            "✅ 你的预订 B-2026-000001 已获批准：行政楼 201 第一会议室，2026-11-25 10:00–11:00。"
        )
        [ics] = told["files"]
        event = Calendar.from_ical(await download(client, ics["url"])).walk("VEVENT")[0]
        assert str(event["SUMMARY"]) == "财务月度例会"


async def test_a_rejected_booking_frees_the_room(db: Database) -> None:
    async with browser_chat_at(db, at(TUESDAY_MORNING)) as client:
        lin = WebPerson(client, "lin.hua")
        await lin.says("/book room A 201 12 projector approval")
        wang = WebPerson(client, "wang.fang")
        await book_201_tomorrow_at_ten(wang, "预算讨论")
        [card] = [n for n in await lin.inbox() if "申请预订须审批的会议室" in n["text"]]
        reject = next(b["payload"] for row in card["buttons"] for b in row if b["label"] == "✖ 驳回")
        assert "已驳回 B-2026-000001" in (await lin.presses_payload(reject)).text
        assert await bookings_made(db, "pending") == 0 and await bookings_made(db, "cancelled") == 1
        assert any("未获 林华 批准，会议室已释放" in n["text"] for n in await wang.inbox())
        again = await book_201_tomorrow_at_ten(WebPerson(client, "li.na"), "团建筹备")
        assert "待后勤主管审批" in again.text  # 10:00 is free again
