"""Who is talking: a first message makes a person; ADMINS makes the first admins."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.service import AREAS
from handlers.core.conversation import Inbound, Kind, Sender
from handlers.core.engine import Houqin
from handlers.core.people import AdminAccount
from storage.db import Database
from storage.models import AuditEntry, ChannelAccount

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def roles_of(db: Database, external_id: str) -> list[str]:
    async with db.unit_of_work() as session:
        account = await session.scalar(select(ChannelAccount).where(ChannelAccount.external_id == external_id))
        assert account is not None
        return sorted(role.role for role in account.person.roles)


async def test_a_first_message_makes_a_staff_member_and_admins_come_from_the_setting(db: Database) -> None:
    houqin = Houqin(db, AREAS, "zh_CN", SHANGHAI, admins=[AdminAccount("telegram", "7001")])
    for user in ("7001", "7002"):
        await houqin.handle(
            Inbound(Sender("telegram", user, user, "x", None), Kind.COMMAND, f"k{user}", command="start")
        )
    assert await roles_of(db, "7001") == ["admin", "staff"]
    assert await roles_of(db, "7002") == ["staff"]


async def test_someone_added_to_admins_later_becomes_admin_on_their_next_message(db: Database) -> None:
    newcomer = Sender("telegram", "7003", "7003", "卫", None)
    await Houqin(db, AREAS, "zh_CN", SHANGHAI).handle(Inbound(newcomer, Kind.COMMAND, "a", command="start"))
    assert await roles_of(db, "7003") == ["staff"]
    restarted = Houqin(db, AREAS, "zh_CN", SHANGHAI, admins=[AdminAccount("telegram", "7003")])
    await restarted.handle(Inbound(newcomer, Kind.COMMAND, "b", command="start"))
    assert await roles_of(db, "7003") == ["admin", "staff"]
    async with db.unit_of_work() as session:
        [entry] = (await session.scalars(select(AuditEntry).where(AuditEntry.action == "role.grant"))).all()
    assert entry.detail == {"role": "admin", "source": "ADMINS setting"} and entry.channel == "telegram"
