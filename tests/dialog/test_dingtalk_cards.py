"""Interactive cards from a template (DINGTALK_CARD_TEMPLATE_ID, stream mode): each question a card
created and delivered to the person's chat with the robot (card/instances/createAndDeliver), its
buttons calling back over the stream's card topic; the answer redraws the pressed card (the choice,
no buttons), and a ticket's card is updated in place (PUT card/instances) as it moves."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import select

from bot.service import build_service
from storage.db import Database
from storage.models import Ticket
from tests.dialog.chat_person import linked, report_leak
from tests.dialog.conftest import dingtalk_settings, dingtalk_world_for
from tests.dialog.dingtalk_person import DingTalkPerson, DingTalkWorld
from tests.fakes.dingtalk_api import CARD, FakeDingTalk

TICKET = re.compile(r"R-\d{4}-\d{6}")
TEMPLATE = "houqin-step.schema"


@pytest.fixture
async def card_world(db: Database, dingtalk_api: FakeDingTalk) -> AsyncIterator[DingTalkWorld]:
    settings = dingtalk_settings(db, dingtalk_api, dingtalk_mode="stream", dingtalk_card_template_id=TEMPLATE)
    async for world in dingtalk_world_for(build_service(settings), dingtalk_api, db):
        yield world


@pytest.fixture
def card_user(card_world: DingTalkWorld) -> Callable[..., DingTalkPerson]:
    return lambda user_id, name: DingTalkPerson.of(card_world, user_id, name)


async def test_a_repair_on_cards_each_pressed_card_redrawn_with_the_choice(
    db: Database, card_world: DingTalkWorld, card_user: Callable[..., DingTalkPerson]
) -> None:
    li = card_user("staff_li", "小李")
    await li.writes("/repair")
    question = li.chat[-1]
    assert question.msg_key == CARD and question.param["template"] == TEMPLATE
    assert li.said == "需要维修的是哪一类？" and "给排水" in question.labels

    pressed = await li.presses("给排水")
    # DingTalk applied the acknowledgement to the card: the question, the choice, no buttons.
    assert pressed.body["cardData"]["cardParamMap"]["buttons"] == "[]"
    assert question.shown == "需要维修的是哪一类？\n→ 给排水" and question.labels == []
    assert li.said == "在哪栋楼？"
    await li.presses("教学楼")
    await li.presses("301 三楼卫生间")
    await li.writes("洗手池水龙头关不紧，一直滴水")
    await li.presses("跳过")
    await li.presses("一般")
    await li.presses("✔ 提交")
    number = TICKET.search(li.latest("报修已提交").shown)
    assert number is not None
    async with db.unit_of_work() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == number.group()))
        assert ticket is not None and ticket.channel == "dingtalk"


async def test_the_technicians_card_is_updated_in_place_as_the_ticket_moves(
    card_world: DingTalkWorld, card_user: Callable[..., DingTalkPerson]
) -> None:
    admin, sun, wang = card_user("admin01", "管理员"), card_user("staff_sun", "孙强"), card_user("staff_wang", "小王")
    await linked(admin, sun, "sun.qiang")
    number = await report_leak(wang)
    card = sun.latest(number)
    assert card.msg_key == CARD and card.labels == ["✔ 接单", "✖ 拒绝", "💬 留言"]

    await sun.presses("✔ 接单")
    # The same card, its variables changed where it is; no second card for the ticket.
    assert "状态：已接单" in card.shown and card.edits >= 1
    assert [m for m in sun.chat if number in m.shown and m is not card] == []
    assert card_world.api.called("/v1.0/card/instances") >= 1


async def test_a_core_slower_than_dingtalk_waits_gets_its_card_updated_afterwards(
    card_world: DingTalkWorld, card_user: Callable[..., DingTalkPerson]
) -> None:
    wang = card_user("staff_wang", "小王")
    await wang.writes("/repair")
    question = wang.chat[-1]
    card_world.channel.ack_within = 0  # this core takes longer than DingTalk waits
    answer = await wang.presses("给排水")
    # Acknowledged at once without the card's new variables; the card is updated when the core is done.
    assert answer.body == {}
    assert question.shown == "需要维修的是哪一类？\n→ 给排水" and question.edits == 1
    assert wang.said == "在哪栋楼？"


async def test_a_retired_cards_button_pressed_anyway_is_stale(card_user: Callable[..., DingTalkPerson]) -> None:
    wang = card_user("staff_wang", "小王")
    await wang.writes("/repair")
    question = wang.chat[-1]
    [payload] = [answer for label, answer in question.buttons if label == "给排水"]
    await wang.presses("给排水")
    asked = len(wang.chat)
    # The pressed card has no buttons left; a callback for one anyway (a client that kept the old
    # card) is answered as stale, and nothing moves.
    question.param["buttons"] = f'[{{"text": "给排水", "payload": "{payload}"}}]'
    await wang.presses("给排水", question)
    assert wang.chat[asked].shown == "这个按钮已经过期了，请使用最新消息中的按钮。"
    assert wang.said == "在哪栋楼？"
