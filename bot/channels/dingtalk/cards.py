"""Houqin's neutral replies drawn as DingTalk robot messages, and a pressed button read back.

A robot's one-to-one message cannot call the robot back when a button is pressed (only an
interactive card from a template can), so a button is a link that makes the person send the answer:
dtmd://dingtalkclient/sendMessage?content=… puts `<label> 〔<payload>〕` in their chat, as if typed,
and DingTalk delivers it like any message. `pressed` recognises it and hands the core the payload,
which carries the dialog's version: a button from a card the dialog has moved past is answered as
stale, one never shown (typed by hand) as forged, as any channel's.

Up to five buttons: an ActionCard (sampleActionCard, or sampleActionCard2…5, buttons one under the
other). More (a long catalog page): a markdown message with each choice a link. Words are markdown
there, so what people typed is escaped: it shows as typed, never as a link or a heading.

Pure functions: no API calls here, so what a person sees can be tested without DingTalk.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from urllib.parse import quote

from handlers.core.conversation import Button, Reply, split_text

JSON = dict[str, object]
# An ActionCard's text is kept well inside what DingTalk shows whole.
TEXT_LIMIT = 2500
BUTTON_LABEL = 30
TITLE_LIMIT = 30
ACTION_CARD_BUTTONS = 5
SEND = "dtmd://dingtalkclient/sendMessage?content="
# What a button makes the person send: its label, then its payload between these brackets.
OPEN, CLOSE = "〔", "〕"
PRESSED = re.compile(rf"^(?P<label>.*?)\s*{OPEN}(?P<payload>[^{OPEN}{CLOSE}\s]{{1,64}}){CLOSE}\s*$", re.DOTALL)
# Markdown's own characters in what people typed, each kept as itself: those that make emphasis,
# code, links (no link without its brackets) or HTML anywhere, and those that start a heading, a
# quote or a list at the start of a line. Nothing else is escaped, so no stray backslash shows.
INLINE = re.compile(r"([\\`*_\[\]<])")
LINE_START = re.compile(r"^(\s*)([#>+-])")
NUMBERED = re.compile(r"^(\s*\d+)\.")


def escaped(text: str) -> str:
    """Words shown as they are in DingTalk's markdown: its characters escaped, each line its own."""
    lines = []
    for line in text.split("\n"):
        line = LINE_START.sub(r"\1\\\2", INLINE.sub(r"\\\1", line))
        lines.append(NUMBERED.sub(r"\1\\.", line))
    return "  \n".join(lines)


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def answer_of(button: Button) -> str:
    """What pressing it sends: `给排水 〔s3:W〕`."""
    return f"{clip(button.label, BUTTON_LABEL)} {OPEN}{button.payload}{CLOSE}"


def link(button: Button) -> str:
    return SEND + quote(answer_of(button), safe="")


def title_of(text: str) -> str:
    """The line DingTalk shows in the chat list and the notification."""
    first = next((line.strip() for line in text.split("\n") if line.strip()), "")
    return clip(first, TITLE_LIMIT) or "Houqin"


def message(text: str, buttons: Sequence[Button]) -> tuple[str, JSON]:
    """One message: its msgKey and msgParam."""
    title, body = title_of(text), escaped(text) or " "
    if not buttons:
        return "sampleMarkdown", {"title": title, "text": body}
    if len(buttons) == 1:
        [only] = buttons
        single = clip(only.label, BUTTON_LABEL)
        return "sampleActionCard", {"title": title, "text": body, "singleTitle": single, "singleURL": link(only)}
    if len(buttons) <= ACTION_CARD_BUTTONS:
        param: JSON = {"title": title, "text": body}
        for number, button in enumerate(buttons, start=1):
            param[f"actionTitle{number}"] = clip(button.label, BUTTON_LABEL)
            param[f"actionURL{number}"] = link(button)
        return f"sampleActionCard{len(buttons)}", param
    choices = "\n".join(f"- [{escaped(clip(b.label, BUTTON_LABEL))}]({link(b)})" for b in buttons)
    return "sampleMarkdown", {"title": title, "text": f"{body}\n\n{choices}"}


def parts(reply: Reply, note: str | None = None) -> tuple[list[str], str, list[Button]]:
    """A reply's text split where long, the last part and the buttons that go with it; `note` (this
    card replaces an earlier one) above the words."""
    text = f"{note}\n{reply.text}" if note else reply.text
    split = split_text(text, TEXT_LIMIT) or [""]
    return split[:-1], split[-1], [button for row in reply.buttons for button in row]


def reply_messages(reply: Reply, note: str | None = None) -> list[tuple[str, JSON]]:
    """A reply as robot messages, its buttons on the last."""
    if not reply.text and not reply.buttons:
        return []  # a reply that is only files
    earlier, last, buttons = parts(reply, note)
    return [message(part, []) for part in earlier] + [message(last, buttons)]


def pressed(text: str) -> tuple[str, str] | None:
    """A button's answer sent back by the person: (its label, its payload), else None."""
    found = PRESSED.match(text.strip())
    if found is None:
        return None
    return found.group("label").strip(), found.group("payload")


# --- interactive cards from the template (docs/dingtalk-card-template.json) -----------------------
# Its variables, all strings as DingTalk's cardParamMap wants them: `markdown` (the words), `buttons`
# (a JSON list of {"text", "payload"}, each drawn as a button whose press calls back with
# {"payload": …}) and `chosen` (what was pressed, shown where the buttons were).
CARD_ACTION = "press"


def card_params(text: str, buttons: Sequence[Button], chosen: str = "") -> dict[str, str]:
    shown = [{"text": clip(b.label, BUTTON_LABEL), "payload": b.payload} for b in buttons]
    return {"markdown": escaped(text) or " ", "buttons": json.dumps(shown, ensure_ascii=False), "chosen": chosen}


def retired_params(chosen: str | None) -> dict[str, str]:
    """A pressed card: its buttons gone, the choice shown (its words stay as they were)."""
    return {"buttons": "[]", "chosen": f"→ {chosen}" if chosen else ""}


def card_pressed(content: str) -> str | None:
    """The payload of a template card's button, from its callback's content."""
    try:
        private = json.loads(content).get("cardPrivateData") or {}
    except (ValueError, AttributeError):
        return None
    payload = (private.get("params") or {}).get("payload") if isinstance(private, dict) else None
    return str(payload) if payload else None
