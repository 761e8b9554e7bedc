"""Supply requisitions in Telegram: a requester, her manager, the logistics admin and a storekeeper.

Through python-telegram-bot's Application and HTTP layer against the fake Bot API, on SQLite and
PostgreSQL: search, a cart of three items, two approvals, ready for pickup, handed out; a rejection
told in the requester's language; a cancellation; a cart resumed after a restart; a catalog import.
The stock ledger is checked after every step that moves stock.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable

import pytest
from openpyxl import Workbook
from sqlalchemy import delete, select

from bot.service import Service, build_service
from storage.db import Database
from storage.models import PersonRole, Requisition, SupplyItem
from tests.channels import unpaced_telegram
from tests.dialog.conftest import telegram_settings
from tests.dialog.telegram_person import TelegramPerson
from tests.dialog.test_ticket_life_telegram import make_staff
from tests.fakes.telegram_api import FakeBotAPI, FakeMessage
from tests.supplies import ledger_disagreements, movements, requisition, stock_of

NUMBER = re.compile(r"S-\d{4}-\d{6}")


def card(who: TelegramPerson, number: str) -> FakeMessage:
    """The one message showing this requisition's card in someone's chat (edited in place)."""
    cards = [m for m in who.chat if (m.text or "").startswith(f"📦 {number}")]
    assert len(cards) == 1, f"expected one card for {number}, found {len(cards)}: {[m.text for m in who.chat]}"
    return cards[0]


def labels(message: FakeMessage) -> list[str]:
    return [str(b["text"]) for b in message.buttons]


@pytest.fixture
async def stores(db: Database, telegram_user: Callable[..., TelegramPerson]) -> dict[str, TelegramPerson]:
    """Finance's manager, the logistics admin and a storekeeper, all in Telegram. (The demo's own
    approvers and storekeepers use the browser; here they step aside.)"""
    async with db.unit_of_work() as session:
        await session.execute(
            delete(PersonRole).where(PersonRole.role.in_(("logistics_admin", "logistics_staff", "admin")))
        )
        await session.execute(delete(PersonRole).where(PersonRole.role == "manager", PersonRole.scope == "finance"))
    team = {
        "huang": telegram_user(8201, "黄主任"),
        "lin": telegram_user(8202, "林主任"),
        "guo": telegram_user(8203, "郭师傅"),
    }
    await make_staff(db, team["huang"], "manager:finance", department="finance")
    await make_staff(db, team["lin"], "logistics_admin")
    await make_staff(db, team["guo"], "logistics_staff")
    return team


async def a_requester(db: Database, who: TelegramPerson) -> TelegramPerson:
    await make_staff(db, who, department="finance")
    return who


async def test_from_a_search_to_three_items_handed_out_after_two_approvals(
    db: Database, telegram_user: Callable[..., TelegramPerson], stores: dict[str, TelegramPerson]
) -> None:
    huang, lin, guo = stores["huang"], stores["lin"], stores["guo"]
    wang = await a_requester(db, telegram_user(8001, "小王"))

    # She searches for paper straight from the command, and sees what is available now.
    found = await wang.says("/supply 打印纸")
    assert found.texts[-1] == "找到 2 个与「打印纸」相关的物品，请选择（按钮上是现在可领的数量）："
    assert labels(found.messages[-1]) == [
        "A3 打印纸 80g 500张 · 可领 30 包",
        "A4 打印纸 70g 500张 · 可领 200 包",
        "← 上一步",
        "✖ 取消",
    ]
    asked = await wang.presses("A4 打印纸")
    assert asked.texts == ["A4 打印纸 70g 500张：要多少包？现在可领 200 包。\n每人每月限领 20，本月你还能领 20。"]
    assert labels(asked.messages[-1]) == ["1", "2", "5", "10", "← 上一步", "✖ 取消"]
    cart = await wang.says("10")
    assert cart.texts == ["已选 1 种，共 10 件：\n· A4 打印纸 70g 500张 × 10 包 · 现可领 200\n还要领别的吗？"]

    # Pens, from the stationery shelf: seven kinds, six to a page.
    await wang.presses("➕ 再选一件")
    first_page = await wang.presses("文具")
    assert first_page.text.endswith("（第 1/2 页）")
    assert "黑色中性笔 0.5mm · 可领 300 支" in labels(first_page.messages[-1])
    second_page = await wang.presses("下一页 ▶")
    assert labels(second_page.messages[-1]) == ["透明胶带 · 可领 60 卷", "◀ 上一页", "← 上一步", "✖ 取消"]
    await wang.presses("◀ 上一页")
    await wang.presses("黑色中性笔")
    assert "已选 2 种，共 20 件" in await wang.presses("10")

    # Toner, by typing its name where the categories are offered.
    await wang.presses("➕ 再选一件")
    assert "找到 1 个与「硒鼓」相关的物品" in await wang.says("硒鼓")
    await wang.presses("惠普 26A")
    await wang.says("1")
    await wang.presses("✔ 选好了")
    summary = await wang.says("财务处月底报表打印")
    assert summary.texts[0] == (
        "请确认物资申领：\n"
        "· A4 打印纸 70g 500张 × 10 包 · 现可领 200\n"
        "· 黑色中性笔 0.5mm × 10 支 · 现可领 300\n"
        "· 惠普 26A 黑色硒鼓 × 1 个 · 现可领 12\n"
        "合计：21 件 · ¥675.00\n"
        "用途：财务处月底报表打印\n"
        "提交后由 黄主任 审批；数量（21 件，标准 20 件）和金额（¥675.00，标准 ¥500.00）都超过标准，还需后勤主管审批。"
    )
    done = await wang.presses("✔ 提交")
    number = NUMBER.search(done.text)
    assert number is not None and "物品已为你预留。正在等部门负责人审批。" in done.text
    number_ = number.group()
    assert [await stock_of(db, c) for c in ("PAPER-A4", "PEN-GEL-BK", "TONER-HP26A")] == [(200, 10), (300, 10), (12, 1)]
    assert (await movements(db, "PAPER-A4"))[-1] == ("reservation", 0, 10)
    assert await ledger_disagreements(db) == {}

    # Her manager approves from the card; it goes on to the logistics admin (21 items > 20).
    manager_card = card(huang, number_)
    assert "小王（财务处）" in (manager_card.text or "") and "状态：待部门负责人审批" in (manager_card.text or "")
    assert labels(manager_card) == ["✔ 批准", "✖ 驳回"]
    await huang.presses("✔ 批准")
    assert "状态：待后勤主管审批（黄主任 已批准）" in (card(huang, number_).text or "")
    assert card(huang, number_).buttons == []
    assert "已由 黄主任 批准，正在等后勤主管审批" in (wang.latest(number_).text or "")
    assert labels(card(lin, number_)) == ["✔ 批准", "✖ 驳回"]
    assert await ledger_disagreements(db) == {} and (await movements(db, "PAPER-A4"))[-1] == ("reservation", 0, 10)
    assert [m for m in guo.chat if number_ in (m.text or "")] == []  # nothing for the storekeeper yet

    # The logistics admin approves the second step; the storekeeper gets the card to act on.
    await lin.presses("✔ 批准")
    assert "后勤正在备货" in (wang.latest("已批准（林主任）").text or "")
    assert "状态：已批准，待备货（黄主任 / 林主任 已批准）" in (card(guo, number_).text or "")
    assert labels(card(guo, number_)) == ["📦 备好待领", "✅ 全部发放", "✂ 部分发放"]
    assert [await stock_of(db, c) for c in ("PAPER-A4", "PEN-GEL-BK", "TONER-HP26A")] == [(200, 10), (300, 10), (12, 1)]
    assert await ledger_disagreements(db) == {}

    # Ready for pickup: where to collect it reaches the requester.
    assert "到哪里领取" in await guo.presses("📦 备好待领")
    assert "申领人会收到领取地点" in await guo.says("行政楼 101 后勤保障处")
    assert "📦 你申领的物品（" in (wang.latest("请到 行政楼 101 后勤保障处 领取").text or "")
    assert labels(card(guo, number_)) == ["✅ 全部发放", "✂ 部分发放"]
    assert "已备好待领取 · 领取地点：行政楼 101 后勤保障处" in (card(guo, number_).text or "")
    assert (await movements(db, "PEN-GEL-BK"))[-1] == ("reservation", 0, 10) and await ledger_disagreements(db) == {}

    # Handed out: the stock leaves the shelf, and the ledger says so.
    await guo.presses("✅ 全部发放")
    assert "已发放给你" in (wang.latest(f"{number_} 的物品").text or "")
    assert "状态：已发放" in (card(guo, number_).text or "") and card(guo, number_).buttons == []
    assert [await stock_of(db, c) for c in ("PAPER-A4", "PEN-GEL-BK", "TONER-HP26A")] == [(190, 0), (290, 0), (11, 0)]
    assert (await movements(db, "TONER-HP26A"))[-2:] == [("reservation", 0, 1), ("handout", -1, -1)]
    assert await ledger_disagreements(db) == {}

    handed = await requisition(db, number_)
    assert handed.status == "handed_out" and [line.handed_out for line in handed.lines] == [10, 10, 1]
    assert [e.to_status for e in handed.history] == [
        "pending_manager",
        "pending_admin",
        "approved",
        "ready",
        "handed_out",
    ]
    assert "你目前没有未完成的申请" in await wang.says("/my")


async def test_a_rejection_is_told_in_the_requesters_own_language(
    db: Database, telegram_user: Callable[..., TelegramPerson], stores: dict[str, TelegramPerson]
) -> None:
    huang = stores["huang"]
    sam = await a_requester(db, telegram_user(8002, "Sam", "en"))
    await sam.says("/supply")
    await sam.presses("Cleaning goods")
    await sam.presses("Hand soap 500 ml")
    assert "· Hand soap 500 ml × 2 bottles · 40 available now" in await sam.says("2 bottles")
    await sam.presses("➕ Add another item")
    await sam.presses("Cleaning goods")
    await sam.presses("Rubber gloves")
    assert "· Rubber gloves × 1 pair · 50 available now" in await sam.says("1")  # one pair, not "1 pairs"
    await sam.presses("✖ Remove Rubber gloves")
    await sam.presses("✔ That's all")
    await sam.says("Refill the 3rd floor washrooms")
    done = await sam.presses("✔ Submit")
    assert done.texts[0].startswith("✅ Requisition S-")
    number = NUMBER.search(done.text)
    assert number is not None
    assert await stock_of(db, "HAND-SOAP") == (40, 2)

    assert "请说明驳回的原因" in await huang.presses("✖ 驳回")
    assert "已驳回" in await huang.says("本月预算已用完")
    told = sam.latest(f"rejected your requisition {number.group()}")
    assert told.text == (
        f"黄主任 rejected your requisition {number.group()}: 本月预算已用完\nThe reserved items went back to stock."
    )
    assert "已驳回（审批人：黄主任）：本月预算已用完" in (card(huang, number.group()).text or "")
    assert await stock_of(db, "HAND-SOAP") == (40, 0)
    assert (await movements(db, "HAND-SOAP"))[-2:] == [("reservation", 0, 2), ("release", 0, -2)]
    assert await ledger_disagreements(db) == {}


async def test_the_requester_cancels_and_the_stock_comes_back(
    db: Database, telegram_user: Callable[..., TelegramPerson], stores: dict[str, TelegramPerson]
) -> None:
    huang = stores["huang"]
    wang = await a_requester(db, telegram_user(8001, "小王"))
    await wang.says("/supply 电池")
    await wang.presses("5 号电池")
    await wang.presses("5")
    await wang.presses("✔ 选好了")
    await wang.says("会议室遥控器")
    number = NUMBER.search((await wang.presses("✔ 提交")).text)
    assert number is not None
    assert await stock_of(db, "BATT-AA") == (200, 5)
    assert "你的物资申领（1 个）" in await wang.says("/my")

    shown = await wang.says(f"/requisition {number.group()}")
    assert "处理记录：" in shown.text and labels(shown.messages[-1]) == ["撤销申领"]
    assert "已撤销，预留的物品已退回库存" in await wang.presses("撤销申领")
    assert await stock_of(db, "BATT-AA") == (200, 0)
    assert "状态：已撤销" in (card(huang, number.group()).text or "") and card(huang, number.group()).buttons == []
    assert "当前是「已撤销」" in await huang.presses_data(
        card(huang, number.group()).message_id, f"rq:{(await requisition(db, number.group())).id}:approve", strict=False
    )
    assert await ledger_disagreements(db) == {}


async def test_a_half_filled_cart_survives_a_restart(
    db: Database,
    bot_api: FakeBotAPI,
    telegram: Service,
    telegram_user: Callable[..., TelegramPerson],
    stores: dict[str, TelegramPerson],
) -> None:
    qian = await a_requester(db, telegram_user(8005, "钱"))
    await qian.says("/supply")
    await qian.presses("清洁用品")
    await qian.presses("消毒湿巾")
    await qian.says("3")
    await telegram.stop()  # the process goes away with a cart of one line

    restarted = unpaced_telegram(build_service(telegram_settings(db, bot_api)))  # as the first process
    await restarted.start()
    try:
        # The buttons under the cart still work: the cart is in the database, not in memory.
        assert "要领什么" in await qian.presses("➕ 再选一件")
        await qian.presses("清洁用品")
        await qian.presses("橡胶手套")
        assert "已选 2 种，共 5 件" in await qian.presses("2")
        await qian.presses("✔ 选好了")
        await qian.says("食堂后厨")
        assert "物资申领已提交" in await qian.presses("✔ 提交")
    finally:
        await restarted.stop()
    async with db.unit_of_work() as session:
        [submitted] = (await session.scalars(select(Requisition))).all()
        assert sorted((line.item.code, line.quantity) for line in submitted.lines) == [("GLOVES", 2), ("WIPES", 3)]
    assert await ledger_disagreements(db) == {}


def a_spreadsheet(rows: list[list[object]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.mark.subprocess  # the file is parsed in a child process (handlers/core/uploads.py)
async def test_the_logistics_admin_imports_the_catalog_from_a_spreadsheet(
    db: Database, telegram_user: Callable[..., TelegramPerson], stores: dict[str, TelegramPerson]
) -> None:
    lin, guo = stores["lin"], stores["guo"]
    header: list[object] = ["编码", "名称", "英文名称", "类别", "单位", "库存", "补货线", "每月限领", "单价"]
    sheet = a_spreadsheet(
        [
            header,
            ["MASK-N95", "N95 口罩", "N95 mask", "清洁用品", "个", 500, 100, 20, 3.5],
            ["PAPER-A4", "A4 打印纸 70g", "A4 copy paper, 70 g", "paper", "pack", 999, 50, 15, "25.00"],
        ]
    )
    # Only logistics admins may, and the file never reaches a half-done import.
    assert "只有后勤主管和系统管理员" in await guo.sends_file("catalog.xlsx", XLSX, sheet, caption="/stock import")

    asked = await lin.sends_file("catalog.xlsx", XLSX, sheet, caption="/stock import")
    assert "文件里有 2 个物品：新增 1 个，更新 1 个。" in asked.text
    assert "· MASK-N95 N95 口罩：库存 500" in asked.text
    assert "导入完成：新增 1 个物品，更新 1 个" in await lin.presses("✔ 提交")
    async with db.unit_of_work() as session:
        mask = await session.scalar(select(SupplyItem).where(SupplyItem.code == "MASK-N95"))
        paper = await session.scalar(select(SupplyItem).where(SupplyItem.code == "PAPER-A4"))
    assert mask is not None and (mask.category, mask.unit, mask.unit_price, mask.monthly_limit) == (
        "cleaning",
        "piece",
        350,
        20,
    )
    # A known item's names, threshold and limit change; its stock only moves with /stock add or set.
    assert paper is not None and (paper.name_zh, paper.reorder_at, paper.monthly_limit, paper.on_hand) == (
        "A4 打印纸 70g",
        50,
        15,
        200,
    )
    assert await movements(db, "MASK-N95") == [("receipt", 500, 0)]
    assert await ledger_disagreements(db) == {}

    broken = "code,name_zh,name_en,category,unit,stock\nPEN-X,笔,Pen,stationery,支,ten\n,无编码,No code,toys,箱,1\n"
    problems = await lin.sends_file("more.csv", "text/csv", broken.encode(), caption="/stock import")
    assert "文件有 4 处问题，什么都没有导入" in problems.text
    assert "第 2 行：stock「ten」不是有效的数字。" in problems.text
    assert "第 3 行：不认识类别「toys」" in problems.text and "第 3 行：不认识单位「箱」" in problems.text
    assert "第 3 行：缺少 code。" in problems.text
    # A file with no command, outside any flow, is not understood; nothing is imported from it.
    assert "我没看懂" in await lin.sends_document("notes.pdf", "application/pdf")
