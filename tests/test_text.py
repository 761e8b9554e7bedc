"""Text made plain where it enters (handlers/core/text.py): whatever comes in, what goes on can be stored,
sent and shown, says the same words, and counts only what a reader sees."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from handlers.core.text import plain, visible_length


def test_what_a_reader_would_not_see_goes_and_the_words_stay() -> None:
    assert plain("会议室\u202e的灯\x07一直闪，\x1b[31m很影响\x1b[0m") == "会议室的灯一直闪，很影响"
    assert plain("第一行\r\n第二行\r第三行\u2028第四行\t完") == "第一行\n第二行\n第三行\n第四行 完"
    assert plain("\u200b" * 6) == "" and plain("x\ud800y") == "xy"
    assert plain("e\u0301") == "\u00e9"  # NFC
    family = "👨\u200d👩\u200d👧"
    assert plain(family) == family and plain("\u200d\u200d") == ""  # a joiner stays inside a word only
    assert visible_length("a b c") == 3 and visible_length("灯" + "\u0301" * 6) == 1


@given(st.text(max_size=200))
def test_any_text_comes_out_storable_settled_and_free_of_controls(text: str) -> None:
    made = plain(text)
    made.encode("utf-8")  # no lone surrogate left to fail a send or a write
    assert plain(made) == made
    for char in made:
        assert char in "\n\u200c\u200d" or unicodedata.category(char) not in ("Cc", "Cf", "Cs"), repr(char)
    assert visible_length(made) <= len(made)
