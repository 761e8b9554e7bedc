"""Issue 19's acceptance, against the real `houqin run` with DINGTALK_* pointing at the fake
DingTalk: a repair from a signed /repair message through the robot's buttons to a ticket number,
and forged or stale requests changing nothing — in webhook mode, then in stream mode (the process's
own dingtalk-stream client opening its connection at the fake and taking frames over its WebSocket)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from storage.db import Database
from storage.models import Ticket
from tests.dialog.chat_person import report_leak
from tests.dialog.dingtalk_person import DingTalkPerson, DingTalkWorld
from tests.fakes.dingtalk_api import FakeDingTalk, signed
from tests.reliability.harness import Launch, footprint_of, start_webhook, wait_until

pytestmark = pytest.mark.reliability


def dingtalk_env(db: Database, api: FakeDingTalk, mode: str) -> dict[str, str]:
    return {
        "DATABASE_URL": db.url,
        "DINGTALK_CLIENT_ID": api.client_id,
        "DINGTALK_CLIENT_SECRET": api.client_secret,
        "DINGTALK_MODE": mode,
        "DINGTALK_API_BASE_URL": api.base_url,
        "DINGTALK_DIRECTORY_SYNC": "false",
        "WEB_ENABLED": "false",
        "ACCESS_POLICY": "open",
    }


@pytest.fixture
async def dingtalk_api() -> AsyncIterator[FakeDingTalk]:
    async with FakeDingTalk() as api:
        yield api


async def a_repair(world: DingTalkWorld) -> str:
    """A leak reported from a typed command through the robot's buttons to its ticket number."""
    number = await report_leak(DingTalkPerson.of(world, "staff_wang", "小王"))
    async with world.db.unit_of_work() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == number))
    assert ticket is not None and ticket.channel == "dingtalk"
    return number


async def test_webhook_mode_from_a_signed_repair_message_to_a_ticket_and_forgeries_change_nothing(
    db: Database, http: httpx.AsyncClient, launch: Launch, dingtalk_api: FakeDingTalk
) -> None:
    houqin = launch("houqin-dingtalk", dingtalk_env(db, dingtalk_api, "webhook"))
    await start_webhook(houqin, http)
    url = f"{houqin.base_url}/dingtalk/events"
    mallory = DingTalkPerson(DingTalkWorld(dingtalk_api, None, db), "staff_mallory", "某人")
    body = json.dumps(mallory.message("text", {"text": {"content": "/repair"}})).encode()
    forged = {
        "a signature with another secret": signed(secret="guessed"),
        "an hour and a minute old": signed(age=61 * 60),
        "no signature": {"Content-Type": "application/json"},
    }
    before = await footprint_of(db, "dingtalk")
    for what, headers in forged.items():
        answer = await http.post(url, content=body, headers=headers)
        assert answer.status_code == 401, what
    assert await footprint_of(db, "dingtalk") == before
    assert dingtalk_api.chat_of("staff_mallory") == [] and dingtalk_api.called("/v1.0/robot") == 0

    async with httpx.AsyncClient(base_url=houqin.base_url, trust_env=False) as client:
        await a_repair(DingTalkWorld(dingtalk_api, None, db, client))
    await houqin.stop()


async def test_stream_mode_from_a_repair_message_to_a_ticket(
    db: Database, launch: Launch, dingtalk_api: FakeDingTalk
) -> None:
    houqin = launch("houqin-dingtalk-stream", dingtalk_env(db, dingtalk_api, "stream"))
    houqin.start()
    await wait_until(lambda: dingtalk_api.connected.is_set(), 60, "the stream", alive=houqin.death)
    await a_repair(DingTalkWorld(dingtalk_api, None, db))
    assert all(ack["code"] == 200 for ack in dingtalk_api.acks) and len(dingtalk_api.acks) >= 8
    await houqin.stop()
