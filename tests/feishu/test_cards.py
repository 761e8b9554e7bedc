"""Replies drawn as card JSON 2.0: words as plain text, a row of buttons a line, a crowded row as a
drop-down, a long text over several cards, and what a pressed card becomes."""

from __future__ import annotations

from bot.channels.feishu import cards
from handlers.core.conversation import Button, Reply


def texts(card: cards.JSON) -> list[str]:
    return [e["text"]["content"] for e in card["body"]["elements"] if e["tag"] == "div"]


def test_a_question_with_two_rows_of_buttons() -> None:
    reply = Reply("在哪栋楼？", ((Button("教学楼", "s3:B"), Button("食堂", "s3:C")), (Button("✖ 取消", "s3:_cancel"),)))
    [card] = cards.reply_cards(reply)
    assert card["schema"] == "2.0" and card["config"]["update_multi"] is True
    assert texts(card) == ["在哪栋楼？"]
    rows = [e for e in card["body"]["elements"] if e["tag"] == "column_set"]
    assert [[c["elements"][0]["text"]["content"] for c in row["columns"]] for row in rows] == [
        ["教学楼", "食堂"],
        ["✖ 取消"],
    ]
    value = rows[0]["columns"][0]["elements"][0]["behaviors"][0]["value"]
    # The payload, and the question's words so that whoever answers the press can redraw the card.
    assert value == {"p": "s3:B", "q": "在哪栋楼？"}
    assert cards.pressed({"tag": "button", "value": value}) == cards.Press("s3:B", "在哪栋楼？")


def test_words_stay_words_and_long_ones_go_over_several_cards() -> None:
    shown = "[点这里](https://evil.example) <at id=all></at> **粗体**"
    [card] = cards.reply_cards(Reply(shown))
    assert card["body"]["elements"] == [{"tag": "div", "text": {"tag": "plain_text", "content": shown}}]
    long = "\n".join(f"第 {n} 行" + "字" * 40 for n in range(200))
    drawn = cards.reply_cards(Reply(long, ((Button("好", "ok"),),)))
    assert len(drawn) > 1 and "\n".join(t for c in drawn for t in texts(c)) == long
    assert all(e["tag"] == "div" for c in drawn[:-1] for e in c["body"]["elements"])


def test_eleven_choices_are_a_drop_down_whose_option_is_the_payload() -> None:
    row = tuple(Button(str(n), f"s5:{n}") for n in range(11))
    [card] = cards.reply_cards(Reply("会推荐给同事吗？", (row,)), placeholder="请选择…")
    [select] = [e for e in card["body"]["elements"] if e["tag"] == "select_static"]
    assert [o["value"] for o in select["options"]] == [f"s5:{n}" for n in range(11)]
    chosen = {"tag": "select_static", "option": "s5:9", "value": select["behaviors"][0]["value"]}
    assert cards.pressed(chosen) == cards.Press("s5:9", "会推荐给同事吗？")


def test_a_pressed_card_keeps_its_question_shows_the_choice_and_loses_its_buttons() -> None:
    assert texts(cards.retired("需要维修的是哪一类？", "给排水")) == ["需要维修的是哪一类？", "→ 给排水"]
    assert cards.retired("x", None)["body"]["elements"] == [cards.text_block("x")]


def test_a_text_step_has_its_own_box_whose_words_answer_the_version_it_showed() -> None:
    from handlers.core.conversation import ChoiceView, TextView

    step = TextView(prompt="请描述问题：", max_length=500, version=7)
    field = cards.input_field(step, "请描述问题：", "在这里输入回答")
    assert field is not None and field["tag"] == "input" and field["input_type"] == "multiline_text"
    [card] = cards.reply_cards(Reply("请描述问题：", ((Button("✖ 取消", "s7:_cancel"),),)), field=field)
    assert [e["tag"] for e in card["body"]["elements"]] == ["div", "input", "column_set"]
    typed = {"tag": "input", "input_value": "灯不亮了", "value": field["behaviors"][0]["value"]}
    assert cards.pressed(typed) == cards.Press("", "请描述问题：", "灯不亮了", 7)
    # A choice has buttons, not a box.
    assert cards.input_field(ChoiceView(prompt="哪一类？"), "哪一类？", "…") is None
