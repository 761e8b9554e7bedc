"""What WeCom (or someone pretending to be it) can send to /wecom/callback: the URL check, a forged
signature, another corp's message, another key's, a stale one, a replay, WeCom's own retry of a
callback answered too slowly — and a storm of rate limits while notices go out."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from storage.db import Database
from storage.models import ChannelAccount, DialogState, OutboxMessage, ProcessedDelivery, Ticket
from tests.dialog.chat_person import linked, report_leak
from tests.dialog.wecom_person import WeComPerson, WeComWorld, message_fields
from tests.fakes.wecom_api import url_check, xml

OTHER_KEY = "b" * 43


async def nothing_happened(db: Database) -> None:
    async with db.unit_of_work() as session:
        assert await session.scalar(select(func.count()).select_from(ProcessedDelivery)) == 0
        wecom = select(func.count()).select_from(ChannelAccount).where(ChannelAccount.channel == "wecom")
        assert await session.scalar(wecom) == 0


async def test_the_callback_url_is_verified_by_answering_the_decrypted_echostr(wecom_world: WeComWorld) -> None:
    answer = await wecom_world.http.get(f"/wecom/callback?{url_check('5927782489442352469')}")
    assert (answer.status_code, answer.text) == (200, "5927782489442352469")
    forged = await wecom_world.http.get(f"/wecom/callback?{url_check('x', token='guessed')}")
    stale = await wecom_world.http.get(f"/wecom/callback?{url_check('x', age=6 * 60)}")
    assert (forged.status_code, stale.status_code) == (401, 401)


async def test_forged_foreign_and_stale_callbacks_change_nothing(
    db: Database, wecom_world: WeComWorld, wecom_user: Callable[..., WeComPerson]
) -> None:
    mallory = wecom_user("Mallory", "某人")
    repair = message_fields("Mallory", "text", Content="/repair")
    # Signed with a token that is not the app's.
    assert (await wecom_world.deliver(repair, token="guessed")).status_code == 401
    # Sealed for another corp (its id inside the ciphertext and in ToUserName) with this app's key and token.
    assert (await wecom_world.deliver(repair, corp_id="wwanothercorp0000")).status_code == 401
    # Encrypted with another app's key, signed with this one's token.
    assert (await wecom_world.deliver(repair, aes_key=OTHER_KEY)).status_code == 401
    # Sealed as WeCom would have, six minutes ago: a replay.
    assert (await wecom_world.deliver(repair, age=6 * 60)).status_code == 401
    # For another app of the same corp.
    assert (await wecom_world.deliver(repair, agent_id=1000003)).status_code == 403
    # Unsigned, or not WeCom's XML at all.
    plain = xml(repair).encode()
    assert (await wecom_world.http.post("/wecom/callback", content=plain)).status_code == 401
    assert (
        await wecom_world.http.post("/wecom/callback?msg_signature=x&timestamp=1&nonce=1", content=b"<x")
    ).status_code == 401

    await wecom_world.settle()
    await nothing_happened(db)
    assert mallory.chat == [] and wecom_world.api.called("POST /cgi-bin/message/send") == 0


async def test_a_replayed_message_is_handled_once(
    db: Database, wecom_world: WeComWorld, wecom_user: Callable[..., WeComPerson]
) -> None:
    wang = wecom_user("WangXiao", "小王")
    await wang.writes("/repair", msg_id=1234567890123456)
    said = [m.shown for m in wang.chat]
    # The same message again (a replay within the 5 minutes, freshly signed): the same MsgId.
    again = await wang.writes("/repair", msg_id=1234567890123456)
    assert again.status_code == 200 and [m.shown for m in wang.chat] == said
    async with db.unit_of_work() as session:
        [state] = (await session.scalars(select(DialogState))).all()
        assert (state.flow, state.step) == ("repair", "category")

    # A card press delivered twice (the same user, time, task and key): one choice, one next question.
    card = next(m for m in wang.chat if "给排水" in m.labels)
    [plumbing] = [b for b in card.buttons if b["text"] == "给排水"]
    await wang.press(card, str(plumbing["key"]), create_time=1_700_000_000)
    asked = len(wang.chat)
    await wang.press(card, str(plumbing["key"]), create_time=1_700_000_000)
    assert len(wang.chat) == asked and wang.said == "在哪栋楼？"


async def test_a_callback_is_acknowledged_at_once_and_wecoms_retry_after_5_seconds_is_handled_once(
    db: Database, wecom_world: WeComWorld, wecom_user: Callable[..., WeComPerson], monkeypatch: pytest.MonkeyPatch
) -> None:
    wang = wecom_user("WangXiao", "小王")
    core = wecom_world.wecom.houqin
    handle = core.handle
    release = asyncio.Event()

    async def slow(inbound):  # type: ignore[no-untyped-def]
        await release.wait()  # a core slower than WeCom waits
        return await handle(inbound)

    monkeypatch.setattr(core, "handle", slow)
    first = await wecom_world.deliver(message_fields("WangXiao", "text", 99, Content="报修"), settle=False)
    # Answered before the core has done anything: WeCom is not left waiting.
    assert (first.status_code, first.text, wang.chat) == (200, "", [])
    # WeCom heard nothing in 5 s and sends the same message again, while the first is at work.
    retry = await wecom_world.deliver(message_fields("WangXiao", "text", 99, Content="报修"), settle=False)
    assert retry.status_code == 200
    release.set()
    await wecom_world.settle()
    assert wang.said == "需要维修的是哪一类？"
    assert sum(1 for m in wang.chat if m.shown.startswith("开始：报修")) == 1
    async with db.unit_of_work() as session:
        assert await session.scalar(select(func.count()).select_from(ProcessedDelivery)) == 1


async def test_a_forged_button_is_refused_and_creates_nothing(
    db: Database, wecom_user: Callable[..., WeComPerson]
) -> None:
    wang = wecom_user("WangXiao", "小王")
    await wang.writes("帮助")
    await wang.writes("/repair")
    # A key of their own making on their own card: a ticket's Accept they were never offered.
    answer = await wang.press(wang.chat[-1], "tk:1:accept")
    assert answer.status_code == 200
    async with db.unit_of_work() as session:
        assert await session.scalar(select(func.count()).select_from(Ticket)) == 0


@pytest.mark.parametrize("errcode", [45009, 45033])
async def test_a_storm_of_rate_limits_holds_and_every_notice_still_arrives(
    db: Database, wecom_world: WeComWorld, wecom_user: Callable[..., WeComPerson], errcode: int
) -> None:
    admin, sun, wang = wecom_user("admin", "管理员"), wecom_user("SunQiang", "孙强"), wecom_user("WangXiao", "小王")
    await linked(admin, sun, "sun.qiang")
    wecom_world.wecom.rate_limit_wait = {45009: 0.2, 45033: 0.2}  # WeCom's own: a minute, a moment
    wecom_world.api.limit("SunQiang", 3, errcode)
    number = await report_leak(wang)
    # WeCom said too many three times; the technician was held and his card still came.
    assert wecom_world.api.rate_limited_answers == 3
    assert sun.latest(number).labels == ["✔ 接单", "✖ 拒绝", "💬 留言"]
    async with db.unit_of_work() as session:
        unsent = await session.scalars(select(OutboxMessage).where(OutboxMessage.sent_at.is_(None)))
        assert list(unsent) == []


async def test_someone_outside_the_apps_visible_range_is_marked_unreachable(
    db: Database, wecom_world: WeComWorld, wecom_user: Callable[..., WeComPerson]
) -> None:
    admin, sun, wang = wecom_user("admin", "管理员"), wecom_user("SunQiang", "孙强"), wecom_user("WangXiao", "小王")
    await linked(admin, sun, "sun.qiang")
    wecom_world.api.users["SunQiang"].status = 5  # he left the company: WeCom answers 81013
    await report_leak(wang)
    async with db.unit_of_work() as session:
        account = await session.scalar(select(ChannelAccount).where(ChannelAccount.external_id == "SunQiang"))
        assert account is not None and account.unreachable_since is not None
