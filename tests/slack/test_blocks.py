"""Block Kit drawn from neutral replies and steps, within Slack's limits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from bot.channels.slack import blocks
from handlers.core.conversation import (
    Button,
    Choice,
    ChoiceView,
    ConfirmView,
    NumberView,
    PhotoView,
    Reply,
    StepView,
    TextView,
)

View = TypeVar("View", bound=StepView)


def step(kind: type[View], **given: object) -> View:
    fields: dict[str, object] = {"flow": "repair", "flow_title": "报修", "step": "s", "version": 7}
    fields |= {"prompt": "请选择："}
    return kind(**(fields | given))  # type: ignore[arg-type]


def test_a_long_reply_is_several_sections_and_its_buttons_rows_of_actions() -> None:
    reply = Reply("一" * 3000 + "\n" + "二" * 10, ((Button("✔ 接单", "tk:1:accept"), Button("✖", "tk:1:decline")),))
    drawn = blocks.message_blocks(reply)
    assert [b["type"] for b in drawn] == ["section", "section", "actions"]
    assert all(len(b["text"]["text"]) <= blocks.SECTION_TEXT for b in drawn[:2])
    assert [e["value"] for e in drawn[2]["elements"]] == ["tk:1:accept", "tk:1:decline"]
    assert len({e["action_id"] for e in drawn[2]["elements"]}) == 2  # unique within the message


def test_few_options_are_radio_buttons_many_a_select_and_labels_are_clipped() -> None:
    few = blocks.step_modal(step(ChoiceView, buttons=tuple(Choice(str(i), f"选项{i}") for i in range(3))), "zh_CN")
    many = blocks.step_modal(step(ChoiceView, buttons=tuple(Choice(str(i), "长" * 90) for i in range(8))), "zh_CN")
    assert few["blocks"][-1]["element"]["type"] == "radio_buttons"
    element = many["blocks"][-1]["element"]
    assert element["type"] == "static_select" and len(element["options"][0]["text"]["text"]) == blocks.OPTION_LABEL
    assert few["title"]["text"] == "报修" and few["notify_on_close"] is True


def test_each_kind_of_step_has_its_input_and_its_version_in_the_metadata() -> None:
    text = blocks.step_modal(step(TextView, max_length=500, optional=True, skip="_done"), "en")
    number = blocks.step_modal(step(NumberView, min_value=1, max_value=20), "en")
    photo = blocks.step_modal(step(PhotoView, max_files=3, skip="_done"), "en")
    confirming = step(ConfirmView, summary="类别：给排水", skip="_submit", can_go_back=True, back="← Back")
    confirm = blocks.step_modal(confirming, "en")
    assert text["blocks"][-1]["element"] | {"multiline": True} == text["blocks"][-1]["element"]
    assert text["blocks"][-1]["optional"] is True
    assert (number["blocks"][-1]["element"]["min_value"], number["blocks"][-1]["element"]["max_value"]) == ("1", "20")
    assert photo["blocks"][-1]["element"]["type"] == "file_input" and photo["blocks"][-1]["element"]["max_files"] == 3
    assert confirm["submit"]["text"] == "Submit" and confirm["blocks"][0]["text"]["text"] == "类别：给排水"
    assert confirm["blocks"][-1]["elements"][0]["value"] == "s7:_back"
    assert '"v": 7' in confirm["private_metadata"]


def test_a_pressed_question_keeps_its_words_and_shows_the_choice() -> None:
    shown = blocks.message_blocks(Reply("在哪栋楼？", ((Button("教学楼", "s3:2"),),)))
    assert blocks.retired(shown, "教学楼") == [
        shown[0],
        {"type": "context", "elements": [{"type": "plain_text", "text": "→ 教学楼", "emoji": True}]},
    ]


@dataclass(frozen=True, kw_only=True)
class SlotView(StepView):
    """A kind of step this channel has no page of its own for (a booking's time slot)."""

    day: str


def test_a_kind_of_step_slack_does_not_know_is_its_prompt_its_buttons_and_a_box_for_words() -> None:
    slots = (Choice("09", "9:00"), Choice("10", "10:00"))
    page = blocks.step_modal(step(SlotView, prompt="Which time?", day="Monday", buttons=slots), "en")
    choose, words = page["blocks"]
    assert choose["label"]["text"] == "Which time?" and choose["optional"] is True
    assert [o["value"] for o in choose["element"]["options"]] == ["09", "10"]
    assert words["block_id"] == blocks.WORDS and words["element"]["type"] == "plain_text_input"
    assert '"k": "choice"' in page["private_metadata"]  # submitted as a choice or as words
    [typed] = blocks.step_modal(step(SlotView, prompt="Which time?", day="Monday"), "en")["blocks"]
    assert typed["element"]["type"] == "plain_text_input" and typed["label"]["text"] == "Which time?"
