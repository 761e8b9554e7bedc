"""The one writer of the spreadsheets people take away: every /export and /survey export, CSV or XLSX.

Whatever a text cell holds came, somewhere, from someone's typing (a description, a purpose, a
suggestion, a name), and a spreadsheet runs a cell that begins like a formula: `=HYPERLINK(…)` leaks
the sheet, `=cmd|…` asks to start a program. So a text cell that begins with = + - @ (or their
full-width forms, which Chinese and Japanese input methods type), a tab or a carriage return is
written with an apostrophe in front, the way a person makes Excel take such a cell as text; and
XLSX cells are stored as strings, never formulas (nor the error values "#N/A" would turn into).
Numbers the rows carry as numbers (counts, quantities, prices) stay numbers.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence

Cell = str | int | float | None

# What makes a spreadsheet read a cell as a formula (or, for tab and CR, hides one behind them).
FORMULA_STARTS = ("=", "+", "-", "@", "＝", "＋", "－", "＠")
HIDING_STARTS = ("\t", "\r")
# Characters an XLSX (XML 1.0) cannot hold: control characters, and halves of surrogate pairs that a
# platform's JSON may carry alone. Text typed today never keeps them (handlers/core/text.py); older rows might.
NOT_IN_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def inert(value: Cell) -> str | int | float:
    """The cell as a spreadsheet may safely read it: text that cannot start a formula, numbers as they are."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return value
    text = str(value)
    if text.startswith(HIDING_STARTS) or text.lstrip().startswith(FORMULA_STARTS):
        return f"'{text}"
    return text


def to_csv(header: Sequence[str], rows: Sequence[Sequence[Cell]]) -> bytes:
    """UTF-8 with a byte-order mark, which Excel needs to read Chinese."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([inert(cell) for cell in header])
    writer.writerows([[inert(cell) for cell in row] for row in rows])
    return buffer.getvalue().encode("utf-8-sig", errors="replace")


def to_xlsx(title: str, header: Sequence[str], rows: Sequence[Sequence[Cell]]) -> bytes:
    """One sheet named `title`: the header in bold and frozen, then the rows."""
    from openpyxl import Workbook  # only an export needs it
    from openpyxl.cell.cell import Cell as SheetCell
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = NOT_IN_XML.sub("", title)[:31] or "Sheet"

    def cells(values: Sequence[Cell], bold: bool = False) -> list[SheetCell]:
        made = []
        for column, value in enumerate(values, start=1):
            safe = None if value is None else inert(value)  # an empty cell stays empty
            # Row and column are set again by append; the stubs want them given.
            cell = SheetCell(
                sheet, row=1, column=column, value=NOT_IN_XML.sub("", safe) if isinstance(safe, str) else safe
            )
            if isinstance(safe, str):
                cell.data_type = "s"  # never "f" (a formula) or "e" (an error value), whatever it says
            if bold:
                cell.font = Font(bold=True)
            made.append(cell)
        return made

    sheet.append(cells(header, bold=True))
    for row in rows:
        sheet.append(cells(row))
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
