"""Notices in the browser: a technician's ticket card that updates in place, the reporter's status
notices and star rating, all fetched from the inbox while people switch with the picker."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect
from sqlalchemy import func, select

from handlers.core.i18n import translate
from storage.models import AuditEntry, Person, Ticket, TicketEvent
from tests.browser.conftest import LiveHouqin
from tests.browser.test_web_chat import TICKET_NUMBER, bot, database, open_as, press, say

pytestmark = pytest.mark.browser

SCREENSHOT = Path("/tmp/houqin-card.png")
SCREENSHOT_NARROW = Path("/tmp/houqin-card-375.png")
# The page asks the inbox at once after each action and on switching person, and every 3 s besides;
# leave room for one missed tick on a slow machine.
NOTICE_WAIT_MS = 15_000
HIGHLIGHTED = re.compile(r"\bupdated\b")
FIX_NOTE = "换了镇流器和灯管，已试亮。"


def zh(key: str, **values: Any) -> str:
    return translate("zh_CN", key, **values)


def switch_to(page: Page, person: str) -> None:
    page.get_by_test_id("person-picker").select_option(person)


def report_repair(page: Page, category: str, building: str, room: str, description: str) -> str:
    """The repair intake without photos, urgency 较急; returns the ticket number she is told."""
    say(page, "/repair")
    expect(bot(page).last).to_contain_text(zh("repair.ask_category"))
    press(page, category)
    expect(bot(page).last).to_contain_text(zh("repair.ask_building"))
    press(page, building)
    expect(bot(page).last).to_contain_text(zh("location.ask_room"))
    press(page, room)
    expect(bot(page).last).to_contain_text(zh("repair.ask_description"))
    say(page, description)
    expect(bot(page).last).to_contain_text(zh("repair.ask_photos"))
    press(page, zh("dialog.button.skip"))
    expect(bot(page).last).to_contain_text(zh("repair.ask_urgency"))
    press(page, zh("repair.urgency.high"))
    expect(bot(page).last).to_contain_text(zh("repair.ask_confirm"))
    press(page, zh("dialog.button.submit"))
    submitted = bot(page).filter(has_text=TICKET_NUMBER)
    expect(submitted).to_have_count(1)
    found = TICKET_NUMBER.search(submitted.inner_text())
    assert found is not None
    return found.group(0)


def card_of(page: Page, number: str) -> Locator:
    return page.get_by_test_id("card").filter(has_text=number)


def buttons(card: Locator) -> Locator:
    return card.get_by_test_id("reply-button")


def position(card: Locator) -> int:
    index = card.evaluate("node => [...node.parentElement.children].indexOf(node)")
    assert isinstance(index, int)
    return index


def ticket_by_number(server: LiveHouqin, number: str) -> Ticket:
    with database(server) as session:
        ticket = session.scalars(select(Ticket).where(Ticket.number == number)).one()
        session.expunge(ticket)
        return ticket


def test_a_repair_from_report_to_five_stars(page: Page, houqin_server: LiveHouqin) -> None:
    # 1. 王芳 reports a dead ceiling light; it goes to the electrician at once.
    open_as(page, "wang.fang")
    number = report_repair(page, "电气照明", "行政楼", "201 第一会议室", "第一会议室的吸顶灯闪了两天，今天完全不亮了。")
    expect(bot(page).filter(has_text=number)).to_contain_text("已派给维修工 赵磊")

    # 2. 赵磊 has a card for it, with what he can do now.
    switch_to(page, "zhao.lei")
    card = card_of(page, number)
    expect(card).to_have_count(1, timeout=NOTICE_WAIT_MS)
    expect(card).to_contain_text(f"🔧 {number} · 电气照明 · 较急")
    expect(card).to_contain_text("位置：行政楼 201 第一会议室")
    expect(card).to_contain_text("状态：已分派")
    expect(buttons(card)).to_have_text(["✔ 接单", "✖ 拒绝", "💬 留言"])
    key = card.get_attribute("data-card-key")
    entry = card.get_attribute("data-entry")
    assert key and entry
    where = position(card)

    card.get_by_role("button", name="✔ 接单").click()
    expect(page.get_by_test_id("toast")).to_have_text(zh("ticket.done.accept", number=number))
    # The same bubble, in the same place, now shows the accepted job and the buttons that fit it.
    expect(card).to_contain_text("状态：已接单", timeout=NOTICE_WAIT_MS)
    expect(buttons(card)).to_have_text(["▶ 开始维修", "✖ 拒绝", "💬 留言"])
    for button in buttons(card).all():
        expect(button).to_be_enabled()
    expect(card).to_have_count(1)
    expect(page.locator(f'[data-card-key="{key}"]')).to_have_count(1)
    expect(card).to_have_attribute("data-entry", entry)
    assert position(card) == where
    expect(card).to_have_class(HIGHLIGHTED)  # briefly, so the change is noticed
    expect(card).not_to_have_class(HIGHLIGHTED)
    # Not committed: for a person to look at (no toast over it, no hover on a button).
    expect(page.get_by_test_id("toast")).to_be_hidden()
    page.mouse.move(0, 0)
    page.screenshot(path=str(SCREENSHOT), animations="disabled")
    page.set_viewport_size({"width": 375, "height": 812})
    page.screenshot(path=str(SCREENSHOT_NARROW), animations="disabled")
    page.set_viewport_size({"width": 1280, "height": 900})

    # A reply to something else retires old questions, never the card; a reload keeps it, key and all.
    say(page, "/start")
    expect(bot(page).last).to_contain_text("你好，赵磊")
    expect(buttons(card).first).to_be_enabled()
    page.reload()
    expect(card).to_have_attribute("data-card-key", key)
    expect(buttons(card).first).to_be_enabled()

    # Pressed, the card waits: all its buttons are off until the answer and the card's update arrive.
    waiting = card.get_by_role("button", name="▶ 开始维修").evaluate(
        "button => { button.click(); return [...button.closest('.card').querySelectorAll('button')]"
        ".map(b => b.disabled); }"
    )
    assert waiting == [True, True, True]
    expect(card).to_contain_text("状态：维修中", timeout=NOTICE_WAIT_MS)
    expect(buttons(card)).to_have_text(["⏸ 等待配件", "✅ 已修好", "💬 留言"])
    for button in buttons(card).all():
        expect(button).to_be_enabled()
    card.get_by_role("button", name="✅ 已修好").click()
    expect(bot(page).last).to_contain_text(zh("ticket.ask.resolve_note"))
    # That began a short flow and changed nothing yet: no update comes, so the card is live again.
    expect(buttons(card).filter(has_text="✅ 已修好")).to_be_enabled()
    say(page, FIX_NOTE)
    expect(bot(page).last).to_contain_text(zh("ticket.ask.resolve_photo"))
    press(page, zh("dialog.button.skip"))
    expect(bot(page).last).to_contain_text(zh("ticket.done.resolve", number=number))
    expect(card).to_contain_text("状态：已修好待确认", timeout=NOTICE_WAIT_MS)
    expect(buttons(card)).to_have_count(0)
    expect(page.locator(f'[data-card-key="{key}"]')).to_have_count(1)

    # 3. 王芳 heard about every step, and rates the job.
    switch_to(page, "wang.fang")
    notices = {
        "accepted": zh("ticket.notice.accepted", technician="赵磊", number=number),
        "started": zh("ticket.notice.started", technician="赵磊", number=number),
        "resolved": zh("ticket.notice.resolved", technician="赵磊", number=number, note=FIX_NOTE).splitlines()[0],
    }
    for text in notices.values():
        expect(bot(page).filter(has_text=text)).to_have_count(1, timeout=NOTICE_WAIT_MS)
    resolved = bot(page).filter(has_text=notices["resolved"])
    expect(buttons(resolved)).to_have_text(["★", "★★", "★★★", "★★★★", "★★★★★"])
    expect(page.get_by_test_id("card")).to_have_count(0)  # the reporter gets notices, not cards

    press(page, "★★★★★")
    expect(bot(page).filter(has_text=zh("ticket.rated.thanks", stars="★★★★★", number=number))).to_have_count(1)
    expect(resolved).to_contain_text("→ ★★★★★")
    expect(bot(page).last).to_contain_text(zh("ticket.ask.rating_comment"))
    press(page, zh("dialog.button.skip"))
    expect(bot(page).last).to_contain_text(zh("ticket.done.rating_comment"))

    ticket = ticket_by_number(houqin_server, number)
    assert (ticket.status, ticket.rating) == ("closed", 5)
    assert ticket.closed_at is not None
    with database(houqin_server) as session:
        assignee = session.get(Person, ticket.assignee_id)
        assert assignee is not None and assignee.demo_key == "zhao.lei"
        steps = session.scalars(
            select(TicketEvent.to_status).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
        ).all()
    assert steps[-4:] == ["accepted", "in_progress", "resolved", "closed"]

    # 赵磊's card, still the one bubble, shows the job closed and offers nothing more to press.
    switch_to(page, "zhao.lei")
    expect(card_of(page, number)).to_contain_text("状态：已关闭", timeout=NOTICE_WAIT_MS)
    expect(page.locator(f'[data-card-key="{key}"]')).to_have_count(1)
    expect(buttons(card_of(page, number))).to_have_count(0)


def test_a_forged_card_button_is_refused(page: Page, houqin_server: LiveHouqin) -> None:
    open_as(page, "chen.jing")
    number = report_repair(page, "给排水", "教学楼", "301 三楼卫生间", "三楼卫生间洗手池下面一直在滴水。")
    before = ticket_by_number(houqin_server, number)
    with database(houqin_server) as session:
        events_before = session.scalar(select(func.count()).where(TicketEvent.ticket_id == before.id))

    # 李娜 has nothing to do with this ticket; she makes up a card button and posts it from the page.
    switch_to(page, "li.na")
    answer = page.evaluate(
        """async (button) => {
            const response = await fetch("/api/web/messages", {
                method: "POST",
                headers: { "Content-Type": "application/json" },
                body: JSON.stringify({ person: "li.na", client_id: crypto.randomUUID(), button }),
            });
            return { status: response.status, body: await response.json() };
        }""",
        f"tk:{before.id}:resolve",
    )
    refused = zh("ticket.error.not_allowed", number=number)
    assert answer["status"] == 200
    assert [reply["text"] for reply in answer["body"]["replies"]] == [refused]
    assert answer["body"]["toast"] == refused
    assert answer["body"]["chosen"] is None

    after = ticket_by_number(houqin_server, number)
    assert (after.status, after.assignee_id, after.resolved_at) == (before.status, before.assignee_id, None)
    assert after.status == "assigned"
    with database(houqin_server) as session:
        assert session.scalar(select(func.count()).where(TicketEvent.ticket_id == before.id)) == events_before
        audit = session.scalars(select(AuditEntry).where(AuditEntry.record == number, AuditEntry.outcome == "refused"))
        assert [(entry.action, entry.channel) for entry in audit] == [("ticket.resolve", "web")]


def test_a_card_arrives_while_the_technician_only_watches(
    page: Page, browser: Browser, houqin_server: LiveHouqin
) -> None:
    # 周军 has the page open on his own computer and does nothing: the page asks the inbox on its own.
    elsewhere = browser.new_context(base_url=houqin_server.base_url, locale="zh-CN")
    try:
        watcher = elsewhere.new_page()
        open_as(watcher, "zhou.jun")
        expect(watcher.locator(".empty-hint")).to_be_visible()

        open_as(page, "liu.yang")
        number = report_repair(page, "家具门窗", "食堂", "101 一楼餐厅", "一楼餐厅靠窗那张桌子的桌腿断了。")
        expect(bot(page).filter(has_text=number)).to_contain_text("已派给维修工 周军")

        card = card_of(watcher, number)
        expect(card).to_have_count(1, timeout=NOTICE_WAIT_MS)
        expect(buttons(card)).to_have_text(["✔ 接单", "✖ 拒绝", "💬 留言"])
        expect(watcher.locator(".empty-hint")).to_have_count(0)
        expect(watcher.get_by_test_id("my-message")).to_have_count(0)
    finally:
        elsewhere.close()
