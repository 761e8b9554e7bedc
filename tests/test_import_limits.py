"""The limits every import is read within (handlers/core/uploads.py), from the command line as an operator
runs `houqin supply|survey import`, and the time limit that stops a parser that runs on."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.cli import main
from handlers.core import uploads
from storage.db import Database
from storage.models import SupplyItem, Survey
from tests.dialog.test_hostile_uploads import a_survey_of, spreadsheet_with_blank_rows


async def counted(url: str) -> tuple[int, int]:
    db = Database(url)
    try:
        async with db.unit_of_work() as session:
            items = await session.scalar(select(func.count()).select_from(SupplyItem))
            surveys = await session.scalar(select(func.count()).select_from(Survey))
        return int(items or 0), int(surveys or 0)
    finally:
        await db.dispose()


@pytest.mark.subprocess  # the file is parsed in a child process (handlers/core/uploads.py)
def test_an_operator_is_told_in_one_line_what_limit_a_file_is_over_and_nothing_is_imported(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no developer's .env
    monkeypatch.setenv("DATABASE_URL", database_url)
    before = asyncio.run(counted(database_url))

    def refused(*argv: str) -> str:
        assert main(list(argv)) == 1
        said = capsys.readouterr().err.strip()
        assert "\n" not in said, said
        return said

    huge = tmp_path / "huge.yml"
    huge.write_bytes(b"# " + b"x" * (14 * 1024 * 1024) + b"\n" + a_survey_of(3))
    assert refused("survey", "import", str(huge)) == f"houqin: {huge}: 文件太大，最多 1 MB。"

    (tmp_path / "long.yml").write_bytes(a_survey_of(16_000))
    assert "条目太多或嵌套太深" in refused("survey", "import", str(tmp_path / "long.yml"))
    (tmp_path / "deep.yml").write_bytes(b"[" * 100_000 + b"]" * 100_000)
    assert "条目太多或嵌套太深" in refused("survey", "import", str(tmp_path / "deep.yml"))

    blank = spreadsheet_with_blank_rows(
        ["code", "name_zh", "name_en", "category", "unit"], ["PEN-1", "笔", "Pen", "stationery", "piece"], 2_000_000
    )
    (tmp_path / "stores.xlsx").write_bytes(blank)
    assert "超过 5000 行（空行也算在内）" in refused("supply", "import", str(tmp_path / "stores.xlsx"))
    (tmp_path / "stores.csv").write_bytes(b"code,name_zh,name_en,category,unit\n" + b"\r\n" * 1_000_000)
    assert "超过 5000 行（空行也算在内）" in refused("supply", "import", str(tmp_path / "stores.csv"))
    (tmp_path / "big.csv").write_bytes(b"code,name_zh,name_en,category,unit\n" + b"," * (3 * 1024 * 1024))
    assert refused("supply", "import", str(tmp_path / "big.csv")).endswith("文件太大，最多 2 MB。")

    assert asyncio.run(counted(database_url)) == before


def sleeps(name: str, content: bytes) -> None:
    """A parser that never finishes (as one caught in a pathological file would)."""
    time.sleep(60)


@pytest.mark.subprocess  # the file is parsed in a child process (handlers/core/uploads.py)
def test_a_parser_that_runs_past_its_time_is_stopped() -> None:
    slow = uploads.Parser("tests.test_import_limits:sleeps", uploads.Limits(max_bytes=1024, seconds=1))
    started = time.monotonic()
    with pytest.raises(uploads.FileRefused) as refused:
        uploads.parse_now(slow, "slow.csv", b"a,b\n")
    assert refused.value.message().render("en") == (
        "Reading that file took too long (over 1 s), so it was stopped and nothing was imported."
    )
    assert time.monotonic() - started < 30  # stopped, not waited out


def test_a_files_words_are_made_plain_as_a_messages_are() -> None:
    """A spreadsheet cell or a YAML title is text from outside too: no right-to-left override, bell
    or terminal colour reaches a card from an import."""
    sheet = "code,name_zh\nA4,\u202e纸张\x07\nT1,\x1b[31m碳粉\x1b[0m\n".encode()
    assert uploads.read_table("items.csv", sheet) == [["code", "name_zh"], ["A4", "纸张"], ["T1", "碳粉"]]
    node = uploads.compose_yaml('title: "\\u202e食堂\\a调查"\n', uploads.Limits(max_bytes=1000))
    assert node is not None
    [(_key, title)] = node.value
    assert title.value == "食堂调查"
