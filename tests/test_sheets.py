"""The one export writer (handlers/core/sheets.py): text that could start a formula is written inert,
numbers stay numbers, and what an XLSX cannot hold does not stop the export."""

from __future__ import annotations

import io

import openpyxl

from handlers.core.sheets import to_csv, to_xlsx

TYPED = ["=1+1", "@SUM(A1)", "+86 138", "-2+3", "＝1+1", "\tx", " =1", "#N/A", "fine"]
SAFE = ["'=1+1", "'@SUM(A1)", "'+86 138", "'-2+3", "'＝1+1", "'\tx", "' =1", "#N/A", "fine"]


def test_csv_cells_that_could_start_a_formula_are_text_and_numbers_stay_numbers() -> None:
    written = to_csv(["a"], [[*TYPED, -5, 2.5, None]]).decode("utf-8-sig").splitlines()[1]
    assert written == "'=1+1,'@SUM(A1),'+86 138,'-2+3,'＝1+1,'\tx,' =1,#N/A,fine,-5,2.5,"


def test_xlsx_cells_are_strings_never_formulas_or_error_values() -> None:
    # A bell and a lone surrogate from rows kept before text was normalised: left out, not a crash.
    book = openpyxl.load_workbook(io.BytesIO(to_xlsx("t", ["a"], [[*TYPED, "ding\x07\ud800", -5]])))
    sheet = book.active
    assert sheet is not None
    [cells] = list(sheet.iter_rows(min_row=2))
    assert [c.value for c in cells] == [*SAFE, "ding", -5]
    assert [c.data_type for c in cells] == ["s"] * 10 + ["n"]
