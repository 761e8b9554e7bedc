"""Commands as people type them in a chat that has no command menu of its own (Feishu, DingTalk, WeCom):
/repair 301, a Chinese keyword alone (报修), or — where a channel allows it — a command's name alone
without the slash (repair)."""

from __future__ import annotations

from collections.abc import Collection

# Commands typed as words in a one-to-one chat, beside /repair and the rest.
KEYWORDS = {
    "报修": "repair",
    "领用": "supply",
    "我的": "my",
    "帮助": "help",
    "抄表": "meter",
    "能耗": "energy",
    "巡检": "inspect",
}


def command_in(text: str, bare: Collection[str] = ()) -> tuple[str, str] | None:
    """The command and its arguments typed in `text`, if it is one: /repair 301, 报修, or one of the
    `bare` command names alone (repair)."""
    stripped = text.strip()
    if stripped.startswith("/") and len(stripped) > 1:
        head, _, args = stripped[1:].partition(" ")
        return head.lower(), args.strip()
    if stripped in KEYWORDS:
        return KEYWORDS[stripped], ""
    if stripped.lower() in bare:
        return stripped.lower(), ""
    return None
