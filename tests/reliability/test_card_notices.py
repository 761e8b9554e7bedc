"""A technician's card must end up showing the ticket as it is now, whatever the timing of its notices.

Both tests make one timing happen on purpose (a slow edit of the pressed card, a flood-control wait) that the
scenarios hit only by chance, with one `houqin run` in webhook mode and a Telegram electrician.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from starlette.responses import JSONResponse, Response

from handlers.core.i18n import translate
from storage.db import Database
from tests.fakes.telegram_api import FakeMessage, FakeUser, JSONDict
from tests.reliability.conftest import Variant
from tests.reliability.harness import (
    ApiCall,
    HarnessError,
    HouqinProcess,
    Launch,
    ObservedBotAPI,
    WebhookTransport,
    make_technicians,
    reader_engine,
    start_webhook,
    wait_drained,
    wait_until,
    webhook_env,
)
from tests.reliability.people import ACCEPT, RETIRED, START, ScriptedPerson, make_plan

pytestmark = pytest.mark.reliability

ACCEPTED = "状态：" + translate("zh_CN", "repair.status.accepted")
CANCELLED = "状态：" + translate("zh_CN", "repair.status.cancelled")
CANCEL = translate("zh_CN", "ticket.button.cancel")


@dataclass
class Shop:
    """One Houqin, an electrician on Telegram, and a way to file a repair he gets."""

    api: ObservedBotAPI
    houqin: HouqinProcess
    transport: WebhookTransport
    electrician: FakeUser
    db: Database
    variant: Variant

    async def exchange(self, update: JSONDict) -> None:
        if not await self.transport.exchange(update):
            raise HarnessError(f"update {update['update_id']} was never answered 200")

    async def file_repair(self, reporter: ScriptedPerson) -> str:
        plan = make_plan(self.variant.rng("plan"), reporter.user.first_name, 1, ("electrical",))
        conversation = await reporter.converse(plan, time.monotonic() + 30)
        if conversation.number is None:
            raise HarnessError("the repair was not filed")
        return conversation.number

    def cards(self, number: str) -> list[FakeMessage]:
        return [m for m in self.api.messages(self.electrician.chat_id) if (m.text or "").startswith(f"🔧 {number} ")]


@pytest.fixture
async def shop(
    db: Database, observed_api: ObservedBotAPI, http: httpx.AsyncClient, launch: Launch, variant: Variant
) -> AsyncIterator[Shop]:
    houqin = launch("houqin", webhook_env(db.url, observed_api))
    await start_webhook(houqin, http)
    try:
        transport = WebhookTransport(http, observed_api, [houqin], variant.rng("transport"))
        shop = Shop(observed_api, houqin, transport, observed_api.user(8201, "电工"), db, variant)
        await shop.exchange(shop.electrician.send_text("/start"))
        await make_technicians(db, {shop.electrician: "electrical"}, ["electrical"])
        yield shop
    finally:
        await houqin.stop()


def pressable(message: FakeMessage) -> list[str]:
    return [str(b["text"]) for b in message.buttons]


async def test_a_card_shows_its_new_version_after_the_press_that_changed_it(shop: Shop) -> None:
    api = shop.api
    outbox = reader_engine(shop.db.url)
    try:
        number = await shop.file_repair(ScriptedPerson(api, api.user(8202, "报修人"), shop.transport))
        await wait_drained(outbox)
        [card] = shop.cards(number)
        press = shop.electrician.press(
            card.message_id, next(str(b["callback_data"]) for b in card.buttons if b["text"] == ACCEPT)
        )

        def new_version_sent() -> bool:
            return any(
                name == "editMessageText"
                and str(params.get("message_id")) == str(card.message_id)
                and RETIRED not in str(params.get("text"))
                for name, params in api.calls
            )

        async def retire_late(call: ApiCall) -> Response | None:
            # Telegram is slow with an edit that would retire the pressed card's buttons; meanwhile the
            # outbox sender's poll comes round with the card's new version. (The press itself is
            # answered in the webhook's response: nothing else of the press's can be slow.)
            retiring = (call.method == "editMessageText" and RETIRED in str(call.params.get("text"))) or (
                call.method == "editMessageReplyMarkup"
            )
            if retiring and str(call.params.get("message_id")) == str(card.message_id):
                with contextlib.suppress(HarnessError):
                    await wait_until(new_version_sent, 5, "the card's new version")
            return None

        api.before.append(retire_late)
        await shop.exchange(press)
        await wait_drained(outbox)
    finally:
        await outbox.dispose()
    assert ACCEPTED in (card.text or "") and START in pressable(card), (
        f"the card reads {card.text!r} with {pressable(card)}"
    )


async def test_a_card_delayed_by_flood_control_does_not_overwrite_its_newer_version(shop: Shop) -> None:
    api = shop.api
    limited = True

    async def flood_control_once(call: ApiCall) -> Response | None:
        # The electrician's chat is over Telegram's limit once: the card's first version must wait 2 s.
        nonlocal limited
        if limited and call.method == "sendMessage" and call.chat_id == shop.electrician.chat_id:
            limited = False
            body = {
                "ok": False,
                "error_code": 429,
                "description": "Too Many Requests: retry after 2",
                "parameters": {"retry_after": 2},
            }
            return JSONResponse(body, status_code=429)
        return None

    outbox = reader_engine(shop.db.url)
    api.before.append(flood_control_once)
    try:
        reporter = ScriptedPerson(api, api.user(8203, "报修人"), shop.transport)
        number = await shop.file_repair(reporter)
        await wait_until(lambda: not limited, 10, "the card's first send")
        # While the card waits, the reporter withdraws the repair: the card's next version says so.
        await shop.exchange(reporter.user.send_text(f"/ticket {number}"))
        [view] = [m for m in api.messages(reporter.user.chat_id) if CANCEL in pressable(m)]
        withdraw = next(str(b["callback_data"]) for b in view.buttons if b["text"] == CANCEL)
        await shop.exchange(reporter.user.press(view.message_id, withdraw))
        await wait_drained(outbox)
    finally:
        await outbox.dispose()
    cards = shop.cards(number)
    shown = [(card.text, pressable(card)) for card in cards]
    assert len(cards) == 1 and CANCELLED in (cards[0].text or "") and not cards[0].buttons, shown
