"""The things Houqin says outside any flow: welcome, help, the language choice, my requests."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from handlers.core.conversation import Button
from handlers.core.flow import Flow
from handlers.core.i18n import LOCALES, Command, Lines, Renderable, msg, translate


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


def is_greeting(text: str) -> bool:
    """Whether words typed outside any flow are a hello in any of our languages (menu.greetings: a
    catalog's greetings, separated by |), so the person gets the welcome rather than "not understood"."""
    said = text.strip().strip("!！.。~～ ").casefold()
    return bool(said) and any(said in translate(locale, "menu.greetings").casefold().split("|") for locale in LOCALES)


# Said last in every /help, whoever asks.
ALWAYS = ("lang", "cancel", "help")


def help_text(everyday: Sequence[str], theirs: Sequence[str], flows: Iterable[Flow] = ()) -> Lines:
    """/help for one person: what everyone can do, then what their roles add (only what they may
    run), then the commands that work anywhere; a flow with its description, a command with its
    menu description."""
    described: dict[str, Renderable] = {flow.name: flow.description for flow in flows}

    def lines(commands: Iterable[str]) -> Lines:
        return Lines(
            tuple(
                msg("help.line", command=Command(c), description=described.get(c) or msg(f"command.{c}"))
                for c in commands
            )
        )

    parts: list[Renderable] = [msg("help.everyday", lines=lines(c for c in everyday if c not in ALWAYS))]
    if theirs:
        parts.append(msg("help.theirs", lines=lines(theirs)))
    parts.append(msg("help.always", lines=lines(ALWAYS)))
    return Lines(tuple(parts))


@dataclass(frozen=True)
class Offered:
    """A part of /my with buttons to act on it there (a survey waiting: its 📝 fill in)."""

    said: Renderable
    buttons: tuple[tuple[Renderable, str], ...]

    def render(self, locale: str) -> str:
        return self.said.render(locale)


def my_buttons(parts: Sequence[Renderable], locale: str) -> tuple[tuple[Button, ...], ...]:
    """The buttons the parts of /my offer, one row each, in the parts' order."""
    return tuple(
        (Button(label.render(locale), payload),)
        for part in parts
        if isinstance(part, Offered)
        for label, payload in part.buttons
    )


def my_requests(parts: Sequence[Renderable]) -> Renderable:
    """/my: what the areas list for this person (Area.mine: their reports, requisitions...), in the
    areas' order."""
    return Lines(tuple(parts)) if parts else msg("my.none")
