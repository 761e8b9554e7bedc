"""Helpers for the membership conversations: what a non-member hears, and the rows nobody may add."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select

from handlers.core.engine import Houqin
from storage.db import Database
from storage.models import AuditEntry, Base, JoinRequest, Person, utcnow
from tests.dialog.slack_person import SlackWorld
from tests.dialog.web_person import WebPerson

NOT_MEMBER_ZH = "您的账号还不是成员"
NOT_MEMBER_EN = "your account is not a member yet"
JOIN_ZH, JOIN_EN = "申请加入", "Request to join"
# Written whatever anyone says (a delivery's key, its audit line) or by the service itself.
NUMBER = re.compile(r"S-\d{4}-\d{6}")
BOOKKEEPING = {"processed_deliveries", "audit_log", "service_secrets", "senders", "job_runs", "sends"}


async def row_counts(db: Database) -> dict[str, int]:
    """Every table's row count, bookkeeping aside: what a non-member must not change."""
    counts: dict[str, int] = {}
    async with db.unit_of_work() as session:
        for table in Base.metadata.sorted_tables:
            if table.name not in BOOKKEEPING:
                counts[table.name] = int(await session.scalar(select(func.count()).select_from(table)) or 0)
    return counts


async def join_requests(db: Database) -> list[JoinRequest]:
    async with db.unit_of_work() as session:
        return list((await session.scalars(select(JoinRequest).order_by(JoinRequest.id))).all())


async def person_named(db: Database, name: str) -> Person | None:
    async with db.unit_of_work() as session:
        return await session.scalar(select(Person).where(Person.display_name == name))


def houqin_of(world: SlackWorld) -> Houqin:
    return world.channel.houqin


def later(houqin: Houqin, by: timedelta) -> None:
    """Houqin's clock moved on by `by` from now (whatever today is)."""
    start = utcnow()
    houqin.clock = lambda: start + by


async def audit_actions(db: Database, *actions: str) -> list[tuple[str, str | None, str]]:
    async with db.unit_of_work() as session:
        rows = await session.execute(
            select(AuditEntry.action, AuditEntry.record, AuditEntry.outcome)
            .where(AuditEntry.action.in_(actions))
            .order_by(AuditEntry.id)
        )
        return [(action, record, outcome) for action, record, outcome in rows.all()]


async def markers_requested(person: WebPerson, how_many: str) -> str:
    await person.says("/supply 白板笔")
    await person.presses("黑色白板笔")
    await person.says(how_many)
    await person.presses("✔ 选好了")
    await person.says("三楼办公室")
    found = NUMBER.search((await person.presses("✔ 提交")).text)
    assert found is not None
    return found.group()
