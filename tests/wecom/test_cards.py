"""Replies drawn as WeCom messages: words as text messages (2048 bytes each), a question as template
cards of at most six buttons whose keys are the core's payloads, a long question's words before a
card asking to choose, and what a pressed card becomes."""

from __future__ import annotations

from bot.channels.wecom import cards
from handlers.core.conversation import Button, Reply


def test_a_question_with_two_rows_of_buttons_is_one_card() -> None:
    reply = Reply("在哪栋楼？", ((Button("教学楼", "s3:B"), Button("食堂", "s3:C")), (Button("✖ 取消", "s3:_cancel"),)))
    [message] = cards.reply_messages(reply)
    card = message["template_card"]
    assert (message["msgtype"], card["card_type"]) == ("template_card", "button_interaction")
    assert card["main_title"] == {"title": "在哪栋楼？"} and "sub_title_text" not in card
    assert [(b["text"], b["key"]) for b in card["button_list"]] == [
        ("教学楼", "s3:B"),
        ("食堂", "s3:C"),
        ("✖ 取消", "s3:_cancel"),
    ]
    assert card["task_id"].startswith("hq") and len(card["task_id"]) <= 128


def test_eleven_choices_are_two_cards_each_with_the_question() -> None:
    row = tuple(Button(str(n), f"s5:{n}") for n in range(11))
    messages = cards.reply_messages(Reply("会推荐给同事吗？\n0 分最低，10 分最高", (row,)))
    assert [len(m["template_card"]["button_list"]) for m in messages] == [6, 5]
    assert {m["template_card"]["main_title"]["title"] for m in messages} == {"会推荐给同事吗？"}
    assert {m["template_card"]["sub_title_text"] for m in messages} == {"0 分最低，10 分最高"}
    assert len({m["template_card"]["task_id"] for m in messages}) == 2


def test_words_too_long_for_a_card_come_first_and_long_ones_over_several_messages() -> None:
    summary = "请确认报修信息：\n" + "\n".join(f"第 {n} 项：" + "字" * 20 for n in range(8))
    *words, card = cards.reply_messages(Reply(summary, ((Button("✔ 提交", "s9:yes"),),)), "请选择：")
    assert [w["text"]["content"] for w in words] == [summary]
    assert card["template_card"]["main_title"] == {"title": "请选择："}
    long = "\n".join(f"第 {n} 行" + "字" * 40 for n in range(200))
    pieces = cards.reply_messages(Reply(long))
    assert len(pieces) > 1 and all(len(p["text"]["content"].encode()) <= 2048 for p in pieces)
    assert "\n".join(p["text"]["content"] for p in pieces) == long


def test_a_pressed_card_shows_the_choice_in_place_of_its_buttons() -> None:
    assert cards.pressed("给排水") == {"button": {"replace_name": "给排水"}}
    assert cards.pressed(None) == {"button": {"replace_name": "✔"}}


def test_the_apps_menu_has_two_entries_and_more() -> None:
    menu = cards.menu([("报修", "repair"), ("领用", "supply")], "更多", [("我的", "my"), ("帮助", "help")])
    assert menu == {
        "button": [
            {"type": "click", "name": "报修", "key": "repair"},
            {"type": "click", "name": "领用", "key": "supply"},
            {
                "name": "更多",
                "sub_button": [
                    {"type": "click", "name": "我的", "key": "my"},
                    {"type": "click", "name": "帮助", "key": "help"},
                ],
            },
        ]
    }
