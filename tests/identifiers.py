"""Finding a person's identifiers in what was stored or logged."""

from __future__ import annotations

import re
from collections.abc import Iterable


def names_anyone(text: str, identifiers: Iterable[str]) -> bool:
    """Whether text holds one of the identifiers whole: account ids are numbers, and 8312 inside a
    port (127.0.0.1:58312) or a microsecond is not person 8312."""
    return any(re.search(rf"(?<!\d){re.escape(identifier)}(?!\d)", text) for identifier in identifiers)
