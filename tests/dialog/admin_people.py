"""Who is who in the admin tests: the demo organisation, in the browser chat or linked to Telegram or Slack."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import ColumnElement, ScalarSelect, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database
from storage.models import (
    AuditEntry,
    Base,
    ChannelAccount,
    Department,
    DialogState,
    OrgSetting,
    OutboxMessage,
    Person,
    PersonRole,
    Room,
    SupplyItem,
    utcnow,
)
from tests.dialog.slack_person import SlackPerson, SlackWorld
from tests.dialog.telegram_person import TelegramPerson
from tests.dialog.web_person import WebPerson

LINK_CODE = re.compile(r"[A-Z2-9]{8}")

# One demo person per role (with staff, which everyone has): the rows of the matrix.
BY_ROLE = {
    "staff": "wang.fang",
    "technician": "zhao.lei",
    "manager": "huang.li",  # manager of finance
    "logistics_staff": "guo.tao",
    "logistics_admin": "lin.hua",  # also manager of logistics
    "admin": "admin",
}


class Speaker(Protocol):
    async def says(self, text: str) -> str: ...

    async def presses(self, payload: str) -> str: ...


@dataclass
class WebSpeaker:
    person: WebPerson

    async def says(self, text: str) -> str:
        return (await self.person.says(text)).text

    async def presses(self, payload: str) -> str:
        """A button payload sent as it is, whether or not it was ever shown (a forged press)."""
        return (await self.person.presses_payload(payload)).text


@dataclass
class TelegramSpeaker:
    person: TelegramPerson

    async def says(self, text: str) -> str:
        return (await self.person.says(text)).text

    async def presses(self, payload: str) -> str:
        """Forged callback data on the newest message the bot sent them."""
        last = self.person.chat[-1].message_id
        return (await self.person.presses_data(last, payload, strict=False)).text


@dataclass
class SlackSpeaker:
    person: SlackPerson

    async def says(self, text: str) -> str:
        """A command typed as Slack takes it: `/houqin` and the command's words (/role @x → /houqin role @x)."""
        return await self.heard(self.person.slash("/houqin", text.removeprefix("/")))

    async def presses(self, payload: str) -> str:
        """A button press carrying this value on the newest message in their DM (a forged press)."""
        return await self.heard(self.person.presses_value(payload))

    async def heard(self, doing: Awaitable[object]) -> str:
        """What Houqin showed them while doing it: new messages in the DM, a modal page it opened."""
        seen, page = len(self.person.dm), self.person.modal
        await doing
        shown = [message.shown for message in self.person.dm[seen:]]
        modal = self.person.modal
        if modal is not None and (page is None or (modal.id, modal.hash) != (page.id, page.hash)):
            shown.append(self.person.page)
        return "\n".join(shown)


async def link_slack(world: SlackWorld, user_id: str, handle: str, locale: str = "zh-CN") -> SlackPerson:
    """The demo person `handle` joins a Slack account to themselves, with the product's own link
    code: asked for in their browser chat, typed in Slack as `/houqin link CODE`."""
    asked = await WebPerson(world.http, handle).says("/link")
    code = LINK_CODE.search(asked.text)
    assert code is not None, asked.texts
    async with world.db.unit_of_work() as session:
        person = await session.scalar(select(Person).where(Person.handle == handle))
        assert person is not None
        name = person.display_name
    slack = SlackPerson.of(world, user_id, name, locale)
    await slack.slash("/houqin", f"link {code.group()}")
    assert name in slack.dm[-1].shown, slack.dm[-1].shown
    return slack


async def link_telegram(
    db: Database, telegram_user: Callable[..., TelegramPerson], user_id: int, handle: str
) -> TelegramPerson:
    """The demo person `handle` also uses Telegram (as if they had linked their account)."""
    async with db.unit_of_work() as session:
        person = await session.scalar(select(Person).where(Person.handle == handle))
        assert person is not None
        session.add(
            ChannelAccount(
                person_id=person.id,
                channel="telegram",
                external_id=str(user_id),
                address=str(user_id),
                last_seen_at=utcnow(),
            )
        )
        name = person.display_name
    return telegram_user(user_id, name)


async def person_id(db: Database, handle: str) -> int:
    async with db.unit_of_work() as session:
        found = await session.scalar(select(Person.id).where(Person.handle == handle))
        assert found is not None
        return int(found)


async def snapshot(db: Database) -> dict[str, object]:
    """Everything an admin action could change (the refused attempt's own audit row aside)."""
    async with db.unit_of_work(brief=True) as session:
        return await snapshot_in(session)


async def snapshot_in(session: AsyncSession) -> dict[str, object]:
    """snapshot's figures, read as plain rows in the caller's unit of work: the authorisation matrix
    reads them, and who was refused how often, after each of its tries."""

    def count(model: type[Base], *where: ColumnElement[bool]) -> ScalarSelect[int]:
        return select(func.count()).select_from(model).where(*where).scalar_subquery()

    rooms, outbox, stock, done, flows = (
        await session.execute(
            select(
                count(Room),
                count(OutboxMessage),
                select(func.sum(SupplyItem.on_hand)).scalar_subquery(),
                count(AuditEntry, AuditEntry.outcome == "ok"),
                count(DialogState, DialogState.flow.is_not(None)),
            )
        )
    ).one()
    roles = await session.execute(select(PersonRole.person_id, PersonRole.role, PersonRole.scope))
    departments = await session.execute(select(Department.code, Department.name_zh, Department.name_en))
    settings = await session.execute(select(OrgSetting.key, OrgSetting.value))
    return {
        "roles": sorted(tuple(row) for row in roles),
        "departments": sorted(tuple(row) for row in departments),
        "rooms": rooms,
        "settings": sorted(tuple(row) for row in settings),
        "outbox": outbox,
        "stock": stock,
        "done": done,
        "flows": flows,
    }


async def refusal_counts(session: AsyncSession) -> Counter[int]:
    """How many refusals each person has been audited for."""
    counted = await session.execute(
        select(AuditEntry.actor_id, func.count()).where(AuditEntry.outcome == "refused").group_by(AuditEntry.actor_id)
    )
    return Counter({int(actor): int(times) for actor, times in counted if actor is not None})


async def refusals_of(db: Database, person: int) -> list[AuditEntry]:
    async with db.unit_of_work(brief=True) as session:
        found = await session.scalars(
            select(AuditEntry)
            .where(AuditEntry.actor_id == person, AuditEntry.outcome == "refused")
            .order_by(AuditEntry.id)
        )
        return list(found.all())
