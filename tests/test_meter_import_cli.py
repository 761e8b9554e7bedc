"""`houqin meter import FILE`: meters from a spreadsheet, as an operator runs it; a file with a wrong
line imports nothing and says every problem with its line."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from bot.cli import main
from storage.db import Database
from storage.models import Meter


async def meters(url: str) -> list[tuple[str, str, str, int, str | None]]:
    db = Database(url)
    try:
        async with db.unit_of_work() as session:
            found = await session.scalars(select(Meter).order_by(Meter.code))
            return [(m.code, m.kind, m.unit, m.multiplier, m.floor) for m in found]
    finally:
        await db.dispose()


@pytest.mark.subprocess  # the file is parsed in a child process (handlers/core/uploads.py)
def test_an_operator_imports_meters_and_a_wrong_file_imports_nothing(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no developer's .env
    monkeypatch.setenv("DATABASE_URL", db.url)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["表号", "类型", "楼栋", "楼层", "倍率", "名称"])
    sheet.append(["e-d-01", "电", "d", "B1", 80, "宿舍楼配电房"])
    sheet.append(["G-C-01", "燃气", "C", None, None, "食堂燃气表"])
    book.save(tmp_path / "meters.xlsx")

    assert main(["meter", "import", str(tmp_path / "meters.xlsx")]) == 0
    assert "已导入表计：新增 2 块，更新 0 块。" in capsys.readouterr().out
    assert asyncio.run(meters(db.url)) == [("E-D-01", "electricity", "kWh", 80, "B1"), ("G-C-01", "gas", "m³", 1, None)]

    (tmp_path / "wrong.csv").write_text("code,kind,building,name\nW-Q-01,water,Q,某楼水表\n", encoding="utf-8")
    assert main(["meter", "import", str(tmp_path / "wrong.csv")]) == 1
    assert "第 2 行：没有楼栋 Q" in capsys.readouterr().err
    assert main(["meter", "import", str(tmp_path / "missing.csv")]) == 2
    assert len(asyncio.run(meters(db.url))) == 2
