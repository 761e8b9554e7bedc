"""Commands as people type them in a chat that has no slash-command menu of its own (Feishu, DingTalk):
/repair 301, or one of the Chinese keywords alone (报修)."""

from __future__ import annotations

# Commands typed as words in a one-to-one chat, beside /repair and the rest.
KEYWORDS = {"报修": "repair", "领用": "supply", "我的": "my", "帮助": "help"}


def command_in(text: str) -> tuple[str, str] | None:
    """The command and its arguments, if the words are one: /repair 301, or a keyword alone."""
    stripped = text.strip()
    if stripped.startswith("/") and len(stripped) > 1:
        head, _, args = stripped[1:].partition(" ")
        return head.lower(), args.strip()
    if stripped in KEYWORDS:
        return KEYWORDS[stripped], ""
    return None
