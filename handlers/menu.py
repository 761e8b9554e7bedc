"""The things Houqin says outside any flow: welcome, help, the language choice, my requests."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.conversation import Button
from handlers.flow import Flow
from handlers.i18n import LOCALES, Command, Lines, Msg, Renderable, msg, translate
from handlers.repair import assigned_to, open_tickets_of, ticket_line
from storage.models import Person


def menu_buttons(flows: Iterable[Flow], locale: str) -> tuple[tuple[Button, ...], ...]:
    starts = tuple(Button(flow.title.render(locale), f"go:{flow.name}") for flow in flows)
    extras = (
        Button(translate(locale, "menu.my"), "go:my"),
        Button(translate(locale, "menu.help"), "go:help"),
    )
    return (starts, extras) if starts else (extras,)


def language_buttons() -> tuple[tuple[Button, ...], ...]:
    # Each language is named in itself, so a person who cannot read the current one still finds theirs.
    return (tuple(Button(translate(locale, "lang.name"), f"lang:{locale}") for locale in LOCALES),)


def help_text(flows: Iterable[Flow]) -> Msg:
    lines = tuple(msg("help.flow_line", command=Command(flow.name), description=flow.description) for flow in flows)
    return msg("help.text", flows=Lines(lines))


async def my_requests(
    session: AsyncSession, person: Person, zone: ZoneInfo, now: datetime, more: Sequence[Renderable] = ()
) -> Renderable:
    """Open repair tickets and jobs, then what the other areas list (`more`: requisitions...)."""
    mine = await open_tickets_of(session, person.id)
    jobs = await assigned_to(session, person.id)
    parts: list[Renderable] = []
    if mine:
        parts.append(msg("my.list", count=len(mine), lines=Lines(tuple(ticket_line(t, zone, now) for t in mine))))
    if jobs:
        parts.append(msg("my.jobs", count=len(jobs), lines=Lines(tuple(ticket_line(t, zone, now) for t in jobs))))
    parts.extend(more)
    return Lines(tuple(parts)) if parts else msg("my.none")
