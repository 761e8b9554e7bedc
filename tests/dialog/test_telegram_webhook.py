"""Webhook mode: updates arrive on Houqin's own ASGI app, guarded by Telegram's secret token."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, select

from bot.app import create_app
from bot.service import Service, build_service
from storage.db import Database
from storage.models import ProcessedDelivery
from tests.dialog.conftest import telegram_settings
from tests.fakes.telegram_api import FakeBotAPI

SECRET = "hq-webhook-secret_2026"
URL = "https://houqin.example.org/telegram/webhook"


@pytest.fixture
async def webhook_service(db: Database, bot_api: FakeBotAPI) -> AsyncIterator[Service]:
    settings = telegram_settings(
        db, bot_api, telegram_mode="webhook", telegram_webhook_url=URL, telegram_webhook_secret=SECRET
    )
    service = build_service(settings)
    await service.start()
    yield service
    await service.stop()


@pytest.fixture
async def houqin_http(webhook_service: Service) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(webhook_service))
    async with httpx.AsyncClient(transport=transport, base_url="http://houqin.test") as client:
        yield client


async def deliveries(db: Database) -> int:
    async with db.unit_of_work() as session:
        return int(await session.scalar(select(func.count()).select_from(ProcessedDelivery)) or 0)


async def test_start_registers_the_webhook_with_its_secret(bot_api: FakeBotAPI, webhook_service: Service) -> None:
    assert bot_api.webhook is not None
    assert bot_api.webhook["url"] == URL and bot_api.webhook["secret_token"] == SECRET
    assert bot_api.calls_to("getUpdates") == []  # no polling in webhook mode


async def test_an_update_with_the_secret_is_handled_before_it_is_acknowledged(
    db: Database, bot_api: FakeBotAPI, houqin_http: httpx.AsyncClient
) -> None:
    update = bot_api.user(2001, "孙").send_text("/start")
    response = await houqin_http.post(
        "/telegram/webhook", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
    )
    assert response.status_code == 200
    # By the time Telegram sees 200, the reply has been sent.
    [welcome] = bot_api.messages(2001)
    assert welcome.text is not None and welcome.text.startswith("你好，孙！")

    again = await houqin_http.post(
        "/telegram/webhook", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
    )
    assert again.status_code == 200 and len(bot_api.messages(2001)) == 1
    assert await deliveries(db) == 1


@pytest.mark.parametrize("secret", [None, "", "wrong-secret", SECRET + "x"])
async def test_a_wrong_or_missing_secret_is_refused_before_any_work(
    db: Database, bot_api: FakeBotAPI, houqin_http: httpx.AsyncClient, secret: str | None
) -> None:
    update = bot_api.user(2002, "Mallory", "en").send_text("/start")
    headers = {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret}
    response = await houqin_http.post("/telegram/webhook", json=update, headers=headers)
    assert response.status_code == 403
    assert bot_api.messages(2002) == [] and await deliveries(db) == 0


async def test_a_body_that_is_not_an_update_is_a_bad_request(houqin_http: httpx.AsyncClient) -> None:
    response = await houqin_http.post(
        "/telegram/webhook", content=b"{not json", headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
    )
    assert response.status_code == 400


async def test_a_failure_is_not_acknowledged_so_telegram_sends_it_again(
    db: Database,
    bot_api: FakeBotAPI,
    webhook_service: Service,
    houqin_http: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    update = bot_api.user(2003, "郑").send_text("/start")
    real_send = webhook_service.houqin.handle

    async def database_went_away(*args: object, **kwargs: object) -> None:
        raise ConnectionError("database went away")

    monkeypatch.setattr(webhook_service.houqin, "handle", database_went_away)
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    failed = await houqin_http.post("/telegram/webhook", json=update, headers=headers)
    assert failed.status_code == 503 and await deliveries(db) == 0  # an outage: not acknowledged

    monkeypatch.setattr(webhook_service.houqin, "handle", real_send)
    retried = await houqin_http.post("/telegram/webhook", json=update, headers=headers)
    assert retried.status_code == 200
    assert len(bot_api.messages(2003)) == 1
    assert await deliveries(db) == 1


@pytest.mark.parametrize("typed", ["/ticket ²", "/ticket 99999999999999999999999"])
async def test_an_odd_reference_is_answered_and_acknowledged(
    db: Database, bot_api: FakeBotAPI, houqin_http: httpx.AsyncClient, typed: str
) -> None:
    """Not a 500, which Telegram would send again and again: the polite answer, and a 200."""
    user = bot_api.user(2004, "冯")
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    response = await houqin_http.post("/telegram/webhook", json=user.send_text(typed), headers=headers)
    assert response.status_code == 200
    [answer] = bot_api.messages(2004)
    assert answer.text == f"找不到报修单 {typed.removeprefix('/ticket ')}。"
    press = user.press(answer.message_id, "tk:²:view", strict=False)
    response = await houqin_http.post("/telegram/webhook", json=press, headers=headers)
    assert response.status_code == 200
    assert bot_api.messages(2004)[-1].text == "这个按钮无效。"
