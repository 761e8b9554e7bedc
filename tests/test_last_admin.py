"""Two admins revoking each other at the same moment from two Houqin processes: one of them stays.

The admin rows are read FOR UPDATE (PostgreSQL); SQLite takes its write lock at BEGIN."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sqlalchemy import select

from handlers.core.conversation import Inbound, Kind, Sender
from handlers.core.engine import Houqin
from storage.db import Database
from storage.models import Person, PersonRole


def command(who: str, key: str, text: str) -> Inbound:
    name, _, args = text.removeprefix("/").partition(" ")
    return Inbound(Sender("web", who, who, who), Kind.COMMAND, key, text=args, command=name)


async def test_two_admins_revoking_each_other_at_once_leave_one_admin(
    db: Database, separate_process: Callable[..., Houqin]
) -> None:
    a, b = separate_process(), separate_process()
    await a.handle(command("admin", "grant-1", "/role grant @li.na admin"))
    one, other = await asyncio.gather(
        a.handle(command("admin", "race-1", "/role revoke @li.na admin")),
        b.handle(command("li.na", "race-2", "/role revoke @admin admin")),
    )
    answers = sorted(reply.text for outcome in (one, other) for reply in outcome.replies)
    # Whoever goes second is refused: no longer an admin at all, or the last one left.
    assert [text[0] for text in answers] == ["⛔", "✅"]
    async with db.unit_of_work() as session:
        admins = (
            await session.scalars(
                select(Person.handle)
                .join(PersonRole, PersonRole.person_id == Person.id)
                .where(PersonRole.role == "admin")
            )
        ).all()
    assert len(admins) == 1
