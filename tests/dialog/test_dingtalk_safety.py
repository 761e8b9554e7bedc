"""What DingTalk (or someone pretending to be it) can throw at /dingtalk/events: a forged signature,
another app's, a timestamp more than an hour old, no signature at all, a message delivered twice,
a group chat, someone of another organisation — and a storm of "too fast" answers while notices go out."""

from __future__ import annotations

import json
from collections.abc import Callable

from sqlalchemy import func, select

from storage.db import Database
from storage.models import ChannelAccount, DialogState, OutboxMessage, ProcessedDelivery
from tests.dialog.chat_person import linked, report_leak
from tests.dialog.dingtalk_person import DingTalkPerson, DingTalkWorld
from tests.fakes.dingtalk_api import signed


async def deliveries(db: Database) -> int:
    async with db.unit_of_work() as session:
        return int(await session.scalar(select(func.count()).select_from(ProcessedDelivery)) or 0)


async def accounts(db: Database) -> int:
    async with db.unit_of_work() as session:
        return int(await session.scalar(select(func.count()).select_from(ChannelAccount)) or 0)


async def test_forged_stale_and_unsigned_requests_change_nothing(
    db: Database, dingtalk_world: DingTalkWorld, dingtalk_user: Callable[..., DingTalkPerson]
) -> None:
    mallory = dingtalk_user("staff_mallory", "某人")
    http = dingtalk_world.http
    assert http is not None
    before = await deliveries(db), await accounts(db)
    body = json.dumps(mallory.message("text", {"text": {"content": "/repair"}})).encode()

    forged = signed() | {"sign": "AAAA" + signed()["sign"][4:]}
    assert (await http.post("/dingtalk/events", content=body, headers=forged)).status_code == 401
    other_app = signed(secret="another-apps-secret")
    assert (await http.post("/dingtalk/events", content=body, headers=other_app)).status_code == 401
    # Signed as DingTalk would have, an hour and a minute ago: a replay.
    stale = signed(age=61 * 60)
    assert (await http.post("/dingtalk/events", content=body, headers=stale)).status_code == 401
    unsigned = {"Content-Type": "application/json"}
    assert (await http.post("/dingtalk/events", content=body, headers=unsigned)).status_code == 401
    garbled = signed() | {"timestamp": "yesterday"}
    assert (await http.post("/dingtalk/events", content=body, headers=garbled)).status_code == 400
    assert (await http.post("/dingtalk/events", content=b"{", headers=signed())).status_code == 400

    await dingtalk_world.settle()
    assert (await deliveries(db), await accounts(db)) == before
    assert mallory.chat == [] and dingtalk_world.api.called("/v1.0/oauth2/accessToken") == 0


async def test_a_message_signed_fifty_nine_minutes_ago_is_still_dingtalks(
    dingtalk_world: DingTalkWorld, dingtalk_user: Callable[..., DingTalkPerson]
) -> None:
    li = dingtalk_user("staff_li", "小李")
    answer = await dingtalk_world.deliver(li.message("text", {"text": {"content": "帮助"}}), age=59 * 60)
    assert answer.status == 200
    assert "/repair" in li.said


async def test_a_message_delivered_twice_is_handled_once(
    db: Database, dingtalk_user: Callable[..., DingTalkPerson]
) -> None:
    wang = dingtalk_user("staff_wang", "小王")
    await wang.writes("/repair", msg_id="msgREPEATED")
    said = [m.shown for m in wang.chat]
    # DingTalk saw no answer in time and delivers the same message again.
    again = await wang.writes("/repair", msg_id="msgREPEATED")
    assert again.status == 200
    assert [m.shown for m in wang.chat] == said
    # A button's answer delivered twice: one choice, one next question.
    answer = wang.button("给排水")
    await wang.writes(answer, msg_id="msgPRESS")
    asked = len(wang.chat)
    await wang.writes(answer, msg_id="msgPRESS")
    assert len(wang.chat) == asked and wang.said == "在哪栋楼？"
    async with db.unit_of_work() as session:
        [state] = (await session.scalars(select(DialogState))).all()
        assert (state.flow, state.step) == ("repair", "location")


async def test_group_chats_and_other_organisations_are_not_houqins(
    db: Database, dingtalk_world: DingTalkWorld, dingtalk_user: Callable[..., DingTalkPerson]
) -> None:
    zhou = dingtalk_user("staff_zhou", "周")
    before = await accounts(db)
    in_a_group = zhou.message("text", {"text": {"content": "/repair"}}) | {"conversationType": "2"}
    assert (await dingtalk_world.deliver(in_a_group, settle=False)).status == 200
    elsewhere = zhou.message("text", {"text": {"content": "/repair"}}) | {"senderCorpId": "ding-another-corp"}
    assert (await dingtalk_world.deliver(elsewhere, settle=False)).status == 200
    await dingtalk_world.settle()  # taken and dropped: no delivery is kept for either
    assert zhou.chat == [] and await accounts(db) == before


async def test_a_storm_of_too_fast_answers_holds_the_person_and_every_notice_still_arrives(
    db: Database, dingtalk_world: DingTalkWorld, dingtalk_user: Callable[..., DingTalkPerson]
) -> None:
    admin, sun, wang = (
        dingtalk_user("admin01", "管理员"),
        dingtalk_user("staff_sun", "孙强"),
        dingtalk_user("staff_wang", "小王"),
    )
    await linked(admin, sun, "sun.qiang")
    dingtalk_world.api.limit("staff_sun", 3)
    number = await report_leak(wang)
    # DingTalk said Forbidden.AccessDenied.QpsLimitForApi three times; the pacer held the
    # technician and tried again, and the card arrived once.
    assert dingtalk_world.api.rate_limited_answers == 3
    [card] = [m for m in sun.chat if number in m.shown]
    assert "状态：已分派" in card.shown
    async with db.unit_of_work() as session:
        unsent = await session.scalars(select(OutboxMessage).where(OutboxMessage.sent_at.is_(None)))
        assert list(unsent) == []
