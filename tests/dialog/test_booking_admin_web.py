"""The logistics admin's side in the browser chat: rooms imported from a CSV (a bad row imports
nothing), the overview, a room closed for maintenance (its days offer nothing) and opened again, and
/export bookings as a CSV; staff are refused."""

from __future__ import annotations

import csv
import io

from storage.db import Database
from tests.bookings import TUESDAY_MORNING, at, browser_chat_at
from tests.dialog.web_person import WebPerson

ROOMS_CSV = "楼,房间,人数,设备,部门\nA,201,12,projector,\nB,102,60,projector video,\n".encode()
BAD_CSV = "楼,房间,人数,设备,部门\nA,201,12,projector,\nA,999,8,,\nB,102,很多,,\n".encode()


async def test_rooms_imported_closed_opened_and_exported(db: Database) -> None:
    async with browser_chat_at(db, at(TUESDAY_MORNING)) as client:
        lin, wang = WebPerson(client, "lin.hua"), WebPerson(client, "wang.fang")
        refused = await lin.sends_file(BAD_CSV, "rooms.csv", caption="/book import")
        assert "有 2 处问题，什么都没有导入：" in refused
        assert "第 3 行：找不到房间 A 999。" in refused and "第 4 行：人数应为 1–500 的整数。" in refused
        assert "目前没有可以预订的会议室" in await wang.says("/book")
        assert "管理会议室预订" in await wang.sends_file(ROOMS_CSV, "rooms.csv", caption="/book import")
        assert "已导入 2 间会议室。" in await lin.sends_file(ROOMS_CSV, "rooms.csv", caption="/book import")
        listed = await lin.says("/book admin")
        assert "📋 可预订的会议室和车辆（2）：" in listed
        await lin.says("/admin")
        assert "📋 可预订的会议室和车辆（2）：" in await lin.presses("会议室")  # the same, from /admin
        assert "教学楼 102 阶梯教室（60 人，投影仪、视频会议）" in listed

        closed = await lin.says("/book close A 201 2026-11-25 2026-11-26")
        assert "行政楼 201 第一会议室 在 2026-11-25 至 2026-11-26 维护停用" in closed
        await wang.says("/book")
        await wang.presses("行政楼 201")
        await wang.presses("8")
        assert "2026-11-25 已经没有空闲时段了" in await wang.presses("明天")
        await wang.says("/cancel")
        assert "恢复可预订" in await lin.says("/book open A 201")
        await wang.says("/book")
        await wang.presses("行政楼 201")
        await wang.presses("8")
        assert "几点开始？" in await wang.presses("明天")
        await wang.presses("10:00")
        await wang.presses("1 小时")
        await wang.presses("只这一次")
        await wang.says("预算会")
        await wang.presses("✔ 提交")

        exported = await lin.says("/export bookings csv")
        [sheet] = exported.files
        content = (await client.get(sheet["url"])).content
        rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
        assert rows[0][:4] == ["单号", "类型", "会议室/车辆", "预订人"]
        assert rows[1][:5] == ["B-2026-000001", "会议室", "行政楼 201 第一会议室", "王芳", "预算会"]
        assert "导出会议室和用车记录" in await wang.says("/export bookings csv")  # refused, named
