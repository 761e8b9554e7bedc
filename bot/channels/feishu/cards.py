"""Houqin's neutral replies drawn as Feishu interactive cards (card JSON 2.0), and the answers to a
card's button (card.action.trigger).

Pure functions: no API calls here, so what a person sees can be tested without Feishu. Words are
plain_text (never lark_md): what people typed is shown as typed, never as a link or a mention.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from handlers.core.conversation import NumberView, Reply, StepView, TextView, split_text

JSON = dict[str, Any]
# A card holds up to 30 KB of JSON; a plain_text block this many characters keeps well inside it.
TEXT_LIMIT = 3000
BUTTON_LABEL = 40
# What a button's value carries besides its payload: the words of the question it answers (so
# the pressed card can be redrawn anywhere, by any process, showing the choice) cut to this.
QUESTION_LIMIT = 600
# A row of more buttons than this is drawn as a drop-down (a select), paged by the core's own
# "more" buttons where it has them.
ROW_BUTTONS = 5


def text_block(text: str) -> JSON:
    return {"tag": "div", "text": {"tag": "plain_text", "content": text or " "}}


def button(label: str, payload: str, question: str) -> JSON:
    value = {"p": payload, "q": question[:QUESTION_LIMIT]}
    return {
        "tag": "button",
        "text": {"tag": "plain_text", "content": clip(label, BUTTON_LABEL)},
        "type": "default",
        "width": "default",
        "behaviors": [{"type": "callback", "value": value}],
    }


def select(labels: Sequence[tuple[str, str]], question: str, placeholder: str) -> JSON:
    """Many choices in one row (a long catalog page): a drop-down; its option is the payload."""
    return {
        "tag": "select_static",
        "placeholder": {"tag": "plain_text", "content": placeholder},
        "options": [
            {"text": {"tag": "plain_text", "content": clip(label, 60)}, "value": payload} for label, payload in labels
        ],
        "behaviors": [{"type": "callback", "value": {"q": question[:QUESTION_LIMIT]}}],
    }


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def card(elements: list[JSON]) -> JSON:
    # JSON 2.0 cards are shared cards: update_multi must be true, and an edit shows to everyone.
    return {"schema": "2.0", "config": {"update_multi": True}, "body": {"elements": elements or [text_block(" ")]}}


def reply_cards(reply: Reply, placeholder: str = "…", field: JSON | None = None) -> list[JSON]:
    """A reply as cards: its text (split where long) with the buttons on the last one, one row of
    buttons a line, a crowded row a drop-down; `field` (a step's input) above the buttons."""
    if not reply.text and not reply.buttons:
        return []  # a reply that is only files
    parts = split_text(reply.text, TEXT_LIMIT)
    cards = [card([text_block(part)]) for part in parts[:-1]]
    question = parts[-1]
    elements = [text_block(question)] if question else []
    if field is not None:
        elements.append(field)
    for row in reply.buttons:
        if len(row) > ROW_BUTTONS:
            elements.append(select([(b.label, b.payload) for b in row], question, placeholder))
            continue
        columns = [{"tag": "column", "width": "auto", "elements": [button(b.label, b.payload, question)]} for b in row]
        elements.append({"tag": "column_set", "flex_mode": "flow", "columns": columns})
    cards.append(card(elements))
    return cards


def input_field(step: StepView, question: str, placeholder: str) -> JSON | None:
    """A text or number step's own box on its card: what is typed there (and sent) answers it, as
    words typed in the chat do. Its value names the dialog version it answers (an old card's box is
    stale, never misapplied)."""
    if not isinstance(step, TextView | NumberView):
        return None
    field: JSON = {
        "tag": "input",
        "name": "answer",
        "placeholder": {"tag": "plain_text", "content": placeholder},
        "behaviors": [{"type": "callback", "value": {"q": question[:QUESTION_LIMIT], "v": step.version}}],
    }
    if isinstance(step, TextView):
        field["max_length"] = min(step.max_length, 1000)
        if step.max_length > 100:
            field["input_type"] = "multiline_text"
    return field


@dataclass(frozen=True)
class Press:
    """What a card callback says: a button's (or drop-down option's) payload, or words typed into a
    step's box with the dialog version they answer; and the words of the question on the card."""

    payload: str
    question: str
    typed: str | None = None
    version: int | None = None


def question_of(reply: Reply) -> str:
    """The words of the card that carries a reply's buttons (its last part)."""
    return split_text(reply.text, TEXT_LIMIT)[-1]


def retired(question: str, chosen: str | None) -> JSON:
    """A pressed question: the same words, what was chosen, no buttons (none can be pressed twice)."""
    elements = [text_block(question)]
    if chosen:
        elements.append(text_block(f"→ {chosen}"))
    return card(elements)


def pressed(action: JSON) -> Press:
    """What the person did on the card: pressed a button, chose an option, or typed into the box."""
    value = action.get("value")
    value = value if isinstance(value, dict) else {}
    question = str(value.get("q") or "")
    if action.get("tag") == "input":
        version = value.get("v")
        typed = str(action.get("input_value") or "")
        return Press("", question, typed, version if isinstance(version, int) else -1)
    payload = action.get("option") if action.get("tag") == "select_static" else value.get("p")
    return Press(str(payload or ""), question)


def toast(text: str | None) -> JSON:
    return {"toast": {"type": "info", "content": text}} if text else {}
