"""The whole life of a repair ticket in Telegram: a reporter, two plumbers and their manager.

Through python-telegram-bot's Application and HTTP layer against the fake Bot API, on SQLite and
PostgreSQL: decline and reassignment, waiting for parts, a low rating that reopens, a follower.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest
from sqlalchemy import delete, select

from storage.db import Database
from storage.models import AuditEntry, Department, OutboxMessage, Person, PersonRole, Ticket, TicketComment
from tests.dialog.telegram_person import TelegramPerson


async def make_staff(db: Database, who: TelegramPerson, *roles: str, department: str = "logistics") -> None:
    """What an admin would do with /role (a later issue): give a Telegram person roles and a department."""
    await who.says("/start")
    async with db.unit_of_work() as session:
        person = await session.scalar(select(Person).where(Person.display_name == who.user.first_name))
        assert person is not None
        person.department_id = await session.scalar(select(Department.id).where(Department.code == department))
        for role in roles:
            name, _, scope = role.partition(":")
            session.add(PersonRole(person_id=person.id, role=name, scope=scope))


async def ticket(db: Database, number: str) -> Ticket:
    async with db.unit_of_work() as session:
        found = await session.scalar(select(Ticket).where(Ticket.number == number))
        assert found is not None
        return found


async def report_leak(who: TelegramPerson, description: str) -> str:
    await who.says("/repair")
    await who.presses("给排水")
    await who.presses("教学楼")
    await who.presses("301 三楼卫生间")
    await who.says(description)
    await who.presses("跳过")
    await who.presses("较急")
    done = await who.presses("✔ 提交")
    number = re.search(r"R-\d{4}-\d{6}", done.text)
    assert number is not None, done.texts
    return number.group()


@pytest.fixture
async def plumbing_team(db: Database, telegram_user: Callable[..., TelegramPerson]) -> dict[str, TelegramPerson]:
    # The demo organisation's own plumber works in the browser; this story happens in Telegram.
    async with db.unit_of_work() as session:
        await session.execute(delete(PersonRole).where(PersonRole.role == "technician", PersonRole.scope == "plumbing"))
    team = {
        "li": telegram_user(8101, "老李"),
        "zhang": telegram_user(8102, "老张"),
        "lin": telegram_user(8103, "林主任"),
    }
    await make_staff(db, team["li"], "technician:plumbing")
    await make_staff(db, team["zhang"], "technician:plumbing")
    await make_staff(db, team["lin"], "manager:logistics")
    return team


async def test_a_leak_from_report_to_a_rated_closed_job(
    db: Database, telegram_user: Callable[..., TelegramPerson], plumbing_team: dict[str, TelegramPerson]
) -> None:
    li, zhang, lin = plumbing_team["li"], plumbing_team["zhang"], plumbing_team["lin"]
    wang = telegram_user(8001, "小王")

    number = await report_leak(wang, "三楼卫生间洗手池下面漏水")
    # Both plumbers are free; the first in line gets it and a card to act on.
    card = li.card(number)
    assert "位置：教学楼 301 三楼卫生间" in (card.text or "") and "状态：已分派" in (card.text or "")
    assert [b["text"] for b in card.buttons] == ["✔ 接单", "✖ 拒绝", "💬 留言"]
    assert "已派给维修工 老李" in wang.latest(number).text  # type: ignore[operator]

    # 老李 declines with a reason; the job goes to the other plumber.
    assert "请说明拒绝的原因" in await li.presses("✖ 拒绝")
    await li.says("今天在校外培训")
    assert "你已拒绝此单" in (li.card(number).text or "") and li.card(number).buttons == []
    assert "状态：已分派" in (zhang.card(number).text or "")
    assert "正在重新安排维修工" in "\n".join(m.text or "" for m in wang.chat)

    # Their manager moves it back to 老李 for tomorrow, from the ticket itself.
    overview = await lin.says(f"/ticket {number}")
    assert "处理记录：" in overview.text and "今天在校外培训" not in overview.text
    await lin.presses("👷 派单")
    await lin.presses("✓ 老李")
    assert "已改派给 老李" in (zhang.card(number).text or "") and zhang.card(number).buttons == []
    assert [b["text"] for b in li.card(number).buttons] == ["✔ 接单", "✖ 拒绝", "💬 留言"]  # the same message, edited

    # 老李 works it: accept, start, wait for parts, resume, resolve.
    await li.presses("✔ 接单")
    assert "状态：已接单" in (li.card(number).text or "")
    await li.presses("▶ 开始维修")
    await li.presses("⏸ 等待配件")
    await li.says("需要更换阀芯，明天到货")
    assert "等待配件：需要更换阀芯，明天到货" in wang.latest("等待配件").text  # type: ignore[operator]
    await li.presses("▶ 继续维修")
    await li.presses("✅ 已修好")
    await li.says("已更换阀芯")
    await li.presses("跳过")
    resolved = wang.latest("已修好")
    assert [b["text"] for b in resolved.buttons] == ["★", "★★", "★★★", "★★★★", "★★★★★"]

    # It still drips: one star reopens it. 老李 hears at once, in a message of its own (not only his
    # card far up the chat changing); the manager hears once the comment is in, with it.
    low = await wang.presses("★")
    assert "已重新打开" in low.text
    came_back = li.latest("打了低分")
    assert came_back is not li.card(number) and f"{number} 被报修人打了低分（★1），已重新打开" in (came_back.text or "")
    assert not any("星，已重新打开" in (m.text or "") for m in lin.chat), "the manager waits for the comment"
    thanks = await wang.says("还是在滴水")
    assert "谢谢你的反馈" in thanks and [b["text"] for b in thanks.messages[-1].buttons][:2] == ["报修", "物资申领"]
    low_rating = [m.text or "" for m in lin.chat if "星，已重新打开" in (m.text or "")]
    assert low_rating == [f"⚠️ 老李 处理的 {number} 获得 1 星，已重新打开。意见：还是在滴水"]
    assert "还是在滴水" in li.latest("💬").text  # type: ignore[operator]
    assert "状态：已重新打开" in (li.card(number).text or "")

    await li.presses("▶ 开始维修")
    await li.presses("✅ 已修好")
    await li.presses("跳过")
    await li.presses("跳过")
    await wang.presses("★★★★★")
    assert "谢谢你的反馈" in await wang.presses("跳过")

    closed = await ticket(db, number)
    assert (closed.status, closed.rating, closed.reopen_count) == ("closed", 5, 1)
    assert closed.assignee is not None and closed.assignee.display_name == "老李"
    assert [e.to_status for e in closed.history] == [
        "new",
        "assigned",
        "new",
        "assigned",
        "assigned",
        "accepted",
        "in_progress",
        "waiting_parts",
        "in_progress",
        "resolved",
        "reopened",
        "in_progress",
        "resolved",
        "closed",
    ]
    assert "状态：已关闭" in (li.card(number).text or "") and li.card(number).buttons == []
    async with db.unit_of_work() as session:
        comments = (await session.scalars(select(TicketComment.body))).all()
    assert list(comments) == ["还是在滴水"]


async def test_someone_reporting_the_same_leak_follows_the_open_ticket(
    db: Database, telegram_user: Callable[..., TelegramPerson], plumbing_team: dict[str, TelegramPerson]
) -> None:
    wang, zhao = telegram_user(8001, "小王"), telegram_user(8002, "小赵")
    li, lin = plumbing_team["li"], plumbing_team["lin"]
    number = await report_leak(wang, "洗手池漏水，水表箱钥匙在我工位抽屉")

    # 小赵 may be anyone in the building: told that such a repair is open, not what 小王 wrote or who they are.
    await zhao.says("/repair")
    await zhao.presses("给排水")
    await zhao.presses("教学楼")
    offer = await zhao.presses("301 三楼卫生间")
    assert f"这个房间已经有一张未完成的同类报修：{number}（1 小时内提交，已分派）" in offer
    assert "洗手池漏水" not in offer.text and "小王" not in offer.text
    following = await zhao.presses(f"关注 {number}")
    assert "你已关注" in following and "没有提交新的报修单" in following

    # The follower hears each new status, and nothing else.
    await li.presses("✔ 接单")
    status = zhao.latest("已接单").text or ""
    assert f"你关注的报修 {number}（给排水，教学楼 301 三楼卫生间）现在是「已接单」" in status
    await wang.presses("💬 留言")
    await wang.says("师傅来之前请先关总阀")
    assert "师傅来之前请先关总阀" in (li.latest("💬").text or "")
    assert not any("总阀" in (m.text or "") for m in zhao.chat)

    # /ticket shows a follower the limited card: what, where, how far; no buttons to act or comment.
    limited = await zhao.says(f"/ticket {number}")
    assert "状态：已接单" in limited and "位置：教学楼 301 三楼卫生间" in limited
    for private in ("洗手池漏水", "小王", "报修人：", "照片：", "总阀", "老李"):
        assert private not in limited.text, private
    assert limited.messages[-1].buttons == []

    # A comment button pressed anyway (an old notice, a forged payload) is refused and audited.
    found = await ticket(db, number)
    refused = await zhao.presses_data(zhao.chat[-1].message_id, f"tk:{found.id}:comment", strict=False)
    assert "你没有权限在上面留言" in refused and "另外报修" in refused
    await zhao.says("我也看到漏水了")  # no comment flow was opened: this is not relayed to anyone
    assert not any("我也看到漏水了" in (m.text or "") for m in [*wang.chat, *li.chat])

    # The reporter, the technician and their manager still see everything.
    for person in (wang, li, lin):
        whole = await person.says(f"/ticket {number}")
        assert "洗手池漏水" in whole and "报修人：小王" in whole and "师傅来之前请先关总阀" in whole, person.user
    # Reporting it again, 小王 is reminded of their own words.
    await wang.says("/repair")
    await wang.presses("给排水")
    await wang.presses("教学楼")
    assert "“洗手池漏水，水表箱钥匙在我工位抽屉”" in await wang.presses("301 三楼卫生间")
    await wang.says("/cancel")

    async with db.unit_of_work() as session:
        assert len((await session.scalars(select(Ticket))).all()) == 1
        zhao_id = await session.scalar(select(Person.id).where(Person.display_name == "小赵"))
        to_zhao = select(OutboxMessage.body).where(OutboxMessage.person_id == zhao_id)
        told = list((await session.scalars(to_zhao)).all())
        authors = (await session.scalars(select(TicketComment.author_id))).all()
        refusal = await session.scalar(
            select(AuditEntry).where(AuditEntry.outcome == "refused", AuditEntry.actor_id == zhao_id)
        )
    assert told, "the follower's notices went through the outbox"
    stored = json.dumps(told, ensure_ascii=False)
    for private in ("洗手池", "钥匙", "小王", "总阀"):
        assert private not in stored, private
    assert zhao_id not in authors
    assert refusal is not None and (refusal.action, refusal.record) == ("ticket.comment", number)

    # Fixed, rated 1★, reopened: the follower hears each status in a follower's words — not asked to
    # rate (only the reporter rates), not told to take another look (that is the technician's).
    await li.presses("▶ 开始维修")
    await li.presses("✅ 已修好")
    await li.presses("跳过")
    await li.presses("跳过")
    await wang.presses("★")
    await wang.presses("跳过")
    heard = [m.text or "" for m in zhao.chat if number in (m.text or "")]
    assert heard[-3:] == [
        f"🔔 你关注的报修 {number}（给排水，教学楼 301 三楼卫生间）现在是「{status}」。"
        for status in ("维修中", "已修好待确认", "已重新打开")
    ]
    assert not [
        m
        for m in zhao.chat
        if "请打分" in (m.text or "") or "尽快处理" in (m.text or "") or "你的报修" in (m.text or "")
    ]
    assert all(not m.buttons for m in zhao.chat if number in (m.text or "") and "你关注的" in (m.text or ""))


async def test_a_stranger_pressing_a_forged_card_button_changes_nothing_and_is_audited(
    db: Database, telegram_user: Callable[..., TelegramPerson], plumbing_team: dict[str, TelegramPerson]
) -> None:
    wang, mallory = telegram_user(8001, "小王"), telegram_user(8666, "Mallory", "en")
    number = await report_leak(wang, "水管爆了，地上全是水")
    found = await ticket(db, number)
    await mallory.says("/start")
    menu = mallory.chat[-1]
    refused = await mallory.presses_data(menu.message_id, f"tk:{found.id}:resolve", strict=False)
    assert f"You're not allowed to do that to {number}." in refused
    assert (await ticket(db, number)).status == "assigned"
    async with db.unit_of_work() as session:
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.outcome == "refused"))
    assert entry is not None and (entry.action, entry.record, entry.channel) == ("ticket.resolve", number, "telegram")


async def test_the_technician_sees_the_reporters_photo_above_the_card(
    db: Database, telegram_user: Callable[..., TelegramPerson], plumbing_team: dict[str, TelegramPerson]
) -> None:
    wang, li = telegram_user(8001, "小王"), plumbing_team["li"]
    await wang.says("/repair")
    await wang.presses("给排水")
    await wang.presses("教学楼")
    await wang.presses("301 三楼卫生间")
    await wang.says("地漏堵了，积水很深")
    await wang.sends_photo()
    await wang.presses("完成")
    await wang.presses("紧急")
    await wang.presses("✔ 提交")
    photo, card = li.chat[-2:]
    assert photo.kind == "photo" and (card.text or "").startswith("🔧 R-")
    assert "照片：1 张" in (card.text or "")
