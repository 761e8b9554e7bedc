"""/assign typed in the browser chat: the logistics admin hands a repair to another technician by name,
or picks one from the list; a wrong name, a wrong number or someone who does not supervise repairs
changes nothing (the last is audited)."""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlalchemy import func, select

from storage.db import Database
from storage.models import AuditEntry, OutboxMessage, Person, Ticket
from tests.dialog.web_person import WebPerson

TICKET = re.compile(r"R-\d{4}-\d{6}")


async def a_flickering_light(wang: WebPerson) -> str:
    """王芳 reports a light in the first meeting room: electrical, so it goes to 赵磊."""
    await wang.says("/repair")
    await wang.presses("电气照明")
    await wang.presses("行政楼")
    await wang.presses("201 第一会议室")
    await wang.says("会议室的灯一直闪")
    await wang.presses("跳过")
    await wang.presses("一般")
    number = TICKET.search((await wang.presses("✔ 提交")).text)
    assert number is not None
    return number.group()


async def assignee(db: Database, number: str) -> str | None:
    async with db.unit_of_work() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == number))
        assert ticket is not None
        return ticket.assignee.demo_key if ticket.assignee is not None else None


async def audited(db: Database, action: str, outcome: str) -> list[str | None]:
    async with db.unit_of_work() as session:
        found = await session.scalars(
            select(AuditEntry.record).where(AuditEntry.action == action, AuditEntry.outcome == outcome)
        )
        return list(found.all())


async def told(db: Database, demo_key: str, number: str) -> int:
    """Notices queued for a demo person that name the ticket."""
    async with db.unit_of_work() as session:
        person = await session.scalar(select(Person.id).where(Person.demo_key == demo_key))
        rows = await session.scalars(select(OutboxMessage.body).where(OutboxMessage.person_id == person))
        return sum(1 for body in rows if number in str(body))


async def test_the_logistics_admin_assigns_a_repair_by_name_or_from_the_list(
    db: Database, person: Callable[[str], WebPerson]
) -> None:
    wang, lin = person("wang.fang"), person("lin.hua")
    number = await a_flickering_light(wang)
    assert await assignee(db, number) == "zhao.lei"

    assert (await lin.says("/assign")).texts == ["用法：/assign 报修单号 [维修工姓名]，例如 /assign R-2026-000123 赵磊"]
    wrong = await lin.says(f"/assign {number} 无名氏")
    assert wrong.text.startswith("没有叫「无名氏」的维修工。可选：") and "周军" in wrong.text
    assert (await lin.says("/assign R-1999-000001 周军")).texts == ["找不到报修单 R-1999-000001。"]
    assert await assignee(db, number) == "zhao.lei"

    # By name (or handle): 周军 has it now, and hears of it.
    assert (await lin.says(f"/assign {number} 周军")).texts == [f"{number} 已派给 周军。"]
    assert await assignee(db, number) == "zhou.jun"
    assert await told(db, "zhou.jun", number) >= 1
    # Without a name: the technicians to choose from, those of the ticket's kind first.
    listed = await lin.says(f"/assign {number}")
    assert listed.labels[0].startswith("✓ 赵磊")
    assert (await lin.presses("✓ 赵磊")).texts[-1] == f"{number} 已派给 赵磊。"
    assert await assignee(db, number) == "zhao.lei"
    assert await audited(db, "ticket.assign", "ok") == [number, number]


async def test_someone_who_does_not_supervise_repairs_cannot_assign_them(
    db: Database, person: Callable[[str], WebPerson]
) -> None:
    wang, li = person("wang.fang"), person("li.na")
    number = await a_flickering_light(wang)
    async with db.unit_of_work() as session:
        before = await session.scalar(select(func.count()).select_from(AuditEntry))
    for who in (wang, li):  # the reporter herself, and a colleague
        refused = await who.says(f"/assign {number} 周军")
        assert refused.texts == [f"你没有权限对 {number} 进行这个操作。"]
    assert await assignee(db, number) == "zhao.lei"
    assert await audited(db, "ticket.assign", "refused") == [number, number]
    async with db.unit_of_work() as session:
        assert await session.scalar(select(func.count()).select_from(AuditEntry)) == (before or 0) + 2
