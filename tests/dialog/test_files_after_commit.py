"""A file that takes CPU to make (a chart, a big export) is made after the asker's transaction has
committed: while it is written, the database answers everyone else, and the file still arrives with
its reply, and again with a retried request."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import AsyncIterator, Callable

import httpx
import openpyxl
import pytest
from sqlalchemy import select

from bot.service import AREAS
from handlers.core import files
from handlers.core.area import Area
from handlers.core.flow import Action, StepContext
from handlers.core.i18n import Label
from storage.db import Database
from storage.models import Attachment, ProcessedDelivery
from tests.dialog.web_person import WebPerson
from tests.dialog.web_person import browser_chat as web_chat

SHEET = "单号,标题\nR-2026-000001,灯不亮\n".encode()


class SlowSheet:
    """The bytes of a big export, written only once the test lets them be."""

    def __init__(self) -> None:
        self.started, self.finish = threading.Event(), threading.Event()
        self.broken = False

    def write(self) -> bytes:
        self.started.set()
        if not self.finish.wait(20):
            raise TimeoutError("the test never let the sheet be finished")
        if self.broken:
            raise ValueError("the sheet came out over the size limit")
        return SHEET


@pytest.fixture
def slow_sheet() -> SlowSheet:
    return SlowSheet()


@pytest.fixture
async def browser_chat(db: Database, slow_sheet: SlowSheet) -> AsyncIterator[httpx.AsyncClient]:
    async def big_export(ctx: StepContext, args: str) -> Action:
        """Answers as /export does, with a deep link so the test needs no command in the catalogs."""
        return Action(
            say=((Label("导出完成", "Exported"), ()),),
            later=(files.Later("tickets.csv", files.CSV, slow_sheet.write),),
        )

    async with web_chat(db, (*AREAS, Area("big_export", links={"export": big_export}))) as client:
        yield client


@pytest.fixture
def web_person(browser_chat: httpx.AsyncClient) -> Callable[[str], WebPerson]:
    return lambda key: WebPerson(browser_chat, key)


async def download(client: httpx.AsyncClient, url: str) -> bytes:
    response = await client.get(url)
    assert response.status_code == 200
    return response.content


async def test_while_an_export_is_written_the_database_answers_everyone_else(
    db: Database, browser_chat: httpx.AsyncClient, web_person: Callable[[str], WebPerson], slow_sheet: SlowSheet
) -> None:
    wang, li = web_person("wang.fang"), web_person("li.na")
    asking = asyncio.create_task(wang.says("/start export_now", client_id="export-0001"))
    assert await asyncio.to_thread(slow_sheet.started.wait, 20)

    # The sheet is being written: 王芳's delivery has committed already, and 李娜 is answered meanwhile
    # (on SQLite the write lock is free; in a transaction held open she would wait for it).
    async with db.unit_of_work() as session:
        recorded = await session.scalar(
            select(ProcessedDelivery.id).where(ProcessedDelivery.key.endswith(":export-0001"))
        )
    assert recorded is not None
    async with asyncio.timeout(10):
        welcome = await li.says("/start")
    assert "你好，李娜！我是后勤助手。" in welcome
    assert not asking.done()

    slow_sheet.finish.set()
    said = await asking
    assert said.texts == ["导出完成"]
    [sheet] = said.files
    assert (sheet["name"], sheet["image"]) == ("tickets.csv", False)
    assert await download(browser_chat, sheet["url"]) == SHEET

    # A retried POST hands back the same file; nothing is written twice.
    again = await wang.says("/start export_now", client_id="export-0001")
    assert (again.duplicate, again.files) == (True, [sheet])
    async with db.unit_of_work() as session:
        assert (await session.scalars(select(Attachment.name))).all() == ["tickets.csv"]


async def test_a_file_that_was_never_made_is_not_promised_to_a_retried_request(
    db: Database, browser_chat: httpx.AsyncClient, web_person: Callable[[str], WebPerson], slow_sheet: SlowSheet
) -> None:
    slow_sheet.broken = True
    slow_sheet.finish.set()
    payload = {"person": "wang.fang", "client_id": "export-0002", "text": "/start export_now"}
    failed = await browser_chat.post("/api/web/messages", json=payload)
    assert failed.status_code == 500 and "系统出了点问题" in failed.json()["error"]

    # The page retries: the delivery was recorded, its file never made. 王芳 is told so, not "导出完成".
    again = await web_person("wang.fang").says("/start export_now", client_id="export-0002")
    assert (again.duplicate, again.texts, again.files) == (True, ["抱歉，这个文件没能生成。请再发一次刚才的命令。"], [])
    async with db.unit_of_work() as session:
        assert (await session.scalars(select(Attachment.name))).all() == []


async def test_a_retried_export_request_gets_the_same_spreadsheet(
    browser_chat: httpx.AsyncClient, web_person: Callable[[str], WebPerson]
) -> None:
    lin = web_person("lin.hua")
    said = await lin.says("/export stock xlsx", client_id="stock-0001")
    [sheet] = said.files
    assert sheet["name"] == "stock-all.xlsx"
    book = openpyxl.load_workbook(io.BytesIO(await download(browser_chat, sheet["url"])))
    assert next(book.active.iter_rows(values_only=True))[:3] == ("编码", "中文名称", "英文名称")  # type: ignore[union-attr]

    again = await lin.says("/export stock xlsx", client_id="stock-0001")
    assert (again.duplicate, again.texts, again.files) == (True, said.texts, [sheet])


async def test_stats_and_their_chart_come_back_whole_to_a_retried_request(
    web_person: Callable[[str], WebPerson],
) -> None:
    lin = web_person("lin.hua")
    said = await lin.says("/stats week", client_id="stats-0001")
    [chart] = said.files
    assert (chart["image"], chart["name"].startswith("stats-")) == (True, True)

    again = await lin.says("/stats week", client_id="stats-0001")
    assert (again.duplicate, again.texts, again.files) == (True, said.texts, [chart])
