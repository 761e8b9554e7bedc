"""Who is talking: a channel identity resolved to a Houqin person, created on first contact."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.conversation import Sender
from storage.models import ChannelAccount, Person, PersonRole

ROLES = ("staff", "technician", "manager", "logistics_staff", "logistics_admin", "admin")


@dataclass(frozen=True)
class AdminAccount:
    channel: str
    external_id: str


async def identify(
    session: AsyncSession, sender: Sender, admins: Sequence[AdminAccount] = ()
) -> tuple[Person, ChannelAccount]:
    account = await session.scalar(
        select(ChannelAccount).where(
            ChannelAccount.channel == sender.channel, ChannelAccount.external_id == sender.external_id
        )
    )
    if account is None:
        person = Person(display_name=sender.display_name[:100] or sender.external_id)
        person.roles.append(PersonRole(role="staff"))
        if AdminAccount(sender.channel, sender.external_id) in admins:
            person.roles.append(PersonRole(role="admin"))
        account = ChannelAccount(
            person=person,
            channel=sender.channel,
            external_id=sender.external_id,
            address=sender.address,
            platform_locale=sender.platform_locale,
        )
        session.add_all([person, account])
        await session.flush()
        return person, account
    # Keep how to reach them and what their app says current; only write when something changed.
    if account.address != sender.address:
        account.address = sender.address
    if sender.platform_locale and account.platform_locale != sender.platform_locale:
        account.platform_locale = sender.platform_locale
    return account.person, account
