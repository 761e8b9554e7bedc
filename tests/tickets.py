"""Tickets written straight into the database as the demo organisation would have them, for tests that
need one in a given state at a given time without going through the intake flow."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from storage.db import Database
from storage.models import Person, Room, Ticket, TicketFollower


async def person_id(db: Database, key: str) -> int:
    """A demo person's id, by their demo key (`wang.fang`)."""
    async with db.unit_of_work() as session:
        found = await session.scalar(select(Person.id).where(Person.demo_key == key))
        assert found is not None, key
        return found


@dataclass(frozen=True)
class Stored:
    id: int
    number: str


async def ticket_in_room_201(
    db: Database,
    *,
    status: str,
    created: datetime,
    due: datetime,
    reporter: str = "wang.fang",
    assignee: str | None = "zhao.lei",
    category: str = "electrical",
    followers: Sequence[str] = (),
    resolved: datetime | None = None,
    closed: datetime | None = None,
    rating: int | None = None,
) -> Stored:
    """A light out in room 201 (灯不亮, high urgency), reported from the browser chat."""
    reporter_id = await person_id(db, reporter)
    assignee_id = await person_id(db, assignee) if assignee else None
    follower_ids = [await person_id(db, key) for key in followers]
    async with db.unit_of_work() as session:
        room = await session.scalar(select(Room).where(Room.code == "201"))
        assert room is not None
        found = Ticket(
            reporter_id=reporter_id,
            category=category,
            room_id=room.id,
            building_id=room.building_id,
            description="灯不亮",
            urgency="high",
            status=status,
            channel="web",
            assignee_id=assignee_id,
            created_at=created,
            due_at=due,
            resolved_at=resolved,
            closed_at=closed,
            rating=rating,
        )
        session.add(found)
        await session.flush()
        found.number = f"R-2026-{found.id:06d}"
        session.add_all(TicketFollower(ticket_id=found.id, person_id=pid) for pid in follower_ids)
        return Stored(found.id, found.number)
