"""What one chat account may read outside a conversation: the people of a channel (the browser
chat's demo picker), its own name, a photo or a file it may see. For channels, which import no
storage (tests/test_imports.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer

from handlers.core import files, ids
from handlers.core.area import Area
from handlers.core.i18n import pick_locale
from storage.db import Database
from storage.models import Attachment, ChannelAccount, Person, Photo


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
    """The display name of this account's person; None when there is no such account. Asked at
    every message of the demo's browser chat: one short read, so a brief unit of work."""
    async with db.unit_of_work(brief=True) as session:
        account = await _account(session, channel, external_id)
        return account.person.display_name if account is not None else None


async def photo_for(
    db: Database, areas: Sequence[Area], channel: str, external_id: str, photo_ref: str
) -> Photo | None:
    """A photo with its bytes, for an account that may see it (its sender, or whom one of the running
    `areas` lets: who may view its ticket); `photo_ref` is its id as the request gave it."""
    photo_id = ids.parse_id(photo_ref)
    if photo_id is None:
        return None
    async with db.unit_of_work() as session:
        account = await _members_account(session, channel, external_id)
        if account is None:
            return None
        photo = await session.scalar(select(Photo).where(Photo.id == photo_id).options(undefer(Photo.content)))
        if photo is None or not await may_see(session, areas, account.person, photo):
            return None
        return photo


async def may_see(session: AsyncSession, areas: Sequence[Area], person: Person, photo: Photo) -> bool:
    """Its sender always may; anyone else if an area keeping such photos says so (Area.photos)."""
    if photo.person_id == person.id:
        return True
    for area in areas:
        # One after another: they share the session.
        if area.photos is not None and await area.photos(session, person, photo):
            return True
    return False


async def file_for(db: Database, channel: str, external_id: str, file_ref: str) -> Attachment | None:
    """A file Houqin made for this account's person (an export, a chart); nobody else's."""
    file_id = ids.parse_id(file_ref)
    if file_id is None:
        return None
    async with db.unit_of_work() as session:
        account = await _members_account(session, channel, external_id)
        return await files.load(session, file_id, account.person_id) if account is not None else None


async def _account(session: AsyncSession, channel: str, external_id: str) -> ChannelAccount | None:
    account: ChannelAccount | None = await session.scalar(
        select(ChannelAccount).where(ChannelAccount.channel == channel, ChannelAccount.external_id == external_id)
    )
    return account


async def _members_account(session: AsyncSession, channel: str, external_id: str) -> ChannelAccount | None:
    """The account if its person is a member: someone who left reads nothing more, not even their own."""
    account = await _account(session, channel, external_id)
    return account if account is not None and account.person.member else None
