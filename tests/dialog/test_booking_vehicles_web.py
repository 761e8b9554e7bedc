"""A vehicle in the browser chat: logistics registers two vehicles and their drivers; 王芳 asks for a
car, her manager 黄丽 approves (a manager of another department may not, a second press finds it
decided), 林华 assigns a vehicle and a driver among those free then, 王芳 and the driver are told,
the driver finishes the trip with its mileage. An overlapping trip is offered only what is still free,
and the database refuses a vehicle or driver on two trips at once (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from handlers.bookings.vehicles import assigned
from storage.db import Database
from storage.models import BookingResource, Person, Trip
from tests.bookings import TUESDAY_MORNING, at, browser_chat_at
from tests.dialog.web_person import WebPerson
from tests.jobs.org import local


def texts(notices: list[dict[str, Any]]) -> str:
    return "\n".join(str(notice["text"]) for notice in notices)


async def asks_for_a_car(person: WebPerson, destination: str, passengers: str, start: str) -> str:
    assert "去哪里？" in await person.says("/book car")
    assert "几人乘车？" in await person.says(destination)
    assert "用车事由是什么？" in await person.says(passengers)
    assert "哪一天？" in await person.says("报送年度预算材料")
    assert "几点出发？" in await person.presses("明天")
    assert "用车多长时间？" in await person.says(start)
    assert "提交用车申请吗？" in await person.presses("3 小时")
    return (await person.presses("✔ 提交")).text


async def test_a_car_asked_approved_assigned_and_finished(db: Database) -> None:
    async with browser_chat_at(db, at(TUESDAY_MORNING)) as client:
        lin, wang, li = WebPerson(client, "lin.hua"), WebPerson(client, "wang.fang"), WebPerson(client, "li.na")
        huang, xu = WebPerson(client, "huang.li"), WebPerson(client, "xu.ming")
        zhou, sun = WebPerson(client, "zhou.jun"), WebPerson(client, "sun.qiang")
        added = await lin.says("/book vehicle 沪A12345 7 商务车 @zhou.jun @sun.qiang")
        assert "已登记车辆：沪A12345 商务车（7 座），司机：周军, 孙强" in added
        assert "已登记车辆：沪B67890 轿车（4 座）" in await lin.says("/book vehicle 沪B67890 4 轿车 @sun.qiang")
        assert "用法：" in await lin.says("/book vehicle 沪C1 很多 面包车")
        assert "找不到其中一位司机" in await lin.says("/book vehicle 沪C1 7 面包车 @nobody.here")

        asked = await asks_for_a_car(wang, "市财政局", "3", "13:30")
        assert "已提交用车申请 V-2026-000001，等待部门负责人审批。" in asked
        assert "请审批用车申请：\n🚗 V-2026-000001 · 王芳\n目的地：市财政局（3 人）" in texts(await huang.inbox())
        refused = await xu.presses_payload("vt:1:approve")  # hr's manager, not finance's
        assert "审批本部门用车" in refused.text
        assert "已同意用车申请 V-2026-000001" in await huang.presses_payload("vt:1:approve")
        assert "已经有人处理过了" in await huang.presses_payload("vt:1:approve")  # pressed again
        assert "你的用车申请 V-2026-000001 已由 黄丽 同意" in texts(await wang.inbox())
        assert "请派车：" in texts(await lin.inbox())

        assert "派哪辆车？" in await lin.presses_payload("vt:1:assign")
        assert lin.buttons[0][0]["label"] == "沪B67890 轿车（4 座）"  # smallest that seats 3 first
        assert "派哪位司机？" in await lin.presses("沪A12345")
        assert [b["label"] for b in lin.buttons[0]] == ["周军", "孙强"]
        assert "车辆：沪A12345 商务车\n司机：周军" in await lin.presses("周军")
        assert "已派车 V-2026-000001：沪A12345 商务车，司机 周军。" in await lin.presses("✔ 提交")
        assert "已派车：沪A12345 商务车，司机 周军，2026-11-25 13:30–16:30。" in texts(await wang.inbox())
        assert "🚗 你有一趟出车任务（沪A12345 商务车）" in texts(await zhou.inbox())

        # 李娜 asks for the same afternoon: only the other car and its driver are free then.
        assert "V-2026-000002" in await asks_for_a_car(li, "税务局", "2", "14:00")
        await huang.presses_payload("vt:2:approve")
        await lin.presses_payload("vt:2:assign")
        assert [b["label"] for row in lin.buttons for b in row][:1] == ["沪B67890 轿车（4 座）"]
        assert "沪A12345" not in str(lin.buttons)
        await lin.presses("沪B67890")
        assert [b["label"] for b in lin.buttons[0]] == ["孙强"]
        await lin.presses("孙强")
        assert "已派车 V-2026-000002" in await lin.presses("✔ 提交")
        moved = await wang.says("/book move V-2026-000001 2026-11-25 13:00 210")
        assert "已改期 V-2026-000001：2026-11-25 13:00–16:30。" in moved  # the same car and driver: free
        assert "出车任务 V-2026-000001 改到 2026-11-25 13:00–16:30。" in texts(await zhou.inbox())
        assert "管理会议室预订" in await li.says("/book move V-2026-000001 14:00 60")  # not hers
        assert "已取消用车申请 V-2026-000002。" in await li.says("/book cancel V-2026-000002")
        assert "出车任务 V-2026-000002" in texts(await sun.inbox())

        assert "行程 V-2026-000001 不是你的出车任务。" in await sun.presses_payload("vt:1:finish")
        assert "本趟行驶了多少公里？" in await zhou.presses_payload("vt:1:finish")
        assert "行程 V-2026-000001 已结束，里程 86 公里。" in await zhou.says("86")


async def test_the_database_refuses_a_vehicle_or_driver_on_two_trips_at_once(db: Database) -> None:
    async with browser_chat_at(db, at(TUESDAY_MORNING)) as client:
        lin, wang = WebPerson(client, "lin.hua"), WebPerson(client, "wang.fang")
        await lin.says("/book vehicle 沪A12345 7 商务车 @zhou.jun")
        await lin.says("/book vehicle 沪B67890 4 轿车 @zhou.jun")
        await asks_for_a_car(wang, "市财政局", "3", "13:30")
        await asks_for_a_car(wang, "审计局", "2", "15:00")
    async with db.unit_of_work() as session:
        first, second = list(await session.scalars(select(Trip).order_by(Trip.id)))
        car_a, car_b = list(await session.scalars(select(BookingResource).order_by(BookingResource.id)))
        zhou = await session.scalar(select(Person).where(Person.handle == "zhou.jun"))
        assert zhou is not None
        for trip in (first, second):
            trip.status = "pending_assignment"
    async with db.unit_of_work() as session:
        trip_one, trip_two = (await session.get(Trip, first.id), await session.get(Trip, second.id))
        assert trip_one is not None and trip_two is not None
        assert await assigned(session, trip_one, car_a.id, zhou.id)
        assert not await assigned(session, trip_two, car_a.id, zhou.id)  # both busy 15:00–16:30
        assert not await assigned(session, trip_two, car_b.id, zhou.id)  # the driver still is
    async with db.unit_of_work() as session:
        assert [t.status for t in await session.scalars(select(Trip).order_by(Trip.id))] == [
            "assigned",
            "pending_assignment",
        ]
    # The second trip at 17:00 with the other car and the same driver; the first then cannot be
    # moved into it: 周军 drives both.
    async with db.unit_of_work() as session:
        trip_two = await session.get(Trip, second.id)
        assert trip_two is not None
        trip_two.starts_at, trip_two.ends_at = local(25, 17), local(25, 18)
    async with db.unit_of_work() as session:
        trip_two = await session.get(Trip, second.id)
        assert trip_two is not None and await assigned(session, trip_two, car_b.id, zhou.id)
    async with browser_chat_at(db, at(TUESDAY_MORNING)) as client:
        wang = WebPerson(client, "wang.fang")
        refused = await wang.says("/book move V-2026-000001 2026-11-25 16:30 60")
        assert "V-2026-000001 的车辆或司机在新的时间另有安排，时间未改。" in refused
        assert "已改期 V-2026-000001" in await wang.says("/book move V-2026-000001 2026-11-25 15:30 90")
    if db.dialect == "postgresql":  # and past the application, the exclusion constraints themselves
        for column in ("vehicle_id", "driver_id"):
            with pytest.raises(IntegrityError, match=f"ex_trips_{column}_no_overlap"):
                async with db.unit_of_work() as session:
                    # The second trip moved onto the first's time, sharing only the vehicle, or only the driver.
                    shared = (
                        {"vehicle_id": car_a.id, "driver_id": None}
                        if column == "vehicle_id"
                        else {"vehicle_id": car_b.id, "driver_id": zhou.id}
                    )
                    await session.execute(
                        update(Trip)
                        .where(Trip.id == second.id)
                        .values(starts_at=local(25, 16), ends_at=local(25, 16, 30), **shared)
                    )
