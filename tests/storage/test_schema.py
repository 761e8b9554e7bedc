"""The schema: migrations match the models on both databases, and demo data seeds once."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import func, insert, select

from storage.db import Database
from storage.demo import BUILDINGS, PEOPLE, seed
from storage.migrate import HEAD, SchemaNotCurrent, alembic_config, check_current
from storage.models import Building, ChannelAccount, Department, Person, PersonRole, Room, Ticket, TicketEvent


async def test_migrations_match_the_models_and_run_down_and_up_again(database_url: str) -> None:
    config = alembic_config(database_url)
    # Alembic drives its own event loop for the async driver, so keep it off this one.
    await asyncio.to_thread(command.check, config)  # raises if a model changed without a migration
    await asyncio.to_thread(command.downgrade, config, "base")
    await asyncio.to_thread(command.upgrade, config, "head")
    await asyncio.to_thread(command.check, config)


def test_the_newest_migration_houqin_run_knows_is_alembics_head() -> None:
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    assert heads == [HEAD], "a new migration: set storage/migrate.py's HEAD to its revision"


async def test_a_database_one_migration_behind_is_not_current_until_migrated(database_url: str) -> None:
    config = alembic_config(database_url)
    await asyncio.to_thread(check_current, database_url)
    await asyncio.to_thread(command.downgrade, config, "-1")
    with pytest.raises(SchemaNotCurrent, match="not up to date: run `houqin migrate` first"):
        await asyncio.to_thread(check_current, database_url)
    await asyncio.to_thread(command.upgrade, config, "head")
    await asyncio.to_thread(check_current, database_url)


@pytest.mark.subprocess  # a Python of its own, which has not loaded Alembic
def test_a_current_database_is_checked_without_loading_alembic(sqlite_template: Path, tmp_path: Path) -> None:
    database = shutil.copy(sqlite_template, tmp_path / "houqin.db")
    check = (
        "import sys; from storage.migrate import check_current; check_current(sys.argv[1]); "
        "print(sorted(name for name in sys.modules if name.startswith('alembic')))"
    )
    url = f"sqlite+aiosqlite:///{database}"
    result = subprocess.run(
        [sys.executable, "-c", check, url], env=os.environ, capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


async def counts(db: Database) -> dict[str, int]:
    async with db.unit_of_work() as session:
        return {
            model.__tablename__: int(await session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (Department, Person, PersonRole, ChannelAccount, Building, Room)
        }


async def test_demo_data_is_a_whole_organisation_and_seeding_again_changes_nothing(db: Database) -> None:
    seeded = await counts(db)
    assert seeded["people"] == len(PEOPLE) == 20
    assert seeded["rooms"] == sum(len(rooms) for *_, rooms in BUILDINGS)
    async with db.unit_of_work() as session:
        added = await seed(session)
    assert added == {"departments": 0, "people": 0, "buildings": 0, "rooms": 0, "supply_items": 0}
    assert await counts(db) == seeded
    async with db.unit_of_work() as session:
        roles = set((await session.scalars(select(PersonRole.role))).all())
    assert roles == {"staff", "technician", "manager", "logistics_staff", "logistics_admin", "admin"}


async def test_tickets_assigned_before_0016_keep_when_they_were_last_assigned(db: Database) -> None:
    """The upgrade reads each ticket's last "assigned" from its history, so auto-assignment's "who waited
    longest" is the same before and after it."""
    config = alembic_config(db.url)
    await db.dispose()
    await asyncio.to_thread(command.downgrade, config, "0015_bookings")
    day = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    async with db.unit_of_work() as session:
        plumber = await session.scalar(select(Person.id).where(Person.demo_key == "sun.qiang"))
        reporter = await session.scalar(select(Person.id).where(Person.demo_key == "wang.fang"))
        # Only the columns 0015 has: written as SQL, not as Ticket objects (the model is 0016's).
        reported: dict[str, object] = {"reporter_id": reporter, "category": "plumbing", "description": "漏水"}
        reported |= {"urgency": "normal", "channel": "telegram", "created_at": day}
        opened = insert(Ticket).returning(Ticket.id)
        held = int(await session.scalar(opened.values(**reported, status="accepted", assignee_id=plumber)) or 0)
        waiting = int(await session.scalar(opened.values(**reported, status="new")) or 0)
        history = [
            (held, "new", day),
            (held, "assigned", day + timedelta(minutes=5)),
            (held, "new", day + timedelta(hours=1)),
            (held, "assigned", day + timedelta(hours=2)),
            (held, "accepted", day + timedelta(hours=3)),
            (waiting, "new", day),
        ]
        for ticket, status, at in history:
            await session.execute(insert(TicketEvent).values(ticket_id=ticket, to_status=status, at=at))
    await asyncio.to_thread(command.upgrade, config, "head")
    async with db.unit_of_work() as session:
        assigned = {ticket: at for ticket, at in (await session.execute(select(Ticket.id, Ticket.assigned_at))).all()}
    assert assigned[held] == day + timedelta(hours=2)
    assert assigned[waiting] is None
