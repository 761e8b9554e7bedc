"""Houqin's neutral replies drawn as WeCom messages: words as text messages, a question with its
choices as template cards (`template_card`, card_type button_interaction), and what a pressed card
becomes.

Pure functions: no API calls here, so what a person sees can be tested without WeCom. Each choice is
a button whose key is the core's button payload (WeCom hands it back as the event's EventKey); a card
holds six buttons, so a question with more choices comes as several cards, each with the question.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from handlers.core.conversation import Button, Reply

JSON = dict[str, Any]
# A text message holds 2048 bytes; longer words go over several.
TEXT_BYTES = 2048
# What a card shows well: a title of one short line, and under it up to this many characters.
TITLE_LIMIT = 26
SUB_TITLE_LIMIT = 112
CARD_BUTTONS = 6
BUTTON_LABEL = 30


def task_id() -> str:
    """A card's task id: unique within the app, letters and digits."""
    return f"hq{secrets.token_hex(12)}"


def split_bytes(text: str, limit: int = TEXT_BYTES) -> list[str]:
    """Words cut into pieces of at most `limit` bytes of UTF-8, at line ends where possible."""
    parts: list[str] = []
    while len(text.encode()) > limit:
        cut = len(text.encode()[:limit].decode(errors="ignore"))
        line = text.rfind("\n", 0, cut)
        cut = line if line > 0 else cut
        parts.append(text[:cut])
        text = text[cut:].lstrip("\n")
    parts.append(text)
    return parts


def text_messages(text: str) -> list[JSON]:
    return [{"msgtype": "text", "text": {"content": part}} for part in split_bytes(text) if part.strip()]


def heading(text: str, placeholder: str) -> tuple[JSON, list[JSON]]:
    """How a question's words sit on its card: its first line as the title and the rest under it when
    they fit, all of it under no title when that fits; else the words go first as text messages and
    the card only asks to choose."""
    first, _, rest = text.strip().partition("\n")
    if first and len(first) <= TITLE_LIMIT and len(rest) <= SUB_TITLE_LIMIT:
        shown: JSON = {"main_title": {"title": first}}
        if rest.strip():
            shown["sub_title_text"] = rest.strip()
        return shown, []
    if text.strip() and len(text) <= SUB_TITLE_LIMIT:
        return {"sub_title_text": text.strip()}, []
    return {"main_title": {"title": placeholder}}, text_messages(text)


def card(shown: JSON, buttons: Sequence[Button], task: str) -> JSON:
    return {
        "msgtype": "template_card",
        "template_card": {
            "card_type": "button_interaction",
            **shown,
            "task_id": task,
            "button_list": [{"text": clip(b.label, BUTTON_LABEL), "style": 1, "key": b.payload} for b in buttons],
        },
    }


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def reply_messages(reply: Reply, placeholder: str = "…") -> list[JSON]:
    """A reply as WeCom messages: words alone as text; words with choices as cards of at most six
    buttons each (the choices in their rows' order), every card showing the question."""
    if not reply.buttons:
        return text_messages(reply.text)
    shown, before = heading(reply.text, placeholder)
    choices = [button for row in reply.buttons for button in row]
    cards = [card(shown, choices[i : i + CARD_BUTTONS], task_id()) for i in range(0, len(choices), CARD_BUTTONS)]
    return [*before, *cards]


def pressed(choice: str | None) -> JSON:
    """A pressed card's change: its buttons become one that cannot be pressed, naming the choice."""
    return {"button": {"replace_name": clip(choice or "✔", BUTTON_LABEL)}}


def last_line(text: str) -> str:
    """A card's last line: on Houqin's ticket and requisition cards, its state."""
    return text.strip().rpartition("\n")[2]


def as_update(message: JSON) -> JSON:
    """A card's new version as update_template_card takes it."""
    return {"template_card": message["template_card"]}


def menu(top: Sequence[tuple[str, str]], more: str, rest: Sequence[tuple[str, str]]) -> JSON:
    """The app's menu (menu/create): two entries of (name, command) and a third, `more`, opening the
    `rest` (up to five); each a click whose key is the command."""

    def click(name: str, command: str) -> JSON:
        return {"type": "click", "name": name, "key": command}

    return {
        "button": [*(click(*entry) for entry in top[:2]), {"name": more, "sub_button": [click(*e) for e in rest[:5]]}]
    }
