"""The things Houqin says outside any flow: welcome, help, the language choice, my requests."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from handlers.core.conversation import Button
from handlers.core.flow import Flow
from handlers.core.i18n import LOCALES, Command, Lines, Msg, Renderable, msg, translate


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


def my_requests(parts: Sequence[Renderable]) -> Renderable:
    """/my: what the areas list for this person (Area.mine: their reports, requisitions...), in the
    areas' order."""
    return Lines(tuple(parts)) if parts else msg("my.none")
