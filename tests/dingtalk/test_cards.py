"""Replies drawn as DingTalk robot messages: an ActionCard of up to five buttons whose links make
the person send `label 〔payload〕`, a markdown message of links for more, words escaped for
markdown, a long text over several messages — and an answer sent back read as the button's press."""

from __future__ import annotations

import re
from urllib.parse import unquote

from bot.channels.dingtalk import cards
from handlers.core.conversation import Button, Reply
from tests.fakes.dingtalk_api import unescaped


def sent_by(url: object) -> str:
    """What pressing a button with this link sends."""
    assert isinstance(url, str) and url.startswith(cards.SEND)
    return unquote(url.removeprefix(cards.SEND))


def test_a_question_with_three_buttons_is_an_action_card_whose_buttons_send_their_answer() -> None:
    reply = Reply("在哪栋楼？", ((Button("教学楼", "s3:B"), Button("食堂", "s3:C")), (Button("✖ 取消", "s3:_cancel"),)))
    [(key, param)] = cards.reply_messages(reply)
    assert key == "sampleActionCard3" and param["title"] == "在哪栋楼？"
    assert [param[f"actionTitle{n}"] for n in (1, 2, 3)] == ["教学楼", "食堂", "✖ 取消"]
    assert sent_by(param["actionURL1"]) == "教学楼 〔s3:B〕"
    assert cards.pressed(sent_by(param["actionURL3"])) == ("✖ 取消", "s3:_cancel")


def test_one_button_is_a_single_action_card_and_none_is_markdown() -> None:
    [(key, param)] = cards.reply_messages(Reply("📋 新问卷", ((Button("📝 填写问卷", "sv:1"),),)))
    assert key == "sampleActionCard" and sent_by(param["singleURL"]) == "📝 填写问卷 〔sv:1〕"
    [(key, param)] = cards.reply_messages(Reply("报修已提交"))
    assert (key, param) == ("sampleMarkdown", {"title": "报修已提交", "text": "报修已提交"})
    assert cards.reply_messages(Reply("")) == []


def test_eleven_choices_are_a_markdown_message_of_links() -> None:
    buttons = tuple(Button(str(n), f"s5:{n}") for n in range(11))
    [(key, param)] = cards.reply_messages(Reply("推荐给同事的可能性？(0-10)", (buttons,)))
    assert key == "sampleMarkdown"
    text = str(param["text"])
    assert text.startswith("推荐给同事的可能性？(0-10)")
    assert text.count("(dtmd://dingtalkclient/sendMessage?content=") == 11
    assert "- [10](dtmd://dingtalkclient/sendMessage?content=10%20%E3%80%94s5%3A10%E3%80%95)" in text


def test_what_people_typed_shows_as_typed_never_as_a_link_or_heading() -> None:
    typed = "# 紧急 [点我](http://evil.example) *粗体*\n第二行"
    [(_, param)] = cards.reply_messages(Reply(typed))
    # No bracket is left unescaped, so no link can form; the heading's # is escaped too.
    assert re.search(r"(?<!\\)[\[\]]", str(param["text"])) is None
    assert str(param["text"]).startswith("\\# 紧急")
    assert unescaped(str(param["text"])) == typed
    assert cards.escaped("a\nb") == "a  \nb"
    assert cards.escaped("1. 第一\n- 列表 (a-b)") == "1\\. 第一  \n\\- 列表 (a-b)"


def test_a_long_text_goes_over_several_messages_with_the_buttons_on_the_last() -> None:
    long = "\n".join(f"第 {n} 行：" + "很长的内容" * 40 for n in range(30))
    messages = cards.reply_messages(Reply(long, ((Button("✔ 好", "s1:ok"), Button("✖ 不", "s1:no")),)))
    assert len(messages) > 1
    assert [key for key, _ in messages[:-1]] == ["sampleMarkdown"] * (len(messages) - 1)
    assert messages[-1][0] == "sampleActionCard2"


def test_a_note_above_a_card_that_replaces_another() -> None:
    [(_, param)] = cards.reply_messages(Reply("状态：已接单", ((Button("▶ 开始", "tk:1:start"),),)), "（替代）")
    assert unescaped(str(param["text"])) == "（替代）\n状态：已接单"


def test_only_an_answer_in_the_buttons_form_is_a_press() -> None:
    assert cards.pressed("给排水 〔s3:W〕") == ("给排水", "s3:W")
    assert cards.pressed("  ★★★★★ 〔tk:12:rate:5〕 ") == ("★★★★★", "tk:12:rate:5")
    assert cards.pressed("〔s3:W〕") == ("", "s3:W")
    for words in ("给排水", "见〔s3:W〕后面", "〔有 空格〕", "〔〕", "a 〔" + "x" * 65 + "〕"):
        assert cards.pressed(words) is None, words


def test_the_shipped_template_has_the_variables_houqin_fills_and_calls_back_with_the_payload() -> None:
    import json
    from pathlib import Path

    template = json.loads((Path(__file__).parents[2] / "docs" / "dingtalk-card-template.json").read_text())
    filled = cards.card_params("在哪栋楼？", [Button("教学楼", "s3:B")])
    assert (
        {v["name"] for v in template["variables"]} == filled.keys() == cards.retired_params("x").keys() | {"markdown"}
    )
    [group] = [c for c in template["layout"] if c["component"] == "buttonGroup"]
    assert template["callbackType"] == "STREAM" and group["item"]["action"]["params"] == {"payload": "${item.payload}"}
    assert json.loads(filled["buttons"]) == [{"text": "教学楼", "payload": "s3:B"}]
    content = json.dumps({"cardPrivateData": {"actionIds": ["press"], "params": {"payload": "s3:B"}}})
    assert cards.card_pressed(content) == "s3:B" and cards.card_pressed("{") is None
