"""Commands typed in a chat with no command menu of its own (Feishu, DingTalk)."""

from __future__ import annotations

from bot.channels.typed import command_in


def test_commands_typed_with_a_slash_or_as_a_chinese_keyword() -> None:
    assert command_in("/Repair 301") == ("repair", "301")
    assert [command_in(word) for word in ("报修", "领用", "我的", "帮助")] == [
        ("repair", ""),
        ("supply", ""),
        ("my", ""),
        ("help", ""),
    ]
    assert command_in("我要报修") is None and command_in("/") is None
