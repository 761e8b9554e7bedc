"""The web console in Chromium (issue 24), in demo mode with six months of the demo's past: each page
as an admin, a manager (their department's tickets only, refused elsewhere) and a staff member
(refused); the ticket actions with their audit lines; the queue updating without a reload; a phone's
width; the keyboard; axe-core's accessibility check; and screenshots of the main pages in both
languages, kept under var/screenshots/console/ (git-ignored, for a person to look at)."""

from __future__ import annotations

import asyncio
import io
import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import create_engine, or_, select
from sqlalchemy.orm import Session, aliased

from bot.areas import AREAS
from bot.settings import Settings, load_settings
from handlers.core.actor import Actor
from handlers.core.demo import write_past
from handlers.core.rules import SupplyRules
from handlers.core.schedule import Schedule
from handlers.supplies import requisitions
from storage.db import Database
from storage.models import (
    AuditEntry,
    Department,
    Person,
    Photo,
    Suggestion,
    SupplyItem,
    Ticket,
    TicketComment,
    utcnow,
)
from tests.browser.conftest import fresh_page, live_houqin

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots" / "console"
AXE = Path(__file__).parent / "vendor" / "axe.min.js"


@dataclass(frozen=True)
class ConsoleHouqin:
    base_url: str
    database_url: str

    def session(self) -> Iterator[Session]:
        engine = create_engine(self.database_url.replace("+aiosqlite", ""))
        try:
            with Session(engine) as session:
                yield session
        finally:
            engine.dispose()

    def read(self, query: Any) -> list[Any]:
        for session in self.session():
            return list(session.execute(query).all())
        return []

    def audit(self, action: str, record: str | None = None) -> list[tuple[str, str | None, str | None]]:
        """The audit lines of `action` (on `record`): (outcome, channel, actor's handle)."""
        query = (
            select(AuditEntry.outcome, AuditEntry.channel, Person.handle)
            .outerjoin(Person, Person.id == AuditEntry.actor_id)
            .where(AuditEntry.action == action)
            .order_by(AuditEntry.id)
        )
        if record is not None:
            query = query.where(AuditEntry.record == record)
        return [tuple(row) for row in self.read(query)]


@pytest.fixture(scope="module")
def houqin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleHouqin]:
    def demo(url: str, base_url: str, port: int) -> Settings:
        return load_settings(
            database_url=url, demo_mode=True, web_enabled=True, telegram_bot_token=None, http_port=port
        )

    with live_houqin(tmp_path_factory, demo) as live:
        url = f"sqlite+aiosqlite:///{live.database_file}"

        async def past() -> None:
            db = Database(url)
            try:
                await write_past(db, AREAS, utcnow(), Schedule(demo(url, live.base_url, 8080).zone))
            finally:
                await db.dispose()

        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(asyncio.run, past()).result()
        yield ConsoleHouqin(live.base_url, url)


@pytest.fixture
def page(browser: Browser, houqin: ConsoleHouqin) -> Iterator[Page]:
    with fresh_page(browser, houqin.base_url, "zh-CN") as page:
        yield page


def be(page: Page, handle: str) -> None:
    """The demo's picker: act as this person from now on."""
    page.goto("/console/demo")
    page.get_by_test_id(f"pick-{handle}").click()
    expect(page.get_by_test_id("console-person")).to_be_visible()


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True, animations="disabled")


def numbers_on(page: Page) -> list[str]:
    return page.get_by_test_id("ticket-row").locator("th a").all_inner_texts()


def finance_scope(houqin: ConsoleHouqin) -> set[str]:
    """Finance's tickets as its digest counts them: reported by its people or assigned to them."""
    reporter, assignee = aliased(Person), aliased(Person)
    finance = select(Department.id).where(Department.code == "finance").scalar_subquery()
    rows = houqin.read(
        select(Ticket.number)
        .join(reporter, reporter.id == Ticket.reporter_id)
        .outerjoin(assignee, assignee.id == Ticket.assignee_id)
        .where(or_(reporter.department_id == finance, assignee.department_id == finance))
    )
    return {str(row[0]) for row in rows}


def open_as(status: str) -> re.Pattern[str]:
    """An open ticket's status on its page, with the overdue badge or without it: whether the demo's
    ticket is past its due time depends on the hour the test runs, not on what the page did."""
    return re.compile(rf"^\s*{status}(\s+已超时)?\s*$")


def a_ticket(houqin: ConsoleHouqin, *where: Any) -> str:
    rows = houqin.read(select(Ticket.number).where(*where).order_by(Ticket.id.desc()).limit(1))
    assert rows, "the demo's past has such a ticket"
    return str(rows[0][0])


# --- who sees what ------------------------------------------------------------------------------------


def test_an_admin_sees_the_week_what_waits_and_every_ticket(page: Page, houqin: ConsoleHouqin) -> None:
    be(page, "admin")
    expect(page.get_by_role("heading", level=1)).to_have_text("概览")
    expect(page.get_by_test_id("week")).to_have_count(1)
    expect(page.get_by_test_id("console.week.opened")).to_have_text(re.compile(r"^\d+$"))
    expect(page.get_by_test_id("waiting")).to_contain_text("张工单")
    # The chart is drawn in the browser (Chart.js) from the JSON the page carries.
    expect(page.locator("canvas[data-chart][data-drawn='1']")).to_have_count(1)
    # Every area's week in the weekly digest's words (supplies, satisfaction, rounds, bookings…).
    expect(page.get_by_test_id("week-in-words")).to_contain_text("物资")
    shot(page, "home.zh")
    page.get_by_role("navigation", name="管理台导航").get_by_role("link", name="报修工单").click()
    expect(page.get_by_test_id("ticket-row")).to_have_count(25)
    total = len(houqin.read(select(Ticket.id)))
    expect(page.get_by_test_id("ticket-count")).to_have_text(f"共 {total} 张工单")
    shot(page, "tickets.zh")
    number = numbers_on(page)[0]
    page.get_by_role("link", name=number, exact=True).click()
    expect(page.get_by_test_id("ticket-number")).to_have_text(number)
    expect(page.get_by_test_id("ticket-history").locator("li").first).to_be_visible()
    shot(page, "ticket.zh")


def test_a_manager_sees_their_department_only_and_is_refused_elsewhere(page: Page, houqin: ConsoleHouqin) -> None:
    be(page, "huang.li")  # 黄丽, manager of finance
    page.goto("/console/tickets")
    expect(page.get_by_test_id("scope")).to_contain_text("财务")
    mine = finance_scope(houqin)
    expect(page.get_by_test_id("ticket-count")).to_have_text(f"共 {len(mine)} 张工单")
    listed = numbers_on(page)
    assert listed and set(listed) <= mine
    # Someone else's ticket, by its address: refused, and the refusal audited as the chat's.
    elsewhere = a_ticket(houqin, Ticket.number.not_in(mine))
    response = page.goto(f"/console/tickets/{elsewhere}")
    assert response is not None and response.status == 403
    expect(page.get_by_test_id("console-refused")).to_be_visible()
    assert ("refused", "web", "huang.li") in houqin.audit("ticket.view", elsewhere)
    # Her department's week on the home page, not the organisation's.
    page.goto("/console")
    expect(page.get_by_test_id("week")).to_contain_text("财务")


def test_a_staff_member_is_refused_the_console_and_the_refusal_is_audited(page: Page, houqin: ConsoleHouqin) -> None:
    be_refused = "wang.fang"
    page.goto("/console/demo")
    page.get_by_test_id(f"pick-{be_refused}").click()
    expect(page.get_by_test_id("console-refused")).to_contain_text("管理台供管理人员和后勤管理员使用")
    for path in ("/console/tickets", f"/console/tickets/{a_ticket(houqin)}", "/console/tickets/mark"):
        response = page.goto(path)
        assert response is not None and response.status == 403, path
    assert ("refused", "web", "wang.fang") in houqin.audit("admin.menu", "console")
    # No navigation to pages they may not open.
    page.goto("/console")
    expect(page.get_by_role("navigation").get_by_role("link", name="报修工单")).to_have_count(0)


# --- the table ---------------------------------------------------------------------------------------------


def test_filters_sort_search_and_pages(page: Page, houqin: ConsoleHouqin) -> None:
    be(page, "admin")
    page.goto("/console/tickets")
    page.get_by_label("状态").select_option("closed")
    page.get_by_label("类别").select_option("electrical")
    page.get_by_role("button", name="筛选").click()
    closed = {
        str(n)
        for (n,) in houqin.read(select(Ticket.number).where(Ticket.status == "closed", Ticket.category == "electrical"))
    }
    expect(page.get_by_test_id("ticket-count")).to_have_text(f"共 {len(closed)} 张工单")
    assert set(numbers_on(page)) <= closed
    # Sorted by number, ascending, then descending: the header says which (aria-sort).
    page.get_by_role("link", name="单号").click()
    expect(page.locator("th[aria-sort='ascending']")).to_have_count(1)
    first = numbers_on(page)
    assert first == sorted(first)
    # The next page keeps the filters.
    if len(closed) > 25:
        page.get_by_role("link", name="下一页").click()
        expect(page.get_by_text("第 2 /")).to_be_visible()
        assert set(numbers_on(page)) <= closed
    # A search by number finds that one ticket.
    number = sorted(closed)[0]
    page.goto("/console/tickets")
    page.get_by_label("搜索（单号、描述、地点）").fill(number)
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("ticket-row")).to_have_count(1)
    assert numbers_on(page) == [number]


# --- acting on a ticket: the chat's own functions, the chat's audit lines --------------------------------------


def test_close_reopen_assign_and_comment_from_a_ticket_page(page: Page, houqin: ConsoleHouqin) -> None:
    be(page, "lin.hua")  # 林华, logistics admin
    number = a_ticket(houqin, Ticket.status == "resolved")
    page.goto(f"/console/tickets/{number}")
    page.get_by_label("备注（可选）").first.fill("无人确认，代为关闭")
    page.get_by_test_id("action-close").click()
    expect(page.get_by_test_id("ticket-status")).to_have_text("已关闭")
    expect(page.get_by_test_id("console-done")).to_be_visible()
    assert houqin.audit("ticket.close", number)[-1] == ("ok", "web", "lin.hua")

    page.get_by_test_id("action-reopen").click()
    expect(page.get_by_test_id("ticket-status")).to_have_text(open_as("已重新打开"))
    assert houqin.audit("ticket.reopen", number)[-1] == ("ok", "web", "lin.hua")

    page.get_by_label("改派给").select_option(label=page.get_by_label("改派给").locator("option").nth(1).inner_text())
    page.get_by_test_id("action-assign").click()
    expect(page.get_by_test_id("ticket-status")).to_have_text(open_as("已分派"))
    assert houqin.audit("ticket.assign", number)[-1] == ("ok", "web", "lin.hua")

    page.get_by_label("评论（报修人和技术员会收到）").fill("明早九点前处理")
    page.get_by_test_id("action-comment").click()
    expect(page.get_by_test_id("ticket-comments")).to_contain_text("明早九点前处理")
    bodies = houqin.read(select(TicketComment.body).join(Ticket).where(Ticket.number == number))
    assert ("明早九点前处理",) in [tuple(b) for b in bodies]


def test_a_forged_action_is_refused_on_the_server_and_audited(page: Page, houqin: ConsoleHouqin) -> None:
    """黄丽 sees a finance ticket worked by a logistics technician but does not supervise it: the page
    offers no action, and a POST made by hand (with her valid token) is refused as in chat."""
    be(page, "huang.li")
    technicians = select(Person.id).where(Person.handle.in_(("zhao.lei", "sun.qiang", "zhou.jun", "wu.min")))
    number = a_ticket(
        houqin,
        Ticket.number.in_(finance_scope(houqin)),
        Ticket.status == "resolved",
        Ticket.assignee_id.in_(technicians),
    )
    page.goto(f"/console/tickets/{number}")
    expect(page.get_by_test_id("action-close")).to_have_count(0)
    answer = page.request.post(f"/console/tickets/{number}/close", form={"csrf": csrf_of(page, houqin)})
    assert answer.status == 403
    assert houqin.audit("ticket.close", number)[-1] == ("refused", "web", "huang.li")
    # Without the token, or from another site: refused before anything is asked.
    assert page.request.post(f"/console/tickets/{number}/close", form={"csrf": "nope"}).status == 403
    cross = page.request.post(
        f"/console/tickets/{number}/close",
        form={"csrf": csrf_of(page, houqin)},
        headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert cross.status == 403


def csrf_of(page: Page, houqin: ConsoleHouqin) -> str:
    """The viewer's form token, as every console page carries it (a <meta> for scripts, and hidden fields)."""
    page.goto("/console")
    token = page.locator("meta[name=csrf-token]").get_attribute("content")
    assert token
    return token


# --- live -------------------------------------------------------------------------------------------------


def test_the_queue_updates_itself_when_a_ticket_moves(browser: Browser, houqin: ConsoleHouqin) -> None:
    number = a_ticket(houqin, Ticket.status == "resolved")
    with (
        fresh_page(browser, houqin.base_url, "zh-CN") as dispatcher,
        fresh_page(browser, houqin.base_url, "zh-CN") as colleague,
    ):
        be(dispatcher, "admin")
        dispatcher.goto(f"/console/tickets?q={number}")
        row = dispatcher.get_by_test_id("ticket-row")
        expect(row).to_contain_text("已修好待确认")
        dispatcher.evaluate("() => { window.notReloaded = true; }")
        be(colleague, "lin.hua")
        colleague.goto(f"/console/tickets/{number}")
        colleague.get_by_test_id("action-close").click()
        expect(colleague.get_by_test_id("ticket-status")).to_have_text("已关闭")
        # Within a few polls, without a reload (the page's own state survives).
        expect(row).to_contain_text("已关闭", timeout=20_000)
        assert dispatcher.evaluate("() => window.notReloaded") is True
        expect(dispatcher.get_by_role("status")).to_have_text("列表已更新。")


# --- made for use: phone, keyboard, accessibility, both languages ---------------------------------------------


def test_on_a_phone_the_table_fits_and_the_keyboard_reaches_everything(browser: Browser, houqin: ConsoleHouqin) -> None:
    context = browser.new_context(base_url=houqin.base_url, viewport={"width": 375, "height": 740}, locale="zh-CN")
    try:
        page = context.new_page()
        be(page, "admin")
        page.goto("/console/tickets")
        expect(page.get_by_test_id("ticket-row").first).to_be_visible()
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 375, f"the page is {width}px wide on a 375px phone"
        shot(page, "tickets.phone.zh")
        # The first Tab reaches the skip link, which takes the keyboard to the content.
        page.keyboard.press("Tab")
        expect(page.get_by_role("link", name="跳到正文")).to_be_focused()
        page.keyboard.press("Enter")
        page.keyboard.press("Tab")
        expect(page.get_by_label("搜索（单号、描述、地点）")).to_be_focused()
    finally:
        context.close()


def axe_violations(page: Page) -> list[dict[str, Any]]:
    page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    found = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 3)}))"
    )
    return [v for v in found if v["impact"] in ("serious", "critical")]


def test_axe_finds_no_serious_accessibility_problem(page: Page, houqin: ConsoleHouqin) -> None:
    be(page, "admin")
    number = a_ticket(houqin, Ticket.status == "resolved")
    for path in ("/console", "/console/tickets", f"/console/tickets/{number}", "/console/demo"):
        page.goto(path)
        assert axe_violations(page) == [], path


def test_the_main_pages_in_english(page: Page, houqin: ConsoleHouqin) -> None:
    """Sarah Lin reads English (her own language rule): every word of her pages from the en catalog."""
    be(page, "sarah.lin")
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")
    expect(page.get_by_test_id("week")).to_contain_text("The last 7 days")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    shot(page, "home.en")
    page.get_by_role("link", name="Repair tickets").click()
    expect(page.get_by_test_id("scope")).to_contain_text("IT Centre")
    shot(page, "tickets.en")
    numbers = numbers_on(page)
    if numbers:
        page.get_by_role("link", name=numbers[0], exact=True).click()
        expect(page.get_by_role("heading", name="History")).to_be_visible()
        shot(page, "ticket.en")
    for link, name in (("Requisitions", "requisitions"), ("Surveys", "surveys"), ("Scorecards", "scorecards")):
        page.get_by_role("navigation", name="Console").get_by_role("link", name=link).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(link)
        shot(page, f"{name}.en")


def test_the_chart_carries_json_the_server_computed(page: Page, houqin: ConsoleHouqin) -> None:
    be(page, "admin")
    data = json.loads(page.locator("script[type='application/json']").first.inner_text())
    assert data["type"] == "bar" and len(data["labels"]) == 4
    assert [s["name"] for s in data["series"]] == ["新增", "解决"]


# --- requisitions ------------------------------------------------------------------------------------------


def submitted(houqin: ConsoleHouqin, handle: str, purpose: str, quantity: int = 1) -> str:
    """A requisition as /supply submits it (requisitions.submit: stock reserved, approvers told)."""

    async def submit() -> str:
        db = Database(houqin.database_url)
        try:
            async with db.unit_of_work() as session:
                person = await session.scalar(select(Person).where(Person.handle == handle))
                item = await session.scalar(
                    select(SupplyItem)
                    .where(SupplyItem.active.is_(True), SupplyItem.on_hand - SupplyItem.reserved >= 3)
                    .where(or_(SupplyItem.monthly_limit.is_(None), SupplyItem.monthly_limit >= 20))
                    .order_by((SupplyItem.on_hand - SupplyItem.reserved).desc())
                    .limit(1)
                )
                assert person is not None and item is not None
                actor = Actor(session, person, "web", utcnow(), ZoneInfo("Asia/Shanghai"), SupplyRules())
                found = await requisitions.submit(actor, [(item.id, quantity)], purpose)
                return str(found.number)
        finally:
            await db.dispose()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, submit()).result()


def test_requisitions_as_a_manager_approve_reject_and_refused_elsewhere(page: Page, houqin: ConsoleHouqin) -> None:
    paper = submitted(houqin, "wang.fang", "季度报表打印")  # finance
    toner = submitted(houqin, "li.na", "打印机换粉盒")  # finance
    hr = submitted(houqin, "zhang.wei", "新员工入职")  # hr
    be(page, "huang.li")
    page.get_by_role("navigation", name="管理台导航").get_by_role("link", name="物资申领").click()
    expect(page.get_by_test_id("scope")).to_contain_text("财务处")
    departments = page.get_by_test_id("requisition-row").locator("td:nth-child(3)").all_inner_texts()
    assert departments and set(departments) == {"财务处"}
    page.get_by_label("状态").select_option("pending")
    page.get_by_role("button", name="筛选").click()
    expect(page.get_by_test_id("requisition-row").filter(has_text=paper)).to_have_count(1)
    shot(page, "requisitions.zh")
    page.get_by_role("link", name=paper, exact=True).click()
    page.get_by_test_id("action-approve").click()
    expect(page.get_by_test_id("console-done")).to_contain_text(paper)
    expect(page.get_by_test_id("requisition-status")).to_have_text("已批准，待备货")
    assert houqin.audit("requisition.approve", paper)[-1] == ("ok", "web", "huang.li")
    shot(page, "requisition.zh")

    page.goto(f"/console/requisitions/{toner}")
    page.get_by_label("驳回理由").fill("上月已领")
    page.get_by_test_id("action-reject").click()
    expect(page.get_by_test_id("requisition-status")).to_contain_text("已驳回")
    assert houqin.audit("requisition.reject", toner)[-1] == ("ok", "web", "huang.li")

    response = page.goto(f"/console/requisitions/{hr}")
    assert response is not None and response.status == 403
    assert ("refused", "web", "huang.li") in houqin.audit("requisition.view", hr)


def test_logistics_readies_and_hands_out_from_the_console(page: Page, houqin: ConsoleHouqin) -> None:
    number = submitted(houqin, "zhang.wei", "会议用纸")
    be(page, "xu.ming")  # HR's manager approves
    page.goto(f"/console/requisitions/{number}")
    page.get_by_test_id("action-approve").click()
    expect(page.get_by_test_id("requisition-status")).to_have_text("已批准，待备货")
    be(page, "lin.hua")
    page.goto(f"/console/requisitions/{number}")
    page.get_by_label("领取地点").fill("行政楼一楼库房")
    page.get_by_test_id("action-ready").click()
    expect(page.get_by_test_id("requisition-status")).to_contain_text("行政楼一楼库房")
    page.get_by_test_id("action-handout").click()
    expect(page.get_by_test_id("requisition-status")).to_have_text("已发放")
    assert houqin.audit("requisition.ready", number)[-1] == ("ok", "web", "lin.hua")
    assert houqin.audit("requisition.handout", number)[-1] == ("ok", "web", "lin.hua")
    # Staff may not open it here, whatever they know of its number.
    assert staff_opening(page, number) == 403


def staff_opening(page: Page, number: str) -> int:
    page.goto("/console/demo")
    page.get_by_test_id("pick-guo.tao").click()  # logistics staff: hands things out in chat, no console
    response = page.goto(f"/console/requisitions/{number}")
    assert response is not None
    return response.status


def test_the_requisition_queue_updates_itself(browser: Browser, houqin: ConsoleHouqin) -> None:
    with fresh_page(browser, houqin.base_url, "zh-CN") as page:
        be(page, "lin.hua")
        page.goto("/console/requisitions?status=pending")
        page.evaluate("() => { window.notReloaded = true; }")
        number = submitted(houqin, "emma.clark", "Printer paper for the IT desk")
        expect(page.get_by_test_id("requisition-row").filter(has_text=number)).to_have_count(1, timeout=20_000)
        assert page.evaluate("() => window.notReloaded") is True


def test_axe_on_the_requisition_pages(page: Page, houqin: ConsoleHouqin) -> None:
    number = submitted(houqin, "liu.yang", "教研室用笔")
    be(page, "admin")
    for path in ("/console/requisitions", f"/console/requisitions/{number}"):
        page.goto(path)
        assert axe_violations(page) == [], path


# --- stock -------------------------------------------------------------------------------------------------


def item_figures(houqin: ConsoleHouqin, code: str) -> tuple[int, int]:
    [(on_hand, reserved)] = houqin.read(select(SupplyItem.on_hand, SupplyItem.reserved).where(SupplyItem.code == code))
    return int(on_hand), int(reserved)


def test_stock_a_delivery_and_a_count_through_the_chats_stock_commands(page: Page, houqin: ConsoleHouqin) -> None:
    be(page, "lin.hua")
    page.get_by_role("navigation", name="管理台导航").get_by_role("link", name="库存").click()
    expect(page.get_by_test_id("item-row").first).to_be_visible()
    shot(page, "stock.zh")
    code = page.get_by_test_id("item-row").first.locator("th a").inner_text()
    page.get_by_role("link", name=code, exact=True).click()
    on_hand, reserved = item_figures(houqin, code)
    expect(page.get_by_test_id("item-on-hand")).to_have_text(str(on_hand))
    page.get_by_label("入库数量").fill("40")
    page.get_by_label("备注（可选）").fill("第四季度采购")
    page.get_by_test_id("action-add").click()
    expect(page.get_by_test_id("console-done")).to_have_text("入库已登记。")
    expect(page.get_by_test_id("item-on-hand")).to_have_text(str(on_hand + 40))
    expect(page.get_by_test_id("ledger-row").first).to_contain_text("+40")
    assert houqin.audit("stock.add", code)[-1] == ("ok", "web", "lin.hua")
    # A count below what requisitions have reserved is refused with /stock set's own words.
    page.get_by_label("盘点实数").fill(str(reserved + 5))
    page.get_by_label("盘点说明").fill("年末盘点")
    page.get_by_test_id("action-set").click()
    expect(page.get_by_test_id("item-on-hand")).to_have_text(str(reserved + 5))
    assert houqin.audit("stock.set", code)[-1] == ("ok", "web", "lin.hua")
    # The reorder level above what is available: the item is marked for reordering (/stock threshold).
    page.get_by_label("补货线").fill("100000")
    page.get_by_test_id("action-threshold").click()
    expect(page.get_by_test_id("console-done")).to_have_text("补货线已更新。")
    expect(page.get_by_text("可用数量已降到补货线")).to_be_visible()
    page.get_by_label("每人每月限领（留空为不限）").fill("")
    page.get_by_test_id("action-limit").click()
    expect(page.get_by_test_id("console-done")).to_have_text("每月限领已更新。")
    assert houqin.audit("stock.limit", code)[-1] == ("ok", "web", "lin.hua")
    shot(page, "stock-item.zh")
    # A manager has no stock page; asked for by its address, refused and audited as /stock is.
    be(page, "huang.li")
    expect(page.get_by_role("navigation").get_by_role("link", name="库存")).to_have_count(0)
    response = page.goto(f"/console/stock/{code}")
    assert response is not None and response.status == 403
    assert ("refused", "web", "huang.li") in houqin.audit("stock.manage")
    forged = page.request.post(f"/console/stock/{code}/add", form={"csrf": csrf_of(page, houqin), "quantity": "5"})
    assert forged.status == 403
    assert item_figures(houqin, code)[0] == reserved + 5


def test_axe_on_the_stock_pages(page: Page, houqin: ConsoleHouqin) -> None:
    be(page, "admin")
    page.goto("/console/stock")
    assert axe_violations(page) == []
    code = page.get_by_test_id("item-row").first.locator("th a").inner_text()
    page.goto(f"/console/stock/{code}")
    assert axe_violations(page) == []


# --- statistics ------------------------------------------------------------------------------------------


def test_statistics_over_a_period_with_charts_drawn_in_the_browser(page: Page, houqin: ConsoleHouqin) -> None:
    be(page, "admin")
    page.get_by_role("navigation", name="管理台导航").get_by_role("link", name="统计").click()
    expect(page.get_by_test_id("stats-line").first).to_be_visible()
    # The /stats chart by category, repairs by week, on time, satisfaction, NPS, supplies by department.
    expect(page.locator("canvas[data-chart][data-drawn='1']")).to_have_count(6)
    shot(page, "stats.zh")
    assert axe_violations(page) == []
    # The service runs on the real clock: a period of 200 days up to today there.
    first = (utcnow().astimezone(ZoneInfo("Asia/Shanghai")).date() - timedelta(days=200)).isoformat()
    page.get_by_label("从").fill(first)
    page.get_by_role("button", name="查看").click()
    expect(page.locator("#figures-title")).to_contain_text(first)
    # A manager reads them as /stats lets her; staff are refused.
    be(page, "sarah.lin")
    page.goto("/console/stats")
    expect(page.locator("canvas[data-chart][data-drawn='1']").first).to_be_visible()
    shot(page, "stats.en")
    page.goto("/console/demo")
    page.get_by_test_id("pick-emma.clark").click()
    response = page.goto("/console/stats")
    assert response is not None and response.status == 403


# --- the audit log -----------------------------------------------------------------------------------------


def test_the_audit_log_with_filters_for_admins_only(page: Page, houqin: ConsoleHouqin) -> None:
    be(page, "wang.fang")  # refused: an audit line to find
    be(page, "admin")
    page.get_by_role("navigation", name="管理台导航").get_by_role("link", name="审计日志").click()
    expect(page.get_by_test_id("audit-row").first).to_be_visible()
    shot(page, "audit.zh")
    assert axe_violations(page) == []
    page.get_by_label("人员（@账号或姓名）").fill("@wang.fang")
    page.get_by_label("结果").select_option("refused")
    page.get_by_role("button", name="筛选").click()
    rows = page.get_by_test_id("audit-row")
    expect(rows.first).to_contain_text("王芳")
    assert all("已拒绝" in text for text in rows.all_inner_texts())
    refused = houqin.read(
        select(AuditEntry.id)
        .join(Person, Person.id == AuditEntry.actor_id)
        .where(Person.handle == "wang.fang", AuditEntry.outcome == "refused")
    )
    expect(page.get_by_test_id("audit-count")).to_have_text(f"共 {len(refused)} 条记录")
    page.get_by_label("人员（@账号或姓名）").fill("@nobody.here")
    page.get_by_role("button", name="筛选").click()
    expect(page.get_by_test_id("audit-nobody")).to_be_visible()
    # Managers and logistics admins may not read it (audit.view is the admins'), as /audit.
    be(page, "lin.hua")
    response = page.goto("/console/audit")
    assert response is not None and response.status == 403


# --- suggestions -------------------------------------------------------------------------------------------


def test_the_suggestion_box_reply_and_status_as_the_office_does_in_chat(page: Page, houqin: ConsoleHouqin) -> None:
    [(reviewed,)] = houqin.read(
        select(Suggestion.id).where(Suggestion.status == "review").order_by(Suggestion.id.desc()).limit(1)
    )
    be(page, "lin.hua")
    page.get_by_role("navigation", name="管理台导航").get_by_role("link", name="意见箱").click()
    expect(page.get_by_test_id("suggestion-row").first).to_be_visible()
    shot(page, "suggestions.zh")
    assert axe_violations(page) == []
    page.goto(f"/console/suggestions/{reviewed}")
    expect(page.get_by_test_id("suggestion-card")).to_contain_text("研究中")
    page.get_by_label("回复建议人（匿名建议也能收到）").fill("已安排维修，下周完成。")
    page.get_by_test_id("action-reply").click()
    expect(page.get_by_test_id("console-done")).to_be_visible()
    expect(page.get_by_test_id("suggestion-thread")).to_contain_text("已安排维修，下周完成。")
    assert houqin.audit("suggest.reply", f"suggestion:{reviewed}")[-1] == ("ok", "web", "lin.hua")
    page.get_by_label("新状态").select_option("adopted")
    page.get_by_test_id("action-status").click()
    expect(page.get_by_test_id("console-refused")).to_contain_text("采纳建议时请写明做了什么")
    page.goto(f"/console/suggestions/{reviewed}")
    page.get_by_label("新状态").select_option("adopted")
    page.get_by_label("采纳后做了什么（采纳时必填）").fill("更换了三楼饮水机")
    page.get_by_test_id("action-status").click()
    expect(page.get_by_test_id("suggestion-status")).to_have_text("已采纳")
    assert houqin.audit("suggest.status", f"suggestion:{reviewed}")[-1] == ("ok", "web", "lin.hua")
    assert axe_violations(page) == []
    # A manager is not the office: refused, as /suggest inbox refuses her.
    be(page, "huang.li")
    response = page.goto("/console/suggestions")
    assert response is not None and response.status == 403


# --- surveys -----------------------------------------------------------------------------------------------


def test_survey_results_with_a_chart_per_question_and_the_export(page: Page, houqin: ConsoleHouqin) -> None:
    be(page, "admin")
    page.get_by_role("navigation", name="管理台导航").get_by_role("link", name="问卷").click()
    expect(page.get_by_test_id("survey-row").first).to_be_visible()
    first = page.get_by_test_id("survey-row").first.locator("th a")
    number = first.inner_text().lstrip("#")
    first.click()
    expect(page.get_by_test_id("survey-question").first).to_be_visible()
    charted = page.locator("canvas[data-chart]").count()
    assert charted >= 1
    expect(page.locator("canvas[data-chart][data-drawn='1']")).to_have_count(charted)
    shot(page, "survey.zh")
    assert axe_violations(page) == []
    with page.expect_download() as download:
        page.get_by_role("link", name="导出 Excel").click()
    assert download.value.suggested_filename == f"survey-{number}.xlsx"
    # 马红 manages teaching: a survey to everyone, anonymous, is not hers to read (as /survey results).
    be(page, "ma.hong")
    page.goto("/console/surveys")
    visible = [t.lstrip("#") for t in page.get_by_test_id("survey-row").locator("th a").all_inner_texts()]
    if number not in visible:
        response = page.goto(f"/console/surveys/{number}")
        assert response is not None and response.status == 403
        assert ("refused", "web", "ma.hong") in houqin.audit("survey.results")


# --- the organisation --------------------------------------------------------------------------------------


def test_the_organisation_and_an_import_with_errors_line_by_line(
    page: Page, houqin: ConsoleHouqin, tmp_path: Path
) -> None:
    bad = tmp_path / "people.csv"
    bad.write_text(
        "handle,name,department,roles\n"
        "chen.xin,陈欣,finance,staff\n"
        "qian.li,钱立,nowhere,staff\n"
        "chen.xin,陈欣二,finance,wizard\n",
        encoding="utf-8",
    )
    good = tmp_path / "people-good.csv"
    good.write_text("handle,name,department,roles\nchen.xin,陈欣,finance,staff\n", encoding="utf-8")
    be(page, "admin")
    page.get_by_role("navigation", name="管理台导航").get_by_role("link", name="组织").click()
    expect(page.get_by_test_id("person-row").first).to_be_visible()
    page.get_by_label("文件").set_input_files(str(bad))
    page.get_by_label("检查无误后导入").check()
    page.get_by_test_id("action-import").click()
    problems = page.get_by_test_id("import-problem")
    expect(problems).to_have_count(3)
    expect(problems.nth(0)).to_have_text("第 3 行：没有部门「nowhere」。")
    expect(problems.nth(1)).to_have_text("第 4 行：角色「wizard」不可用。")
    expect(problems.nth(2)).to_have_text("第 4 行：「chen.xin」在文件中重复。")
    shot(page, "org-import-errors.zh")
    assert axe_violations(page) == []
    assert houqin.read(select(Person.id).where(Person.handle == "chen.xin")) == []
    # A good file: checked first, imported once confirmed — /org import's own audit line.
    page.get_by_label("文件").set_input_files(str(good))
    page.get_by_test_id("action-import").click()
    expect(page.get_by_test_id("import-checked")).to_be_visible()
    assert houqin.read(select(Person.id).where(Person.handle == "chen.xin")) == []
    page.get_by_label("文件").set_input_files(str(good))
    page.get_by_label("检查无误后导入").check()
    page.get_by_test_id("action-import").click()
    expect(page.get_by_test_id("import-done")).to_be_visible()
    assert len(houqin.read(select(Person.id).where(Person.handle == "chen.xin"))) == 1
    assert houqin.audit("org.import")[-1] == ("ok", "web", "admin")
    # 林华 may see the organisation (org.view) but not import (org.import): no form, and a POST refused.
    be(page, "lin.hua")
    page.goto("/console/org")
    expect(page.get_by_test_id("person-row").first).to_be_visible()
    expect(page.get_by_test_id("action-import")).to_have_count(0)
    refused = page.request.post(
        "/console/org/import",
        multipart={
            "csrf": csrf_of(page, houqin),
            "file": {"name": "p.csv", "mimeType": "text/csv", "buffer": good.read_bytes()},
        },
    )
    assert refused.status == 403
    assert houqin.audit("org.import")[-1] == ("refused", "web", "lin.hua")
    be(page, "huang.li")
    response = page.goto("/console/org")
    assert response is not None and response.status == 403


# --- scorecards --------------------------------------------------------------------------------------------


def test_scorecards_every_department_for_an_admin_a_managers_own(page: Page, houqin: ConsoleHouqin) -> None:
    be(page, "admin")
    page.get_by_role("navigation", name="管理台导航").get_by_role("link", name="考核").click()
    page.get_by_role("link", name="上个月").click()  # a whole month of the demo's past
    cards = page.get_by_test_id("scorecard")
    expect(cards.first).to_be_visible()
    assert cards.count() >= 2  # logistics' technicians, and IT's
    expect(page.locator("canvas[data-chart][data-drawn='1']")).to_have_count(cards.count())
    shot(page, "scorecards.zh")
    assert axe_violations(page) == []
    be(page, "sarah.lin")  # IT's manager: IT's card only
    page.goto("/console/scorecards")
    page.get_by_role("link", name="The month before").click()
    expect(page.get_by_test_id("scorecard")).to_have_count(1)
    expect(page.get_by_test_id("scorecard-row")).to_contain_text(["Tom Baker"])
    page.goto("/console/demo")
    page.get_by_test_id("pick-tom.baker").click()  # a technician: his own card in chat, no console
    response = page.goto("/console/scorecards")
    assert response is not None and response.status == 403


# --- a ticket's photos ----------------------------------------------------------------------------------------


def test_a_tickets_photo_for_those_who_may_see_the_ticket_only(page: Page, houqin: ConsoleHouqin) -> None:
    number = a_ticket(houqin, Ticket.number.in_(finance_scope(houqin)))
    picture = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 40, 40)).save(picture, "PNG")
    for session in houqin.session():
        ticket = session.scalar(select(Ticket).where(Ticket.number == number))
        assert ticket is not None
        photo = Photo(
            person_id=ticket.reporter_id,
            ticket_id=ticket.id,
            channel="web",
            content=picture.getvalue(),
            content_type="image/png",
            size=len(picture.getvalue()),
        )
        session.add(photo)
        session.commit()
        photo_id = photo.id
    be(page, "huang.li")  # finance's manager: the ticket is her department's
    page.goto(f"/console/tickets/{number}")
    image = page.get_by_role("img", name="照片 1")
    expect(image).to_be_visible()
    assert page.request.get(f"/console/photos/{photo_id}").headers["content-type"] == "image/png"
    page.wait_for_function("() => document.querySelector('.photos img').naturalWidth === 64")
    be(page, "sarah.lin")  # IT's manager: not hers, and the photo answers as if there were none
    if number not in it_scope(houqin):
        assert page.request.get(f"/console/photos/{photo_id}").status == 404


def it_scope(houqin: ConsoleHouqin) -> set[str]:
    reporter, assignee = aliased(Person), aliased(Person)
    it = select(Department.id).where(Department.code == "it").scalar_subquery()
    rows = houqin.read(
        select(Ticket.number)
        .join(reporter, reporter.id == Ticket.reporter_id)
        .outerjoin(assignee, assignee.id == Ticket.assignee_id)
        .where(or_(reporter.department_id == it, assignee.department_id == it))
    )
    return {str(row[0]) for row in rows}


# --- every page, as each kind of person ------------------------------------------------------------------------

# Every page of the console, and who may open it: "all" (admins, logistics admins, managers — a manager
# sees her department's part), "office" (admins and logistics admins: stock, the suggestion box, the
# organisation), "admin" (the audit log).
PAGES = {
    "/console": "all",
    "/console/tickets": "all",
    "/console/requisitions": "all",
    "/console/stats": "all",
    "/console/scorecards": "all",
    "/console/surveys": "all",
    "/console/stock": "office",
    "/console/suggestions": "office",
    "/console/org": "office",
    "/console/audit": "admin",
}


@pytest.mark.parametrize("path", sorted(PAGES))
def test_each_page_as_an_admin_a_manager_and_a_staff_member(page: Page, houqin: ConsoleHouqin, path: str) -> None:
    for handle, opens in (
        ("admin", {"all", "office", "admin"}),
        ("huang.li", {"all"}),
        ("wang.fang", set()),
    ):
        page.goto("/console/demo")
        page.get_by_test_id(f"pick-{handle}").click()
        response = page.goto(path)
        assert response is not None
        assert response.status == (200 if PAGES[path] in opens else 403), (handle, path)
        if response.status == 403:
            expect(page.get_by_test_id("console-refused")).to_be_visible()
        elif handle == "huang.li" and path in ("/console/tickets", "/console/requisitions"):
            expect(page.get_by_test_id("scope")).to_contain_text("财务处")


def test_every_page_fits_a_phone(browser: Browser, houqin: ConsoleHouqin) -> None:
    context = browser.new_context(base_url=houqin.base_url, viewport={"width": 360, "height": 740}, locale="zh-CN")
    try:
        page = context.new_page()
        be(page, "admin")
        for path in PAGES:
            page.goto(path)
            width = page.evaluate("() => document.documentElement.scrollWidth")
            assert width <= 360, f"{path} is {width}px wide on a 360px phone"
        shot(page, "audit.phone.zh")
    finally:
        context.close()


def test_roles_granted_and_revoked_through_role(page: Page, houqin: ConsoleHouqin) -> None:
    be(page, "admin")
    page.goto("/console/org")
    page.get_by_label("授予还是收回").select_option("grant")
    page.get_by_label("人员（@账号）").fill("@li.na")
    page.get_by_label("哪个角色").select_option("technician")
    page.get_by_label("范围（维修工的专业、负责人的部门编码）").fill("cleaning")
    page.get_by_test_id("action-role").click()
    expect(page.get_by_test_id("role-said")).to_contain_text("李娜")
    assert houqin.audit("role.grant")[-1] == ("ok", "web", "admin")
    page.get_by_label("搜索（姓名、@账号）").fill("@li.na")
    page.get_by_role("button", name="筛选").click()
    expect(page.get_by_test_id("person-row")).to_contain_text("维修工（保洁）")
    # The last admin cannot be revoked, here as in chat.
    page.get_by_label("授予还是收回").select_option("revoke")
    page.get_by_label("人员（@账号）").fill("@admin")
    page.get_by_label("哪个角色").select_option("admin")
    page.get_by_test_id("action-role").click()
    expect(page.get_by_test_id("role-said")).to_be_visible()
    assert houqin.audit("role.revoke")[-1] == ("refused", "web", "admin")
    # A logistics admin sees the organisation but grants nothing: no form, and a forged POST refused.
    be(page, "lin.hua")
    page.goto("/console/org")
    expect(page.get_by_test_id("action-role")).to_have_count(0)
    forged = page.request.post(
        "/console/org/role",
        form={"csrf": csrf_of(page, houqin), "change": "grant", "person": "@lin.hua", "role": "admin"},
    )
    assert forged.status == 200  # the page, saying what /role says to her: not allowed
    assert houqin.audit("role.grant")[-1] == ("refused", "web", "lin.hua")


def test_a_department_and_a_room_added_through_org(page: Page, houqin: ConsoleHouqin) -> None:
    be(page, "admin")
    page.goto("/console/org")
    page.get_by_label("添加什么").select_option("department")
    page.get_by_label("编码", exact=True).fill("library")
    page.get_by_label("中文名称", exact=True).fill("图书馆")
    page.get_by_label("英文名称（可选）").fill("Library")
    page.get_by_test_id("action-add-unit").click()
    expect(page.get_by_test_id("role-said")).to_contain_text("图书馆")
    expect(page.get_by_test_id("departments")).to_contain_text("图书馆")
    assert houqin.audit("org.department_add", "department:library")[-1] == ("ok", "web", "admin")
    page.get_by_label("添加什么").select_option("room")
    page.get_by_label("房间所在楼宇编码（仅房间）").fill("A")
    page.get_by_label("编码", exact=True).fill("410")
    page.get_by_label("中文名称", exact=True).fill("档案室")
    page.get_by_test_id("action-add-unit").click()
    expect(page.get_by_test_id("buildings")).to_contain_text("410")
    # The same code again: /org's own answer, nothing added.
    page.get_by_label("添加什么").select_option("room")
    page.get_by_label("房间所在楼宇编码（仅房间）").fill("A")
    page.get_by_label("编码", exact=True).fill("410")
    page.get_by_label("中文名称", exact=True).fill("档案室")
    page.get_by_test_id("action-add-unit").click()
    expect(page.get_by_test_id("role-said")).to_contain_text("410")
    assert len(houqin.audit("org.room_add", "room:A-410")) == 1
    # A logistics admin (org.view, not org.change): no form; a forged POST refused and audited.
    be(page, "lin.hua")
    page.goto("/console/org")
    expect(page.get_by_test_id("action-add-unit")).to_have_count(0)
    page.request.post(
        "/console/org/add",
        form={"csrf": csrf_of(page, houqin), "kind": "department", "code": "x1", "name_zh": "某部"},
    )
    assert houqin.audit("org.change")[-1] == ("refused", "web", "lin.hua")
