"""What one chat account may read outside a conversation: the people of a channel (the browser
chat's demo picker), its own name, a photo or a file it may see. For channels, which import no
storage (tests/test_imports.py)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core import files, ids
from handlers.core.i18n import pick_locale
from handlers.repairs.tickets import viewable_photo
from storage.db import Database
from storage.models import Attachment, ChannelAccount, Photo


@dataclass(frozen=True)
class Member:
    """Someone with an account on a channel, as a picker shows them."""

    external_id: str
    name: str
    roles: tuple[str, ...]
    locale: str


async def members(db: Database, channel: str, default_locale: str) -> list[Member]:
    """Everyone with an account on this channel, in the order they joined it."""
    async with db.unit_of_work() as session:
        accounts = await session.scalars(
            select(ChannelAccount).where(ChannelAccount.channel == channel).order_by(ChannelAccount.id)
        )
        return [
            Member(
                account.external_id,
                account.person.display_name,
                tuple(sorted({role.role for role in account.person.roles})),
                pick_locale(account.person.locale, None, default_locale),
            )
            for account in accounts.all()
        ]


async def account_name(db: Database, channel: str, external_id: str) -> str | None:
    """The display name of this account's person; None when there is no such account."""
    async with db.unit_of_work() as session:
        account = await _account(session, channel, external_id)
        return account.person.display_name if account is not None else None


async def photo_for(db: Database, channel: str, external_id: str, photo_ref: str) -> Photo | None:
    """A photo with its bytes, for an account that may see it (its sender, or who may view its ticket);
    `photo_ref` is its id as the request gave it."""
    photo_id = ids.parse_id(photo_ref)
    if photo_id is None:
        return None
    async with db.unit_of_work() as session:
        account = await _account(session, channel, external_id)
        return await viewable_photo(session, account.person, photo_id) if account is not None else None


async def file_for(db: Database, channel: str, external_id: str, file_ref: str) -> Attachment | None:
    """A file Houqin made for this account's person (an export, a chart); nobody else's."""
    file_id = ids.parse_id(file_ref)
    if file_id is None:
        return None
    async with db.unit_of_work() as session:
        account = await _account(session, channel, external_id)
        return await files.load(session, file_id, account.person_id) if account is not None else None


async def _account(session: AsyncSession, channel: str, external_id: str) -> ChannelAccount | None:
    account: ChannelAccount | None = await session.scalar(
        select(ChannelAccount).where(ChannelAccount.channel == channel, ChannelAccount.external_id == external_id)
    )
    return account
