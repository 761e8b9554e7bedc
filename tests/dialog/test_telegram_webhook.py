"""Webhook mode: updates arrive on Houqin's own ASGI app, guarded by Telegram's secret token."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import func, select
from telegram import CallbackQuery, User

from bot.app import create_app
from bot.channels.telegram.channel import press_answer
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


async def test_a_press_is_answered_in_the_webhooks_response_after_its_replies(
    db: Database, bot_api: FakeBotAPI, houqin_http: httpx.AsyncClient
) -> None:
    """Telegram runs the method a webhook's 200 names: the press's spinner stops without a request of
    Houqin's own, once the next question is in the chat."""
    user = bot_api.user(2005, "韩")
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    typed = await houqin_http.post("/telegram/webhook", json=user.send_text("/repair"), headers=headers)
    assert typed.status_code == 200 and typed.content == b""  # nothing to answer for a message
    question = bot_api.messages(2005)[-1]
    electrical = next(b for b in question.buttons if str(b["text"]).startswith("电"))
    press = user.press(question.message_id, str(electrical["callback_data"]))

    response = await houqin_http.post("/telegram/webhook", json=press, headers=headers)
    assert response.status_code == 200
    query = press["callback_query"]["id"]
    assert response.json() == {"method": "answerCallbackQuery", "callback_query_id": query}
    assert bot_api.calls_to("answerCallbackQuery") == []  # not answered by a request of its own
    assert "楼" in (bot_api.messages(2005)[-1].text or "")  # the next question came before the answer
    bot_api.webhook_answered(response.status_code, response.content)
    assert query in bot_api.callback_answers

    # Sent again (Telegram did not see the 200): the replies are not, the press is answered again.
    sent = len(bot_api.messages(2005))
    again = await houqin_http.post("/telegram/webhook", json=press, headers=headers)
    assert again.json() == {"method": "answerCallbackQuery", "callback_query_id": query}
    assert len(bot_api.messages(2005)) == sent


async def test_a_refused_press_shows_its_refusal_as_the_answers_toast(
    bot_api: FakeBotAPI, houqin_http: httpx.AsyncClient
) -> None:
    user = bot_api.user(2006, "秦")
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    started = await houqin_http.post("/telegram/webhook", json=user.send_text("/start"), headers=headers)
    assert started.status_code == 200
    [greeting] = bot_api.messages(2006)
    forged = user.press(greeting.message_id, "adm:role", strict=False)  # an admin's button, never shown to them
    response = await houqin_http.post("/telegram/webhook", json=forged, headers=headers)
    answer = response.json()
    assert answer["method"] == "answerCallbackQuery" and answer["callback_query_id"] == forged["callback_query"]["id"]
    assert answer["text"].startswith("⛔") and answer["text"] in (bot_api.messages(2006)[-1].text or "")


def test_a_toast_longer_than_telegram_takes_is_cut_to_fit() -> None:
    """Telegram refuses an answer whose text is over 200 characters, and the spinner would turn on."""
    press = CallbackQuery("q1", User(2007, "褚", is_bot=False), "chat-instance")
    assert press_answer(press, "长" * 300) == {"callback_query_id": "q1", "text": "长" * 200}
    assert press_answer(press, None) == {"callback_query_id": "q1"}
