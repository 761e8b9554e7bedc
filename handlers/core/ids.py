"""The one parser of ids and page numbers that people type or buttons carry (/ticket 12, #7, tk:12:view).

Either can be anything. "²" and "٣" are digits to str.isdigit, yet int() refuses the first; 10**22
is a number, yet no database integer holds it (SQLite and asyncpg raise OverflowError, which used
to end the handling with no reply and a webhook's 500). So: ASCII digits only, no sign, no more
than a signed 64-bit integer (our BIGINT primary keys). What fails is no id at all, and the caller
answers as for one that names nothing ("not found", "this button is not valid").
"""

from __future__ import annotations

# The largest id a row can have: PostgreSQL's BIGINT, SQLite's INTEGER.
MAX_ID = 2**63 - 1


def whole_number(text: str, maximum: int) -> int | None:
    """`text` as a whole number from 0 to `maximum`, or None when it is anything else."""
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(maximum)):
        return None
    number = int(text)
    return number if number <= maximum else None


def parse_id(text: str) -> int | None:
    """The row id `text` names, or None when it cannot name one."""
    return whole_number(text, MAX_ID)
