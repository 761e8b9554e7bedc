"""Issue 18's acceptance, against the real `houqin run` with FEISHU_* pointing at the fake Open
Platform: a repair from an encrypted, signed /repair message through card presses to a ticket
number, and forged requests changing nothing — in webhook mode, then over the long connection
(the process's own lark-oapi ws.Client dialling the fake's WebSocket)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from storage.db import Database
from storage.models import Ticket
from tests.dialog.feishu_person import FeishuPerson, FeishuWorld, event_payload
from tests.fakes.feishu_api import ENCRYPT_KEY, VERIFICATION_TOKEN, FakeFeishu, encrypted, signed
from tests.reliability.harness import Launch, footprint_of, start_webhook, wait_until

pytestmark = pytest.mark.reliability

TICKET = re.compile(r"R-\d{4}-\d{6}")


def feishu_env(db: Database, api: FakeFeishu, mode: str) -> dict[str, str]:
    env = {
        "DATABASE_URL": db.url,
        "FEISHU_APP_ID": api.app_id,
        "FEISHU_APP_SECRET": api.app_secret,
        "FEISHU_MODE": mode,
        "FEISHU_API_BASE_URL": api.base_url,
        "FEISHU_DIRECTORY_SYNC": "false",
        "WEB_ENABLED": "false",
        "ACCESS_POLICY": "open",
    }
    if mode == "webhook":
        env |= {"FEISHU_ENCRYPT_KEY": ENCRYPT_KEY, "FEISHU_VERIFICATION_TOKEN": VERIFICATION_TOKEN}
    return env


@pytest.fixture
async def feishu_api() -> AsyncIterator[FakeFeishu]:
    async with FakeFeishu() as api:
        yield api


async def a_repair(world: FeishuWorld) -> str:
    wang = FeishuPerson.of(world, "ou_wang", "小王")
    await wang.writes("/repair")
    assert wang.said == "需要维修的是哪一类？"
    for label in ("给排水", "教学楼", "301 三楼卫生间"):
        await wang.presses(label)
    assert wang.latest("需要维修的是哪一类？").labels == []  # redrawn by the answer to the press
    await wang.writes("洗手池水龙头关不紧，一直滴水")
    await wang.presses("跳过")
    await wang.presses("一般")
    await wang.presses("✔ 提交")
    number = TICKET.search(wang.latest("报修已提交").shown)
    assert number is not None, wang.said
    async with world.db.unit_of_work() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == number.group()))
    assert ticket is not None and ticket.channel == "feishu"
    return number.group()


async def test_webhook_mode_from_a_signed_repair_message_to_a_ticket_and_forgeries_change_nothing(
    db: Database, http: httpx.AsyncClient, launch: Launch, feishu_api: FakeFeishu
) -> None:
    houqin = launch("houqin-feishu", feishu_env(db, feishu_api, "webhook"))
    await start_webhook(houqin, http)
    url = f"{houqin.base_url}/feishu/events"
    message = {
        "sender": {"sender_id": {"open_id": "ou_mallory"}, "sender_type": "user"},
        "message": {"message_id": "om_x", "chat_type": "p2p", "message_type": "text", "content": '{"text":"/repair"}'},
    }
    body = encrypted(event_payload("im.message.receive_v1", message))
    forged = {
        "a signature of another key": signed(body, encrypt_key="guessed"),
        "six minutes old": signed(body, age=6 * 60),
        "no signature": {"Content-Type": "application/json"},
    }
    before = await footprint_of(db, "feishu")
    for what, headers in forged.items():
        answer = await http.post(url, content=body, headers=headers)
        assert answer.status_code == 401, what
    assert await footprint_of(db, "feishu") == before
    assert feishu_api.chat_of("ou_mallory") == [] and feishu_api.called("POST /open-apis/im") == 0

    async with httpx.AsyncClient(base_url=houqin.base_url, trust_env=False) as client:
        await a_repair(FeishuWorld(feishu_api, None, db, client))
    await houqin.stop()


async def test_long_connection_from_a_repair_message_to_a_ticket(
    db: Database, launch: Launch, feishu_api: FakeFeishu
) -> None:
    houqin = launch("houqin-feishu-ws", feishu_env(db, feishu_api, "long_connection"))
    houqin.start()
    await wait_until(lambda: feishu_api.connected.is_set(), 60, "the long connection", alive=houqin.death)
    await a_repair(FeishuWorld(feishu_api, None, db))
    await houqin.stop()


async def test_two_processes_share_the_long_connection_events_in_turn(
    db: Database, launch: Launch, feishu_api: FakeFeishu
) -> None:
    """Feishu's cluster mode: each of two `houqin run` processes holds a connection and each event goes
    to one of them (here in turn), so one person's conversation moves between them mid-flow: the
    dialog lives in the database, and a card is redrawn by whichever process its press reaches."""
    first = launch("houqin-feishu-a", feishu_env(db, feishu_api, "long_connection"))
    second = launch("houqin-feishu-b", feishu_env(db, feishu_api, "long_connection"))
    first.start()
    second.start()
    await wait_until(lambda: len(feishu_api.sockets) == 2, 60, "two long connections", alive=first.death)
    world = FeishuWorld(feishu_api, None, db)
    number = await a_repair(world)
    assert feishu_api.pushed >= 8  # every step of the repair, alternating between the two
    async with db.unit_of_work() as session:
        tickets = (await session.scalars(select(Ticket))).all()
    assert [ticket.number for ticket in tickets] == [number]
    await first.stop()
    await second.stop()
