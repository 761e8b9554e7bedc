"""Every word Houqin says, looked up per call in the recipient's catalog (zh_CN or en).

Message ids are symbolic keys (``repair.ask_category``) so a missing translation is an error we can
test for, not an English string silently shown to a Chinese reader.
"""

from __future__ import annotations

import gettext
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from babel.messages.pofile import read_po

LOCALES = ("zh_CN", "en")
CATALOG_DIR = Path(__file__).parent / "locale"


@dataclass(frozen=True)
class Catalog:
    """A locale's messages; those with plural forms (msgid_plural, msgstr[n]) also by form, chosen by
    their {count} with the locale's own rule (the .po header's Plural-Forms: one form in Chinese,
    "1 survey" and "2 surveys" in English)."""

    messages: dict[str, str]
    plural_forms: dict[str, tuple[str, ...]]
    plural: Callable[[int], int]


@cache
def catalog_of(locale: str) -> Catalog:
    merged: dict[str, str] = {}
    forms: dict[str, tuple[str, ...]] = {}
    plural: Callable[[int], int] = lambda n: 0  # noqa: E731  (until a catalog says otherwise)
    for path in sorted((CATALOG_DIR / locale / "LC_MESSAGES").glob("*.po")):
        with path.open("rb") as handle:
            po = read_po(handle, locale=locale)
        for message in po:
            if not (message.id and message.string):
                continue
            plural_message = isinstance(message.id, tuple | list)
            key = str(message.id[0] if plural_message else message.id)
            if key in merged:
                raise ValueError(f"{key!r} is in more than one {locale} catalog file ({path.name})")
            if plural_message:
                forms[key] = tuple(str(form) for form in message.string)
                plural = gettext.c2py(po.plural_expr)
                # The message as a plain string is its most general form (what checks of placeholders see).
                merged[key] = forms[key][-1]
            else:
                merged[key] = str(message.string)
    return Catalog(merged, forms, plural)


def catalog(locale: str) -> dict[str, str]:
    """Every .po file of the locale (one per area: houqin.po, surveys.po, …) as one catalog."""
    return catalog_of(locale).messages


class MissingMessage(KeyError):
    pass


def typed_as_is(command: str) -> str:
    return f"/{command}"


# How a command is typed where the words will be read: "/my" in Telegram and the browser chat, but
# Slack's composer knows only the app's own slash commands ("/houqin my"). Catalog texts write a
# command they tell people to type as {/my}; a channel that types commands otherwise renders its
# work inside commands_typed(...).
COMMAND_HINT: ContextVar[Callable[[str], str]] = ContextVar("command_hint", default=typed_as_is)


@contextmanager
def commands_typed(hint: Callable[[str], str]) -> Iterator[None]:
    token = COMMAND_HINT.set(hint)
    try:
        yield
    finally:
        COMMAND_HINT.reset(token)


class _Params(dict[str, Any]):
    """A message's parameters, and {/command} as this channel types it."""

    def __missing__(self, key: str) -> str:
        if key.startswith("/"):
            return COMMAND_HINT.get()(key[1:])
        raise KeyError(key)


def translate(locale: str, key: str, **params: Any) -> str:
    found = catalog_of(locale)
    try:
        template = found.messages[key]
    except KeyError:
        raise MissingMessage(f"{key!r} is missing from the {locale} catalog") from None
    if key in found.plural_forms and isinstance(params.get("count"), int):
        forms = found.plural_forms[key]
        template = forms[min(found.plural(params["count"]), len(forms) - 1)]
    return template.format_map(_Params(params)) if params or "{/" in template else template


class Renderable(Protocol):
    def render(self, locale: str) -> str: ...


@dataclass(frozen=True)
class Msg:
    """Text to be said, rendered in the recipient's language only when it is sent."""

    key: str
    params: dict[str, Any] = field(default_factory=dict)

    def render(self, locale: str) -> str:
        rendered = {k: v.render(locale) if hasattr(v, "render") else v for k, v in self.params.items()}
        return translate(locale, self.key, **rendered)


@dataclass(frozen=True)
class Label:
    """A name stored on a record in both languages (a room, a department), not catalog text."""

    zh: str
    en: str

    def render(self, locale: str) -> str:
        return self.zh if locale == "zh_CN" else self.en


@dataclass(frozen=True)
class Command:
    """A command named in a message (/repair in the help), as the reader's channel types it."""

    name: str

    def render(self, locale: str) -> str:
        return COMMAND_HINT.get()(self.name)


@dataclass(frozen=True)
class Lines:
    """Several renderable parts shown one per line."""

    parts: tuple[Renderable, ...]

    def render(self, locale: str) -> str:
        return "\n".join(part.render(locale) for part in self.parts)


def msg(key: str, **params: Any) -> Msg:
    return Msg(key, params)


def pick_locale(preferred: str | None, platform_hint: str | None, default: str) -> str:
    """The person's own choice, else what their app says, else the organisation's default."""
    if preferred in LOCALES:
        return preferred
    if platform_hint:
        hint = platform_hint.lower().replace("-", "_")
        if hint.startswith("zh"):
            return "zh_CN"
        if hint.startswith("en"):
            return "en"
    return default


# --- storing what to say, to be rendered later in the recipient's language ----------------------

Stored = str | int | float | dict[str, Any] | None


def freeze(value: Renderable | str | int | float | None) -> Stored:
    """A message (or a parameter of one) as JSON, keeping its keys rather than its text."""
    if isinstance(value, Msg):
        return {"msg": value.key, "params": {k: freeze(v) for k, v in value.params.items()}}
    if isinstance(value, Label):
        return {"label": [value.zh, value.en]}
    if isinstance(value, Lines):
        return {"lines": [freeze(part) for part in value.parts]}
    if value is None or isinstance(value, str | int | float):
        return value
    raise TypeError(f"cannot store {type(value).__name__} in a message")


def thaw(value: Any) -> Any:
    if isinstance(value, dict):
        if "msg" in value:
            return Msg(value["msg"], {k: thaw(v) for k, v in value["params"].items()})
        if "label" in value:
            return Label(*value["label"])
        if "lines" in value:
            return Lines(tuple(thaw(part) for part in value["lines"]))
    return value
