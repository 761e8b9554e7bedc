"""Command menus per person (Telegram's "/" list): what one lists, and the signal that it changed.

Everyone's menu lists the commands anyone may use. Commands only some may run are declared by their
area (``Area.privileged``: command → the authz action whose holders see it); a person who may do
that action somewhere gets a menu of their own in their language (``Houqin.command_menu``).

When a person's menu may have changed (a role granted or revoked, an org import, /lang, an account
joined to them, the organisation's default language) the core writes a refresh row into the outbox
for each of their accounts on a channel with per-person menus, in the transaction of the change.
The channel drains it like any notice (claimed, paced, retried; two processes never both take it;
a restart loses nothing) and works out at that moment what to show. The rows share one card key per
chat, so several changes before it drains are sent once, and the channel remembers what it last
showed in ``card_refs``: a refresh that changes nothing costs no call.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, exists, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core import authz
from handlers.core.i18n import Lines
from handlers.core.outbox import Notice, body_of
from storage.db import Database
from storage.models import CardRef, ChannelAccount, OutboxMessage, Person, PersonRole

# The outbox card key of a chat's menu refresh (one per chat: later refreshes supersede earlier).
MENU_CARD = "menu"
# What card_refs holds for a chat showing everyone's menu (none of its own).
EVERYONE = "everyone"
# Channels whose apps show each person a command menu of their own.
CHANNELS = ("telegram",)
CHUNK = 500


@dataclass(frozen=True)
class CommandMenu:
    """One person's menu: the commands in order, in their language; `everyone` when it is the same
    list everyone sees (the channel then shows its default menu rather than one of their own)."""

    locale: str
    commands: tuple[str, ...]
    everyone: bool


# What a platform's command menu can hold (Telegram's rule); a command named otherwise (网页, the Chinese
# way to type /web) still works when typed, it is only not listed.
MENU_NAME = re.compile(r"[a-z0-9_]{1,32}")


def commands_for(
    flows: Sequence[str], commands: Sequence[str], privileged: dict[str, str], person: Person | None
) -> tuple[str, ...]:
    """The menu's commands in order: start, the listed flows, /my, the area commands this person may
    run somewhere (everyone's only, for None), then lang, help, cancel."""
    shown = [
        name
        for name in commands
        if MENU_NAME.fullmatch(name)
        and (name not in privileged or (person is not None and authz.shown_to(person, privileged[name])))
    ]
    return ("start", *flows, "my", *shown, "lang", "help", "cancel")


def may_have_own_menu(person: Person) -> bool:
    return any(role.role in authz.privileged_roles() for role in person.roles)


async def changed(session: AsyncSession, people: Sequence[Person], now: datetime) -> int:
    """These people's menus may have changed: queue a refresh for each of their reachable accounts on
    a menu channel that may need one (they may see more, or their chat still shows a menu of its own)."""
    await session.flush()  # a role just removed must not be seen as held below
    queued = 0
    for start in range(0, len(people), CHUNK):
        part = people[start : start + CHUNK]
        privileged = [person.id for person in part if may_have_own_menu(person)]
        queued += await queue_refreshes(
            session,
            now,
            ChannelAccount.person_id.in_({person.id for person in part}),
            ChannelAccount.channel.in_(CHANNELS),
            ChannelAccount.person_id.in_(privileged) | shown_own_menu(),
        )
    return queued


async def refresh_all(db: Database, channel: str, now: datetime) -> int:
    """At start: a refresh for everyone on `channel` whose menu may be their own (what they may run,
    the commands or their wording may have changed since the last run). Unchanged ones cost no call."""
    async with db.unit_of_work() as session:
        return await queue_all(session, channel, now)


async def everyones_may_have_changed(session: AsyncSession, now: datetime) -> int:
    """Something every menu depends on changed (the organisation's default language): a refresh for
    every menu of its own on every menu channel, in the caller's transaction."""
    return sum([await queue_all(session, channel, now) for channel in CHANNELS])


async def queue_all(session: AsyncSession, channel: str, now: datetime) -> int:
    privileged = select(PersonRole.person_id).where(PersonRole.role.in_(authz.privileged_roles()))
    return await queue_refreshes(
        session, now, ChannelAccount.channel == channel, ChannelAccount.person_id.in_(privileged) | shown_own_menu()
    )


async def queue_refreshes(session: AsyncSession, now: datetime, *which: ColumnElement[bool]) -> int:
    """A refresh row for each reachable account that `which` selects; how many were queued."""
    accounts = (
        await session.execute(
            select(ChannelAccount.person_id, ChannelAccount.channel, ChannelAccount.address)
            .where(ChannelAccount.unreachable_since.is_(None), ChannelAccount.address.is_not(None), *which)
            .order_by(ChannelAccount.id)
        )
    ).all()
    rows = [refresh_row(person_id, channel, str(address), now) for person_id, channel, address in accounts]
    for start in range(0, len(rows), CHUNK):
        await session.execute(insert(OutboxMessage), rows[start : start + CHUNK])
    return len(rows)


def shown_own_menu() -> ColumnElement[bool]:
    """The account's chat shows a menu of its own (so it must be taken back if they see no more)."""
    return exists().where(
        CardRef.card_key == MENU_CARD,
        CardRef.channel == ChannelAccount.channel,
        CardRef.address == ChannelAccount.address,
        CardRef.message_ref != EVERYONE,
    )


def refresh_row(person_id: int, channel: str, address: str, now: datetime) -> dict[str, object]:
    # Nothing to say: the channel computes the menu when it sends, in the person's language then.
    body = body_of(Notice(person_id, Lines(()), card_key=MENU_CARD))
    return {
        "person_id": person_id,
        "channel": channel,
        "address": address,
        "card_key": MENU_CARD,
        "body": body,
        "created_at": now,
    }
