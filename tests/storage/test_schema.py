"""The schema: migrations match the models on both databases, and demo data seeds once."""

from __future__ import annotations

import asyncio

from alembic import command
from sqlalchemy import func, select

from storage.db import Database
from storage.demo import BUILDINGS, PEOPLE, seed
from storage.migrate import alembic_config
from storage.models import Building, ChannelAccount, Department, Person, PersonRole, Room


async def test_migrations_match_the_models_and_run_down_and_up_again(database_url: str) -> None:
    config = alembic_config(database_url)
    # Alembic drives its own event loop for the async driver, so keep it off this one.
    await asyncio.to_thread(command.check, config)  # raises if a model changed without a migration
    await asyncio.to_thread(command.downgrade, config, "base")
    await asyncio.to_thread(command.upgrade, config, "head")
    await asyncio.to_thread(command.check, config)


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
