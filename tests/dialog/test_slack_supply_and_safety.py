"""Slack: a requisition through approval, a repair fixed from Telegram, and what Slack itself can
throw at Houqin — bad signatures, old timestamps, retried events, double submissions, forged buttons."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select

from storage.db import Database
from storage.models import AuditEntry, ProcessedDelivery, Requisition, Ticket
from tests.dialog.slack_person import SlackPerson, SlackWorld, signed_headers
from tests.dialog.telegram_person import TelegramPerson
from tests.dialog.test_slack_repair import linked, report_leak
from tests.fakes.telegram_api import FakeBotAPI

REQUISITION = re.compile(r"S-\d{4}-\d{6}")


async def count(db: Database, model: type[Ticket] | type[Requisition]) -> int:
    async with db.unit_of_work() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_batteries_requested_in_a_modal_and_approved_from_a_card(
    db: Database, slack_user: Callable[..., SlackPerson]
) -> None:
    admin, wang, huang = slack_user("UADMIN", "管理员"), slack_user("UWANG", "王芳"), slack_user("UHUANG", "黄丽")
    await linked(admin, wang, "wang.fang")
    await linked(admin, huang, "huang.li")

    await wang.slash("/supply")
    assert wang.options() and "或直接输入（可搜索）" in wang.page
    await wang.types("电池")  # words beside the list of categories search the catalog
    await wang.chooses("5 号电池")
    await wang.types("5")
    await wang.chooses("✔ 选好了")
    await wang.types("会议室遥控器")
    assert "黄丽" in wang.page  # the confirmation names who will approve
    await wang.submits()
    number = REQUISITION.search(wang.dm[-1].shown)
    assert number is not None, wang.dm[-1].shown

    approval = huang.latest(number.group())
    assert "✔ 批准" in [b["text"]["text"] for b in approval.buttons]
    await huang.presses("✔ 批准")
    assert approval.edits >= 1 and "✔ 批准" not in [b["text"]["text"] for b in approval.buttons]
    assert "批准" in wang.latest(number.group()).shown
    async with db.unit_of_work() as session:
        requisition = await session.scalar(select(Requisition).where(Requisition.number == number.group()))
        assert requisition is not None and requisition.status != "pending_manager"


async def test_reported_in_slack_fixed_by_a_technician_in_telegram(
    db: Database, both_worlds: SlackWorld, bot_api: FakeBotAPI
) -> None:
    from tests.dialog.test_ticket_life_telegram import make_staff

    wang = SlackPerson.of(both_worlds, "UWANG", "小王")
    li = TelegramPerson(bot_api, db, bot_api.user(8101, "老李", "zh-hans"))
    await make_staff(db, li, "technician:plumbing")
    async with db.unit_of_work() as session:
        from sqlalchemy import delete

        from storage.models import Person, PersonRole

        sun = await session.scalar(select(Person.id).where(Person.display_name == "孙强"))
        await session.execute(delete(PersonRole).where(PersonRole.person_id == sun, PersonRole.role == "technician"))

    number = await report_leak(wang)
    await both_worlds.settle()
    assert "状态：已分派" in (li.card(number).text or "")
    await li.presses("✔ 接单")
    await li.presses("▶ 开始维修")
    await li.presses("✅ 已修好")
    await li.says("已更换阀芯")
    await li.presses("跳过")
    await both_worlds.settle()
    resolved = wang.latest("已修好")
    assert [b["text"]["text"] for b in resolved.buttons][-1] == "★★★★★"
    await wang.presses("★★★★")
    await wang.submits()
    async with db.unit_of_work() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == number))
        assert ticket is not None and (ticket.status, ticket.rating, ticket.channel) == ("closed", 4, "slack")


def slash_body(user: str, trigger: str) -> bytes:
    form = {"team_id": "T1", "user_id": user, "user_name": "x", "command": "/repair", "text": "", "trigger_id": trigger}
    form |= {"api_app_id": "A1", "channel_id": "C1", "response_url": "https://hooks.slack.test/1", "token": "t"}
    return urlencode(form).encode()


async def test_a_bad_signature_or_an_old_timestamp_is_refused_before_any_work(
    db: Database, slack_world: SlackWorld
) -> None:
    body = slash_body("UMALLORY", slack_world.api.new_trigger("UMALLORY"))
    content = "application/x-www-form-urlencoded"
    forged = signed_headers(body, content, secret="not-the-secret")
    assert (await slack_world.http.post("/slack/events", content=body, headers=forged)).status_code == 401
    stale = signed_headers(body, content, age=6 * 60)
    assert (await slack_world.http.post("/slack/events", content=body, headers=stale)).status_code == 401
    unsigned = {"Content-Type": content}
    assert (await slack_world.http.post("/slack/events", content=body, headers=unsigned)).status_code == 401
    await slack_world.settle()
    # Nothing reached Houqin: no delivery recorded, no call to Slack made.
    async with db.unit_of_work() as session:
        assert await session.scalar(select(func.count()).select_from(ProcessedDelivery)) == 0
    assert slack_world.api.calls == []


async def test_a_retried_event_is_handled_once(db: Database, slack_user: Callable[..., SlackPerson]) -> None:
    wang = slack_user("UWANG", "小王")
    message = {"type": "message", "channel_type": "im", "user": "UWANG", "text": "/repair", "channel": "DUWANG"}
    await wang.event(message, event_id="EvRETRY1")
    asked = len(wang.dm)
    # Slack did not see our 200 in time and sends the same event again, twice.
    await wang.event(message, event_id="EvRETRY1", **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "timeout"})
    await wang.event(message, event_id="EvRETRY1", **{"X-Slack-Retry-Num": "2", "X-Slack-Retry-Reason": "timeout"})
    assert len(wang.dm) == asked
    async with db.unit_of_work() as session:
        keys = (await session.scalars(select(ProcessedDelivery.key).where(ProcessedDelivery.channel == "slack"))).all()
    assert keys.count("event:EvRETRY1") == 1


async def test_a_page_submitted_twice_creates_one_ticket(db: Database, slack_user: Callable[..., SlackPerson]) -> None:
    wang = slack_user("UWANG", "小王")
    await wang.slash("/repair")
    for label in ("给排水", "教学楼", "301 三楼卫生间"):
        await wang.chooses(label)
    await wang.types("洗手池水龙头关不紧，一直滴水")
    await wang.submits()
    await wang.chooses("一般")
    confirm = wang.modal
    assert confirm is not None
    view = dict(confirm.view)
    payload = {
        "type": "view_submission",
        "team": {"id": "T1"},
        "user": {"id": "UWANG", "team_id": "T1"},
        "api_app_id": "A1",
        "trigger_id": "t1",
        "view": {**view, "id": confirm.id, "hash": confirm.hash, "state": {"values": {}}},
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    first = await wang.world.post(body, "application/x-www-form-urlencoded")
    second = await wang.world.post(body, "application/x-www-form-urlencoded")  # a double click
    await wang.world.settle()
    assert first.status_code == second.status_code == 200
    assert await count(db, Ticket) == 1
    assert len([m for m in wang.dm if "报修已提交" in m.shown]) == 1


async def test_a_forged_button_is_refused_and_audited(db: Database, slack_user: Callable[..., SlackPerson]) -> None:
    admin, sun, wang = slack_user("UADMIN", "管理员"), slack_user("USUN", "孙强"), slack_user("UWANG", "小王")
    await linked(admin, sun, "sun.qiang")
    number = await report_leak(wang)
    async with db.unit_of_work() as session:
        ticket_id = await session.scalar(select(Ticket.id).where(Ticket.number == number))
    # The reporter makes up the technician's Accept button, and a payload no area knows.
    await wang.presses_value(f"tk:{ticket_id}:accept")
    await wang.presses_value("zz:1:steal")
    async with db.unit_of_work() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.id == ticket_id))
        assert ticket is not None and ticket.status == "assigned"
        refused = (await session.scalars(select(AuditEntry.action).where(AuditEntry.outcome == "refused"))).all()
    assert "button.forged" in refused and any(action.startswith("ticket.") for action in refused)


async def test_a_slow_answer_shows_a_loading_page_then_the_next_one(
    db: Database, slack_world: SlackWorld, slack_user: Callable[..., SlackPerson]
) -> None:
    """Slack waits 3 s for a page's answer; when the core is slower the page says so at once
    (response_action=update with a loading page) and is updated when the answer is ready."""
    wang = slack_user("UWANG", "小王")
    await wang.slash("/repair")
    slack_world.channel.ack_within = 0  # every answer is "too slow" now
    response = await wang.chooses("给排水")
    assert response.json()["view"]["blocks"][0]["text"]["text"] == "请稍候……"
    await slack_world.settle()
    assert "在哪栋楼？" in wang.page  # views.update replaced the loading page


async def test_a_page_submitted_twice_at_once_creates_one_ticket(
    db: Database, slack_user: Callable[..., SlackPerson]
) -> None:
    """Two submissions of the confirmation racing each other (two clicks, two Houqin workers)."""
    wang = slack_user("UWANG", "小王")
    await wang.slash("/repair")
    for label in ("给排水", "教学楼", "301 三楼卫生间"):
        await wang.chooses(label)
    await wang.types("洗手池水龙头关不紧，一直滴水")
    await wang.submits()
    await wang.chooses("一般")
    confirm = wang.modal
    assert confirm is not None
    payload = {
        "type": "view_submission",
        "team": {"id": "T1"},
        "user": {"id": "UWANG", "team_id": "T1"},
        "api_app_id": "A1",
        "view": {**confirm.view, "id": confirm.id, "hash": confirm.hash, "state": {"values": {}}},
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    first, second = await asyncio.gather(
        wang.world.post(body, "application/x-www-form-urlencoded"),
        wang.world.post(body, "application/x-www-form-urlencoded"),
    )
    await wang.world.settle()
    assert first.status_code == second.status_code == 200
    assert await count(db, Ticket) == 1
    assert len([m for m in wang.dm if "报修已提交" in m.shown]) == 1


async def test_when_the_core_fails_the_person_is_told_and_nothing_is_kept(
    db: Database, slack_world: SlackWorld, slack_user: Callable[..., SlackPerson], monkeypatch: pytest.MonkeyPatch
) -> None:
    wang = slack_user("UWANG", "小王")
    await wang.slash("/repair")
    real = slack_world.channel.houqin.handle

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the core is broken")

    monkeypatch.setattr(slack_world.channel.houqin, "handle", broken)
    await wang.chooses("给排水")
    sorry = "抱歉，系统出了点问题，刚才的操作没有保存。请再试一次。"
    assert wang.page == f"后勤\n{sorry}"
    await wang.slash("/houqin", "my")
    assert wang.dm[-1].shown == sorry
    monkeypatch.setattr(slack_world.channel.houqin, "handle", real)
    assert await count(db, Ticket) == 0


@pytest.mark.subprocess  # the file is parsed in a child process (handlers/core/uploads.py)
async def test_a_catalog_is_imported_from_a_modal_or_dropped_into_the_dm(
    db: Database, slack_user: Callable[..., SlackPerson]
) -> None:
    from storage.models import SupplyItem
    from tests.dialog.test_supply_web import CATALOG_CSV

    admin, lin = slack_user("UADMIN", "管理员"), slack_user("ULIN", "林华")
    await linked(admin, lin, "lin.hua")
    # A command that starts a flow of its own opens it as a modal: the file is attached on the page.
    await lin.slash("/houqin", "stock import")
    assert "请发送物品目录文件" in lin.page
    await lin.attaches(b"x" * (3 * 1024 * 1024), name="huge.csv", mimetype="text/csv")
    assert lin.errors, lin.page
    await lin.attaches(CATALOG_CSV.encode("gb18030"), name="catalog.csv", mimetype="text/csv")
    assert "文件里有 2 个物品：新增 1 个，更新 1 个" in lin.page
    await lin.submits()
    assert "导入完成" in lin.dm[-1].shown
    async with db.unit_of_work() as session:
        tea = await session.scalar(select(SupplyItem).where(SupplyItem.code == "TEA-GREEN"))
        assert tea is not None and tea.name_zh == "绿茶"

    # Or dropped into the DM with the command as its message (Slack keeps "/..." for its own commands).
    await lin.drops_file("catalog.csv", CATALOG_CSV.replace("30,5", "10,5").encode(), "text/csv", "stock import")
    # No trigger comes with a message, so the confirmation is asked right there in the DM.
    assert "新增 0 个，更新 2 个" in lin.dm[-2].shown and lin.dm[-1].shown == "确认导入吗？"
    await lin.presses("✔ 提交")
    assert "导入完成" in lin.dm[-1].shown
