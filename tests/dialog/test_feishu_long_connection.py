"""The long connection (FEISHU_MODE=long_connection, the default): lark-oapi's own ws.Client asks
the fake Open Platform for its endpoint, dials its WebSocket, and takes events and card callbacks as
protobuf frames, as from Feishu; Houqin's answers go back on the same socket."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from bot.service import build_service
from storage.db import Database
from storage.models import Ticket
from tests.dialog.conftest import feishu_settings, feishu_world_for
from tests.dialog.feishu_person import FeishuPerson, FeishuWorld
from tests.fakes.feishu_api import FakeFeishu

TICKET = re.compile(r"R-\d{4}-\d{6}")


@pytest.fixture
async def connected(db: Database, feishu_api: FakeFeishu) -> AsyncIterator[FeishuWorld]:
    """Houqin as `houqin run` starts it with only the app's id and secret: no route, a connection."""
    settings = feishu_settings(
        db, feishu_api, feishu_mode="long_connection", feishu_encrypt_key=None, feishu_verification_token=None
    )
    service = build_service(settings)
    assert [route for channel in service.channels for route in channel.routes()] == []
    async for world in feishu_world_for(service, feishu_api, db):
        yield world


async def test_a_repair_over_the_long_connection_to_a_ticket_number(db: Database, connected: FeishuWorld) -> None:
    assert connected.api.called("POST /callback/ws/endpoint") == 1
    wang = FeishuPerson.of(connected, "ou_wang", "小王")
    await wang.writes("/repair", event_id="ev_over_ws")
    assert wang.said == "需要维修的是哪一类？"
    answered = await wang.presses("给排水")
    # The card callback's answer came back over the socket: the pressed card redrawn with the choice.
    assert (
        answered.status == 200 and answered.body["card"]["data"]["body"]["elements"][1]["text"]["content"] == "→ 给排水"
    )
    assert wang.latest("需要维修的是哪一类？").labels == []
    for label in ("教学楼", "301 三楼卫生间"):
        await wang.presses(label)
    await wang.writes("洗手池水龙头关不紧，一直滴水")
    await wang.presses("跳过")
    await wang.presses("一般")
    await wang.presses("✔ 提交")
    number = TICKET.search(wang.latest("报修已提交").shown)
    assert number is not None

    # Feishu delivers an event again (cluster mode, a reconnect): handled once.
    said = len(wang.chat)
    await wang.writes("/repair", event_id="ev_over_ws")
    assert len(wang.chat) == said
    async with db.unit_of_work() as session:
        [ticket] = (await session.scalars(select(Ticket))).all()
        assert ticket.number == number.group() and ticket.channel == "feishu"
