"""`houqin supply import FILE`: the catalog from a spreadsheet, as an operator runs it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from bot.cli import main
from storage.db import Database
from storage.models import SupplyItem
from tests.supplies import ledger_disagreements


async def catalog(url: str) -> tuple[list[tuple[str, str, int, int | None]], dict[str, tuple[int, int, int, int]]]:
    db = Database(url)
    try:
        async with db.unit_of_work() as session:
            items = await session.scalars(select(SupplyItem).order_by(SupplyItem.code))
            found = [(i.code, i.unit, i.on_hand, i.unit_price) for i in items]
        return found, await ledger_disagreements(db)
    finally:
        await db.dispose()


@pytest.mark.subprocess  # the file is parsed in a child process (handlers/core/uploads.py)
def test_an_operator_imports_the_catalog_and_a_wrong_file_imports_nothing(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no developer's .env
    monkeypatch.setenv("DATABASE_URL", database_url)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["code", "name_zh", "name_en", "category", "unit", "stock", "reorder_at", "monthly_limit", "price"])
    sheet.append(["paper-a4", "A4 打印纸", "A4 paper", "纸张", "包", 120, 20, 10, 24])
    sheet.append(["BATT-AA", "5 号电池", "AA batteries", "batteries", "cells", 60, 10, None, 2.5])
    book.save(tmp_path / "stores.xlsx")

    assert main(["supply", "import", str(tmp_path / "stores.xlsx")]) == 0
    assert "导入完成：新增 2 个物品，更新 0 个。" in capsys.readouterr().out
    assert asyncio.run(catalog(database_url)) == (
        [("BATT-AA", "cell", 60, 250), ("PAPER-A4", "pack", 120, 2400)],
        {},
    )

    (tmp_path / "wrong.csv").write_text("code,name_zh,name_en,category,unit\nX 1,名,Name,paper,kg\n", encoding="utf-8")
    assert main(["supply", "import", str(tmp_path / "wrong.csv")]) == 1
    said = capsys.readouterr().err
    assert "文件有 2 处问题，什么都没有导入" in said and "第 2 行：不认识单位「kg」" in said
    assert main(["supply", "import", str(tmp_path / "missing.csv")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert len(asyncio.run(catalog(database_url))[0]) == 2
