"""`houqin demo` writes six months of the demo organisation's past: every manager's first digest has
figures for each of the last four weeks — the same as counting the rows by hand —, the stock ledger
explains every figure, a second run changes nothing and every demo has the same past."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, or_, select

from bot.areas import AREAS
from handlers.core.demo import write_past
from handlers.digest.send import dry_run
from storage.db import Database
from storage.demo import seed
from storage.models import (
    Department,
    InspectionResult,
    InspectionRound,
    InspectionRoute,
    OutboxMessage,
    Person,
    Requisition,
    StockMovement,
    Ticket,
    TicketEvent,
)
from tests.jobs.org import SCHEDULE, local
from tests.supplies import ledger_disagreements

# The office shut for 国庆 (1–8 October), open on the make-up Saturday after it.
NATIONAL_DAY = replace(
    SCHEDULE, holidays=frozenset(date(2026, 10, d) for d in range(1, 9)), makeup_days=frozenset({date(2026, 10, 10)})
)
NOW = local(30, 9)  # Monday 30 November 2026, 09:00 in Shanghai: the past ends on Sunday the 29th
# A trend line of the digest, in either language: the week's first day, opened, resolved.
TREND = re.compile(r"(\d\d-\d\d) 起一周：新增 (\d+)，解决 (\d+)|week of (\d\d-\d\d): (\d+) opened, (\d+) resolved")


def copied(template: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(template, folder / "demo.db"))


async def demo_database(template: Path, folder: Path) -> Database:
    path = copied(template, folder)
    db = Database(f"sqlite+aiosqlite:///{path}")
    async with db.unit_of_work() as session:
        await seed(session)
    return db


async def opened_in_week(db: Database, department: str, week_start: str) -> int:
    """Tickets of a department's people (reported or mended) opened in the week starting that day."""
    start = local(int(week_start[3:]), 0, month=int(week_start[:2]))
    async with db.unit_of_work() as session:
        members = select(Person.id).join(Department).where(Department.code == department)
        return int(
            await session.scalar(
                select(func.count())
                .select_from(Ticket)
                .where(or_(Ticket.reporter_id.in_(members), Ticket.assignee_id.in_(members)))
                .where(Ticket.created_at >= start, Ticket.created_at < start + timedelta(days=7))
            )
            or 0
        )


async def rows(db: Database) -> tuple[list[tuple[object, ...]], int]:
    async with db.unit_of_work() as session:
        tickets = (await session.execute(select(Ticket.number, Ticket.category, Ticket.status, Ticket.rating))).all()
        requisitions = await session.scalar(select(func.count()).select_from(Requisition))
    return [tuple(t) for t in tickets], int(requisitions or 0)


# One test, not three: writing six months of every area's past is the costliest thing in `make check`.
@pytest.mark.heavy
async def test_every_managers_first_digest_bears_out_the_rows_and_a_second_run_or_another_demo_changes_nothing(
    sqlite_template: Path, tmp_path: Path
) -> None:
    db = await demo_database(sqlite_template, tmp_path / "first")
    added = await write_past(db, AREAS, NOW, NATIONAL_DAY)
    assert added is not None and added["past tickets"] > 500 and added["past requisitions"] > 100

    every = await dry_run(db, SCHEDULE, NOW, "zh_CN", None, areas=AREAS)
    [whole] = [d for d in every if d.heading.startswith("系统管理员 Admin")]
    assert "📋 问卷：平均" in whole.text and "💡 建言献策：" in whole.text  # surveys answered, suggestions made
    digests = [d for d in every if "dept:" in d.heading]
    assert len(digests) == 5  # one per department's manager
    for digest in digests:
        department = digest.heading.split("dept:")[1].split(",")[0]
        weeks = [tuple(part for part in found if part) for found in TREND.findall(digest.text)]
        assert len(weeks) == 4, digest.text
        for week_start, opened, resolved in weeks:
            assert int(opened) > 0 and int(resolved) > 0, digest.text
            assert int(opened) == await opened_in_week(db, department, week_start), (department, week_start)
        assert "★" in digest.text and ("📦 物资：申领" in digest.text or "📦 Supplies:" in digest.text)
        assert digest.chart is not None

    assert await ledger_disagreements(db) == {}
    async with db.unit_of_work() as session:
        # Nobody asks the stores for anything while they are shut for the holiday; they do on its make-up day.
        in_holiday = (Requisition.created_at >= local(1, 0, month=10)) & (
            Requisition.created_at < local(9, 0, month=10)
        )
        assert await session.scalar(select(func.count()).select_from(Requisition).where(in_holiday)) == 0
        makeup = (Requisition.created_at >= local(10, 0, month=10)) & (Requisition.created_at < local(11, 0, month=10))
        assert await session.scalar(select(func.count()).select_from(Requisition).where(makeup))
        latest = await session.scalar(select(func.max(TicketEvent.at)))
        assert latest is not None and latest.replace(tzinfo=NOW.tzinfo) < local(30, 0)  # it ends yesterday
        reopened = await session.scalar(select(func.count()).select_from(Ticket).where(Ticket.reopen_count > 0))
        overdue = await session.scalar(
            select(func.count()).select_from(Ticket).where(Ticket.resolved_at.is_(None), Ticket.due_at < NOW)
        )
        assert reopened and overdue  # a few low ratings, a few late
        # Yesterday's stock-take found the toner shelf short: a low-stock alert waits for the logistics admins.
        notices = (await session.scalars(select(OutboxMessage))).all()
        assert [n for n in notices if "stock.alert.low" in json.dumps(n.body)]
        first = await session.scalar(select(func.min(StockMovement.at)))
        assert first is not None and first.replace(tzinfo=NOW.tzinfo) < NOW - timedelta(days=170)
        # Two inspection routes with their schedules; yesterday's power-room round done, with a fault
        # whose repair ticket is still open; the weeks before walked, now and then late.
        assert (await session.scalars(select(InspectionRoute.code).order_by(InspectionRoute.code))).all() == [
            "FIRE-A",
            "POWER-DAILY",
        ]
        yesterday = await session.scalar(
            select(InspectionRound).where(InspectionRound.day == "2026-11-29", InspectionRound.status == "done")
        )
        assert yesterday is not None and yesterday.number is not None
        fault = await session.scalar(
            select(InspectionResult).where(
                InspectionResult.round_id == yesterday.id, InspectionResult.outcome == "fail"
            )
        )
        assert fault is not None and fault.ticket_id is not None and fault.opened_ticket
        ticket = await session.get(Ticket, fault.ticket_id)
        assert ticket is not None and ticket.status == "assigned" and ticket.category == "electrical"
        late = InspectionRound.finished_at > InspectionRound.due_at
        assert await session.scalar(select(func.count()).select_from(InspectionRound).where(late))
    assert "🔍 巡检：应完成" in whole.text

    # Written once per database: a second run, the next day, adds nothing …
    before = await rows(db)
    assert await write_past(db, AREAS, NOW + timedelta(days=1), NATIONAL_DAY) is None
    assert await rows(db) == before
    # … and every demo has the same past.
    other = await demo_database(sqlite_template, tmp_path / "other")
    assert await write_past(other, AREAS, NOW, NATIONAL_DAY) is not None
    assert await rows(other) == before
    for each in (db, other):
        await each.dispose()
