"""Helpers for the jobs tests: records written as they would be at given local times, and what
each demo person has been sent (their outbox rows, rendered in English)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from handlers.core.outbox import render_body
from handlers.core.schedule import Schedule
from storage.db import Database
from storage.models import (
    OutboxMessage,
    Person,
    Requisition,
    RequisitionEvent,
    RequisitionLine,
    Send,
    StockMovement,
    SupplyItem,
)
from tests.tickets import person_id as person_id  # the jobs tests take it from here
from tests.tickets import ticket_in_room_201

SHANGHAI = ZoneInfo("Asia/Shanghai")
SCHEDULE = Schedule(SHANGHAI)  # mon-fri, quiet 21:00-08:00, digest Monday 08:00, escalate after 24 h


def local(day: int, hour: int = 10, minute: int = 0, month: int = 11) -> datetime:
    """A time in Shanghai in November 2026 (the 23rd is a Monday)."""
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def ticket(
    db: Database,
    *,
    reporter: str = "wang.fang",
    assignee: str | None = "zhao.lei",
    category: str = "electrical",
    status: str = "assigned",
    created: datetime,
    takes: timedelta = timedelta(hours=24),
    resolved: datetime | None = None,
    closed: datetime | None = None,
    rating: int | None = None,
) -> str:
    """A ticket opened at `created`, due `takes` later; returns its number."""
    stored = await ticket_in_room_201(
        db,
        reporter=reporter,
        assignee=assignee,
        category=category,
        status=status,
        created=created,
        due=created + takes,
        resolved=resolved,
        closed=closed,
        rating=rating,
    )
    return stored.number


async def requisition(
    db: Database,
    *,
    requester: str = "wang.fang",
    status: str = "pending_manager",
    created: datetime,
    lines: tuple[tuple[str, int], ...] = (("PAPER-A4", 2),),
    approved: datetime | None = None,
    handed_out: datetime | None = None,
) -> str:
    requester_id = await person_id(db, requester)
    async with db.unit_of_work() as session:
        person = await session.get(Person, requester_id)
        assert person is not None
        found = Requisition(
            requester_id=requester_id,
            department_id=person.department_id,
            purpose="办公",
            status=status,
            channel="web",
            created_at=created,
        )
        session.add(found)
        await session.flush()
        found.number = f"S-2026-{found.id:06d}"
        for code, quantity in lines:
            item = await session.scalar(select(SupplyItem).where(SupplyItem.code == code))
            assert item is not None
            session.add(RequisitionLine(requisition_id=found.id, item_id=item.id, quantity=quantity))
            if handed_out is not None:
                session.add(
                    StockMovement(
                        item_id=item.id,
                        kind="handout",
                        on_hand_delta=-quantity,
                        reserved_delta=-quantity,
                        requisition_id=found.id,
                        at=handed_out,
                    )
                )
        if approved is not None:
            session.add(
                RequisitionEvent(
                    requisition_id=found.id, from_status="pending_manager", to_status="approved", at=approved
                )
            )
        return found.number


async def sent_to(db: Database, key: str) -> list[str]:
    """What a demo person was sent, oldest first, in English."""
    pid = await person_id(db, key)
    async with db.unit_of_work() as session:
        rows = await session.scalars(
            select(OutboxMessage).where(OutboxMessage.person_id == pid).order_by(OutboxMessage.id)
        )
        return [render_body(row.body, "en").text for row in rows.all()]


async def buttons_sent_to(db: Database, key: str) -> list[list[tuple[str, str]]]:
    pid = await person_id(db, key)
    async with db.unit_of_work() as session:
        rows = await session.scalars(
            select(OutboxMessage).where(OutboxMessage.person_id == pid).order_by(OutboxMessage.id)
        )
        return [[(b.label, b.payload) for row in render_body(m.body, "en").buttons for b in row] for m in rows.all()]


async def sends(db: Database, kind: str | None = None) -> list[tuple[str, str, int, str]]:
    async with db.unit_of_work() as session:
        query = select(Send.kind, Send.subject, Send.person_id, Send.period).order_by(Send.id)
        if kind is not None:
            query = query.where(Send.kind == kind)
        return [tuple(row) for row in (await session.execute(query)).all()]  # type: ignore[misc]
