"""Leaving and coming back, in the demo's browser chat under ACCESS_POLICY=invite: /org leave hands on
what the leaver held (tickets to the queue, approvals to the next approver, their requisitions
cancelled with the stock released), turns their accounts away at once, and /org rejoin lets them in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from bot.app import create_app
from bot.service import build_service
from bot.settings import load_settings
from handlers.core.people import people_with_role
from handlers.digest import send as digest
from storage.db import Database
from storage.models import ApprovalDelegation, Ticket, utcnow
from tests.dialog.membership import JOIN_ZH, NOT_MEMBER_ZH, audit_actions, markers_requested
from tests.dialog.web_person import WebPerson
from tests.supplies import notices_to, requisition, stock_of
from tests.tickets import ticket_in_room_201


@pytest.fixture
async def office(db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """The demo's browser chat, members only."""
    settings = load_settings(
        database_url=db.url, demo_mode=True, web_enabled=True, telegram_bot_token="", access_policy="invite"
    )
    service = build_service(settings)
    transport = httpx.ASGITransport(app=create_app(service))
    async with httpx.AsyncClient(transport=transport, base_url="http://houqin.test") as client:
        yield client
    await service.db.dispose()


async def test_a_leaver_hands_everything_on_is_turned_away_and_rejoins(db: Database, office: httpx.AsyncClient) -> None:
    admin, zhao, chen = (WebPerson(office, key) for key in ("admin", "zhao.lei", "chen.jing"))
    now = utcnow()
    ticket = await ticket_in_room_201(db, status="accepted", created=now, due=now + timedelta(hours=24))
    # 赵磊 (a technician) works on a ticket and has asked for markers; 陈静's request waits for 马红.
    theirs = await markers_requested(zhao, "6")
    waiting = await markers_requested(chen, "2")
    # 马红 has 刘洋 approve for her today.
    today = now.astimezone(ZoneInfo("Asia/Shanghai")).date()
    assert "刘洋" in await WebPerson(office, "ma.hong").says(f"/delegate @liu.yang {today.isoformat()}")
    assert await stock_of(db, "MARKER-WB") == (60, 8)
    await zhao.says("/repair")  # and is in the middle of reporting something
    assert "赵磊 已离开" in await admin.says("/org leave @zhao.lei 调往外单位")
    # The ticket is back in the queue, unassigned and new; the logistics admins see it waiting.
    async with db.unit_of_work() as session:
        found = await session.get(Ticket, ticket.id)
        assert found is not None and (found.status, found.assignee_id) == ("new", None)
    assert await notices_to(db, "lin.hua", "ticket.card")
    # Their own requisition is cancelled and its markers are back on the shelf.
    assert (await requisition(db, theirs)).status == "cancelled"
    assert await stock_of(db, "MARKER-WB") == (60, 2)
    # Their account is turned away at once, whatever it sends, an old button too.
    said = await zhao.says("/my")
    assert NOT_MEMBER_ZH in said and said.labels == [JOIN_ZH]
    assert NOT_MEMBER_ZH in await zhao.presses_payload(f"tk:{ticket.id}:start")
    assert [row[2] for row in await audit_actions(db, "member.turned_away")] == ["refused", "refused"]
    # 马红 leaves: 陈静's request goes on to the next approver, the logistics admins.
    assert "马红 已离开" in await admin.says("/org leave @ma.hong")
    assert (await requisition(db, waiting)).status == "pending_admin"
    async with db.unit_of_work() as session:
        delegation = await session.scalar(select(ApprovalDelegation))
        assert delegation is not None and delegation.ends_on < today  # her stand-in stands in for nobody
    assert await notices_to(db, "lin.hua", waiting)
    # Nobody's request was touched but theirs; 陈静's own stays reserved.
    assert await stock_of(db, "MARKER-WB") == (60, 2)
    # Admins only, and not twice.
    assert "办理人员离开或恢复" in await WebPerson(office, "lin.hua").says("/org leave @wang.fang")
    assert "已离开本单位" in await admin.says("/org leave @zhao.lei")
    # Back again: the account works; nothing else came back by itself.
    assert "赵磊 已恢复为成员" in await admin.says("/org rejoin @zhao.lei")
    assert "赵磊" in await zhao.says("/start")  # afresh: what he was in the middle of was dropped
    async with db.unit_of_work() as session:
        found = await session.get(Ticket, ticket.id)
        assert found is not None and found.assignee_id is None
    assert [action for action, _, outcome in await audit_actions(db, "org.leave", "org.rejoin") if outcome == "ok"] == [
        "org.leave",
        "org.leave",
        "org.rejoin",
    ]


async def test_a_leaver_hears_no_broadcast_and_is_not_counted(db: Database, office: httpx.AsyncClient) -> None:
    admin = WebPerson(office, "admin")
    await admin.says("/org leave @wang.fang")
    await admin.says("/broadcast finance 明天停电")
    sent = await admin.presses("✔")
    assert "明天停电" not in str(await notices_to(db, "wang.fang")), sent.texts
    assert await notices_to(db, "li.na", "明天停电")


async def test_a_leaver_is_not_in_a_surveys_audience(office: httpx.AsyncClient) -> None:
    admin = WebPerson(office, "admin")
    await admin.says("/org leave @chen.jing")
    await admin.says("/survey import cleaning")
    launched = await admin.says("/survey launch 1 dept:teaching 3")
    assert "共 2 人，其中 2 人现在能收到邀请" in launched.text, launched.texts  # 刘洋 and 马红, not 陈静


async def test_a_leaver_gets_no_digest_and_no_work(db: Database, office: httpx.AsyncClient) -> None:
    admin = WebPerson(office, "admin")
    await admin.says("/org leave @huang.li")
    await admin.says("/org leave @zhao.lei")
    async with db.unit_of_work() as session:
        readers = {recipient.name for recipient in await digest.recipients(session)}
        technicians = {person.display_name for person in await people_with_role(session, "technician")}
    assert "黄丽" not in readers and {"徐明", "林华", "系统管理员 Admin"} <= readers
    assert "赵磊" not in technicians and "孙强" in technicians
