"""Files that would freeze everyone: a spreadsheet of millions of blank rows, a survey of thousands of
questions, a survey nested thousands deep. Through Telegram (python-telegram-bot against the fake
Bot API) on SQLite and PostgreSQL: each is refused with one clear message, nothing is imported, and
the service goes on answering (/healthz through the ASGI app) while the file is being read.
"""

from __future__ import annotations

import asyncio
import gc
import io
import re
import zipfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from bot.app import create_app
from bot.service import Service, settle_memory
from storage.db import Database
from storage.models import Department, SupplyItem, Survey
from tests.dialog.telegram_person import TelegramPerson
from tests.dialog.test_ticket_life_telegram import make_staff

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
YAML = "application/yaml"


def spreadsheet_with_blank_rows(header: list[str], row: list[str], blank_rows: int) -> bytes:
    """A real XLSX (as openpyxl writes it) whose sheet goes on with `blank_rows` empty <row/>
    elements and says nothing of its size (no <dimension>): tens of kilobytes zipped, millions of
    rows to whoever reads it row by row."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(header)
    sheet.append(row)
    written = io.BytesIO()
    book.save(written)
    hostile = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(written.getvalue())) as source,
        zipfile.ZipFile(hostile, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for entry in source.infolist():
            content = source.read(entry.filename)
            if entry.filename == "xl/worksheets/sheet1.xml":
                content = content.replace(b"</sheetData>", b"<row/>" * blank_rows + b"</sheetData>")
                content = re.sub(rb"<dimension [^>]*/>", b"", content)
            target.writestr(entry.filename, content)
    return hostile.getvalue()


def a_survey_of(questions: int) -> bytes:
    listed = "".join(f"  - {{type: rating, text: {{zh: 第{n}题, en: Question {n}}}}}\n" for n in range(questions))
    return f"title: {{zh: 食堂调查, en: Canteen}}\nquestions:\n{listed}".encode()


@dataclass
class Watch:
    """What happened to everyone else while one person's file was being read."""

    loop_gaps: list[float] = field(default_factory=list)
    health_waits: list[float] = field(default_factory=list)
    # When each /healthz answer arrived (the loop's clock), to see some came during the import.
    health_answered: list[float] = field(default_factory=list)


@asynccontextmanager
async def everyone_else(service: Service) -> AsyncIterator[Watch]:
    """While the block runs: a ticker notes how late the event loop wakes it, and /healthz is asked
    again and again through the ASGI app, each answer timed."""
    watch = Watch()
    loop = asyncio.get_running_loop()
    transport = httpx.ASGITransport(app=create_app(service))

    async def tick() -> None:
        while True:
            before = loop.time()
            await asyncio.sleep(0.02)
            watch.loop_gaps.append(loop.time() - before)

    async def ask_health(client: httpx.AsyncClient) -> None:
        while True:
            asked = loop.time()
            answer = await client.get("/healthz")
            assert answer.status_code == 200, answer.text
            watch.health_answered.append(loop.time())
            watch.health_waits.append(loop.time() - asked)
            await asyncio.sleep(0.02)

    # What this test process holds is set aside from full collections for the while, as `houqin run`
    # sets aside what its start-up loaded (settle_memory): a worker that has run hundreds of tests
    # would otherwise pause its loop for one (measured: 0.6 s after 74 tests on a slow VM, and a 1.4 s
    # gap seen in CI), which is the test process's garbage, not the upload's. Given back after.
    settle_memory()
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://houqin.test") as client:
            tasks = [asyncio.create_task(tick()), asyncio.create_task(ask_health(client))]
            try:
                yield watch
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        gc.unfreeze()


async def count(db: Database, model: type[SupplyItem] | type[Survey] | type[Department]) -> int:
    async with db.unit_of_work() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


@pytest.mark.subprocess  # the file is parsed in a child process (handlers/core/uploads.py)
async def test_a_spreadsheet_of_millions_of_blank_rows_is_refused_and_nobody_waits_for_it(
    db: Database, telegram: Service, telegram_user: Callable[..., TelegramPerson]
) -> None:
    lin = telegram_user(8202, "林主任")
    await make_staff(db, lin, "logistics_admin")
    sheet = spreadsheet_with_blank_rows(
        ["code", "name_zh", "name_en", "category", "unit", "stock"],
        ["MASK-N95", "N95 口罩", "N95 mask", "cleaning", "piece", "500"],
        blank_rows=2_000_000,
    )
    assert len(sheet) < 200_000  # small to send; two million rows to read
    items = await count(db, SupplyItem)

    loop = asyncio.get_running_loop()
    async with everyone_else(telegram) as watch:
        sent = loop.time()
        said = await lin.sends_file("catalog.xlsx", XLSX, sheet, caption="/stock import")
        answered = loop.time()

    # The event loop was never held for a second, and /healthz was answered throughout.
    assert max(watch.loop_gaps) < 1.0, max(watch.loop_gaps)
    assert watch.health_waits and max(watch.health_waits) < 1.0, max(watch.health_waits)
    assert any(sent < at < answered for at in watch.health_answered)
    assert said.texts == ["这个文件超过 5000 行（空行也算在内），没有导入任何内容。请删掉多余的行再发送。"]
    assert await count(db, SupplyItem) == items
    assert "✔ 提交" not in lin.buttons_on_screen()  # no import waits to be confirmed


@pytest.mark.subprocess  # the file is parsed in a child process (handlers/core/uploads.py)
async def test_an_org_import_of_millions_of_blank_rows_is_refused(
    db: Database, telegram_user: Callable[..., TelegramPerson]
) -> None:
    admin = telegram_user(8301, "Admin", "en")
    await make_staff(db, admin, "admin")
    sheet = spreadsheet_with_blank_rows(["code", "name_zh", "name_en"], ["audit", "审计处", "Audit"], 2_000_000)
    departments = await count(db, Department)
    said = await admin.sends_file("departments.xlsx", XLSX, sheet, caption="/org import")
    assert said.texts == [
        "That file has more than 5000 rows (blank rows count too), so nothing was imported. "
        "Delete the extra rows and send it again."
    ]
    assert await count(db, Department) == departments


@pytest.mark.subprocess  # the file is parsed in a child process (handlers/core/uploads.py)
async def test_surveys_too_long_or_too_deep_are_refused_in_a_sentence(
    db: Database, telegram: Service, telegram_user: Callable[..., TelegramPerson]
) -> None:
    lin = telegram_user(8202, "林主任")
    await make_staff(db, lin, "logistics_admin")
    surveys = await count(db, Survey)
    too_complex = "这个文件的条目太多或嵌套太深，读不了，没有导入任何内容。"

    # Sixteen thousand questions, under the 1 MB a survey file may be: not read to the end.
    long = a_survey_of(16_000)
    assert 500_000 < len(long) < 1024 * 1024
    loop = asyncio.get_running_loop()
    async with everyone_else(telegram) as watch:
        sent = loop.time()
        said = await lin.sends_file("canteen.yml", YAML, long, caption="/survey import")
        answered = loop.time()
    assert max(watch.loop_gaps) < 1.0 and max(watch.health_waits) < 1.0
    assert any(sent < at < answered for at in watch.health_answered)
    assert said.texts == [too_complex]

    # Nested two hundred kilobytes deep, as YAML and as JSON: a sentence, not a crash.
    deep = b"[" * 100_000 + b"]" * 100_000
    assert await lin.sends_file("deep.yml", YAML, deep, caption="/survey import") == [too_complex]
    assert await lin.sends_file("deep.json", "application/json", deep, caption="/survey import") == [too_complex]
    # The same file answering the import flow's question: refused there too, and the question stands.
    await lin.says("/survey import")
    refused = await lin.sends_file("deep.yml", YAML, deep)
    assert too_complex in refused.text
    assert "已导入" in await lin.sends_file("short.yml", YAML, a_survey_of(3))
    assert await count(db, Survey) == surveys + 1
