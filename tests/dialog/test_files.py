"""Files Houqin makes for someone (a chart, an export) reach them: on Telegram as a photo or a
document, in the browser chat as a picture or a download link, and nobody else may fetch them."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from sqlalchemy import select

from bot.service import AREAS, Service, build_service
from handlers.core import files
from handlers.core.area import Area
from handlers.core.charts import Chart, Series, render
from handlers.core.flow import Action, StepContext
from handlers.core.i18n import Label
from handlers.core.outbox import Notice, notify
from storage.db import Database
from storage.models import ChannelAccount, utcnow
from tests.channels import telegram_of
from tests.dialog.conftest import telegram_running, telegram_settings
from tests.dialog.telegram_person import TelegramPerson, notices_delivered
from tests.dialog.web_person import WebPerson
from tests.dialog.web_person import browser_chat as web_chat
from tests.fakes.telegram_api import FakeBotAPI


@functools.cache  # drawn when a test here first needs it, not by every process that collects the tests
def week_chart() -> bytes:
    return render(Chart("本周报修", ["周一", "周二"], [Series("新报修", [3, 5])]))


SHEET = "单号,标题\nR-2026-000001,灯不亮\n".encode()


async def this_week(ctx: StepContext, args: str) -> Action:
    """Answers with a chart and a spreadsheet, as /stats and /export do (a deep link here, so the test
    needs no command of its own in the catalogs and the command menu)."""
    chart = await files.keep(ctx.session, ctx.person.id, "week.png", files.PNG, week_chart(), ctx.now)
    sheet = await files.keep(ctx.session, ctx.person.id, "tickets.csv", files.CSV, SHEET, ctx.now)
    return Action(say=((Label("这是本周的数据", "Here is the week"), ()),), files=(chart, sheet))


WEEK = Area("week", links={"week": this_week})


@pytest.fixture
async def telegram_with_week(db: Database, bot_api: FakeBotAPI) -> AsyncIterator[Service]:
    async for service in telegram_running(build_service(telegram_settings(db, bot_api), areas=(*AREAS, WEEK))):
        yield service


async def test_a_chart_arrives_as_a_photo_and_an_export_as_a_named_document(
    db: Database, bot_api: FakeBotAPI, telegram_with_week: Service
) -> None:
    person = TelegramPerson(bot_api, db, bot_api.user(7101, "王芳", "zh-hans"))
    heard = await person.says("/start week_now")

    text, photo, document = heard.messages
    assert text.text == "这是本周的数据"
    assert photo.kind == "photo" and photo.file is not None and photo.file.data == week_chart()
    assert document.kind == "document" and document.file is not None
    assert (document.file.filename, document.file.data) == ("tickets.csv", SHEET)


async def test_a_notice_brings_its_file_along(db: Database, bot_api: FakeBotAPI, telegram_with_week: Service) -> None:
    manager = TelegramPerson(bot_api, db, bot_api.user(7102, "黄丽", "zh-hans"))
    await manager.says("/start")
    async with db.unit_of_work() as session:
        account = await session.scalar(select(ChannelAccount).where(ChannelAccount.external_id == "7102"))
        assert account is not None
        chart = await files.keep(session, account.person_id, "digest.png", files.PNG, week_chart(), utcnow())
        await notify(session, Notice(account.person_id, Label("本周摘要", "The week"), files=(chart,)), utcnow())
    telegram_of(telegram_with_week)._wake.set()
    await notices_delivered(db)

    digest, picture = manager.chat[-2:]
    assert digest.text == "本周摘要"
    assert picture.kind == "photo" and picture.file is not None and picture.file.data == week_chart()


@pytest.fixture
async def browser_chat(db: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with web_chat(db, (*AREAS, WEEK)) as client:
        yield client


@pytest.fixture
def web_person(browser_chat: httpx.AsyncClient) -> Callable[[str], WebPerson]:
    return lambda key: WebPerson(browser_chat, key)


async def test_in_the_browser_the_files_are_links_only_their_owner_can_open(
    browser_chat: httpx.AsyncClient, web_person: Callable[[str], WebPerson]
) -> None:
    response = await browser_chat.post(
        "/api/web/messages", json={"person": "wang.fang", "client_id": "week-0001", "text": "/start week_now"}
    )
    assert response.status_code == 200, response.text
    [reply] = response.json()["replies"]
    assert reply["text"] == "这是本周的数据"
    chart, sheet = reply["files"]
    assert (chart["name"], chart["image"], sheet["name"], sheet["image"]) == ("week.png", True, "tickets.csv", False)

    picture = await browser_chat.get(chart["url"])
    assert (picture.status_code, picture.headers["content-type"], picture.content) == (200, "image/png", week_chart())
    download = await browser_chat.get(sheet["url"])
    assert download.content == SHEET
    assert download.headers["content-disposition"] == "attachment; filename*=UTF-8''tickets.csv"

    # Someone else asking for wang.fang's file by its number gets nothing, as if it did not exist.
    stolen = await browser_chat.get(sheet["url"].replace("person=wang.fang", "person=li.na"))
    assert stolen.status_code == 404

    # A retried POST hands back the same files; nothing is made twice.
    again = await browser_chat.post(
        "/api/web/messages", json={"person": "wang.fang", "client_id": "week-0001", "text": "/start week_now"}
    )
    assert again.json()["replies"][0]["files"] == [chart, sheet]
