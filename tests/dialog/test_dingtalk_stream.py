"""Stream mode, end to end through the official SDK: dingtalk-stream's own client opens its
connection at the fake DingTalk (POST /v1.0/gateway/connections/open with the app's credentials,
an endpoint and a ticket back), dials the WebSocket, and the fake pushes the robot's messages as
CALLBACK frames on the chatbot topic and the organisation's events as EVENT frames; every frame is
acknowledged (code 200, the frame's messageId) once the channel has taken it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import select

from bot.service import build_service
from storage.db import Database
from storage.models import Person, Ticket
from tests.dialog.chat_person import report_leak
from tests.dialog.conftest import dingtalk_settings, dingtalk_world_for
from tests.dialog.dingtalk_person import DingTalkPerson, DingTalkWorld
from tests.dialog.telegram_person import PNG_BYTES
from tests.fakes.dingtalk_api import FakeDingTalk

TICKET = re.compile(r"R-\d{4}-\d{6}")


@pytest.fixture
async def stream_world(db: Database, dingtalk_api: FakeDingTalk) -> AsyncIterator[DingTalkWorld]:
    """Houqin with DINGTALK_MODE=stream (the default), members from the directory."""
    settings = dingtalk_settings(db, dingtalk_api, dingtalk_mode="stream", access_policy="directory")
    async for world in dingtalk_world_for(build_service(settings), dingtalk_api, db):
        yield world


@pytest.fixture
def stream_user(stream_world: DingTalkWorld) -> Callable[..., DingTalkPerson]:
    return lambda user_id, name: DingTalkPerson.of(stream_world, user_id, name)


async def test_the_sdk_opens_its_connection_with_the_apps_credentials(stream_world: DingTalkWorld) -> None:
    assert stream_world.http is None and stream_world.channel.label == "dingtalk (stream)"
    assert stream_world.api.called("/v1.0/gateway/connections/open") == 1
    # The ticket was used once, to dial the endpoint it came with.
    assert stream_world.api.tickets == set()


async def test_a_repair_over_the_stream_from_a_typed_command_to_a_ticket_number(
    db: Database, stream_world: DingTalkWorld, stream_user: Callable[..., DingTalkPerson]
) -> None:
    li = stream_user("staff_li", "小李")
    answer = await li.writes("/repair")
    # The SDK's acknowledgement of the frame: 200, for that frame.
    ack = stream_world.api.acks[-1]
    assert answer.status == 200 and ack["code"] == 200 and ack["headers"]["messageId"].startswith("frame-")
    assert li.said == "需要维修的是哪一类？"
    await li.presses("给排水")
    await li.presses("教学楼")
    await li.presses("301 三楼卫生间")
    await li.writes("洗手池水龙头关不紧，一直滴水")
    await li.sends_image(PNG_BYTES)
    assert li.said.startswith("已收到 1 张照片")
    await li.presses("完成")
    await li.presses("一般")
    await li.presses("✔ 提交")
    number = TICKET.search(li.latest("报修已提交").shown)
    assert number is not None
    async with db.unit_of_work() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == number.group()))
        assert ticket is not None and ticket.channel == "dingtalk" and len(ticket.photos) == 1


async def test_a_frame_delivered_again_is_acknowledged_and_handled_once(
    stream_world: DingTalkWorld, stream_user: Callable[..., DingTalkPerson]
) -> None:
    wang = stream_user("staff_wang", "小王")
    await wang.writes("/repair", msg_id="msgSTREAMED")
    said = [m.shown for m in wang.chat]
    again = await wang.writes("/repair", msg_id="msgSTREAMED")
    assert again.status == 200 and [m.shown for m in wang.chat] == said


async def test_a_person_who_leaves_the_organisation_leaves_houqin(
    db: Database, stream_world: DingTalkWorld, stream_user: Callable[..., DingTalkPerson]
) -> None:
    zhao = stream_user("staff_zhao", "赵敏")
    await report_leak(zhao)
    ack = await stream_world.api.push(
        "EVENT",
        "user_leave_org",
        {"userId": ["staff_zhao"], "eventId": "ev-leave-1"},
        {"eventType": "user_leave_org", "eventId": "ev-leave-1", "eventCorpId": "ding-corp", "eventBornTime": "1"},
    )
    assert ack["code"] == 200
    await stream_world.settle()
    async with db.unit_of_work() as session:
        person = await session.scalar(select(Person).where(Person.display_name == "赵敏"))
        assert person is not None and person.left_at is not None
    # Writing again, they are turned away at the door.
    await zhao.writes("/repair")
    assert "需要维修的是哪一类？" not in zhao.said
