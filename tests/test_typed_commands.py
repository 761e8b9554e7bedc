"""Commands typed in a chat with no command menu of its own (Feishu, DingTalk, WeCom): with a slash, as
a Chinese keyword, or — where the channel allows it — a command's name alone."""

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
    assert [command_in(word) for word in ("抄表", "能耗", "巡检")] == [("meter", ""), ("energy", ""), ("inspect", "")]
    assert command_in("我要报修") is None and command_in("/") is None


def test_a_command_name_alone_without_the_slash_where_the_channel_allows_it() -> None:
    known = {"repair", "my", "help"}
    assert command_in("Repair", bare=known) == ("repair", "")
    assert command_in("repair", bare=()) is None
    # Only alone: words that begin with a command's name are an answer, not a command.
    assert command_in("help me with the door", bare=known) is None
