"""The one parser of ids people type and buttons carry: anything in, an id that fits a row or None out."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from handlers.core.ids import MAX_ID, parse_id, whole_number


def test_only_ascii_digits_that_fit_a_database_integer_are_ids() -> None:
    assert parse_id("42") == 42 and parse_id("007") == 7
    assert parse_id(str(MAX_ID)) == MAX_ID
    for odd in ("²", "٣", "３", "-1", "+1", " 1", "1.0", "", str(MAX_ID + 1), "9" * 5000):
        assert parse_id(odd) is None, odd
    assert whole_number("12", 10) is None and whole_number("10", 10) == 10


@given(st.text(max_size=40))
def test_any_text_is_an_id_or_none_never_an_error(text: str) -> None:
    found = parse_id(text)
    assert found is None or (0 <= found <= MAX_ID and text.isascii())
