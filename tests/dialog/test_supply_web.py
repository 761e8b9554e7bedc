"""Supply requisitions in the browser chat, read as the conversations they are: quantities people
really type, a cart emptied and left, a storekeeper handing out less than was asked, an import."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from storage.db import Database
from storage.models import Requisition, SupplyItem
from tests.dialog.web_person import PNG_1X1, WebPerson
from tests.supplies import ledger_disagreements, movements, requisition, stock_of

NUMBER = re.compile(r"S-\d{4}-\d{6}")


async def test_quantities_that_cannot_be_taken_are_answered_and_change_nothing(
    db: Database, person: Callable[[str], WebPerson]
) -> None:
    emma = person("emma.clark")
    await emma.says("/supply")
    await emma.presses("Batteries")
    asked = await emma.presses("AA batteries")
    assert asked.texts == [
        "AA batteries: how many cells? 200 cells available now.\n"
        "The limit is 10 a person a month; you can take 10 more this month."
    ]
    for typed, answer in [
        ("0", "It must be at least 1."),
        ("-3", "It must be at least 1."),
        ("a few", "Please type a whole number (1–9999), e.g. 3."),
        ("1.5", "Please type a whole number (1–9999), e.g. 3."),
        ("1e9", "Please type a whole number (1–9999), e.g. 3."),
        ("99999999999999999999", "That is too many: at most 9999."),
        ("250", "Only 200 cells of AA batteries are available now; please ask for fewer."),
        ("11", "That is over the monthly limit (10 cells a person); you can take 10 cells more this month."),
    ]:
        said = await emma.says(typed)
        assert said.texts[0] == f"⚠️ {answer}", typed
        assert said.texts[1].startswith("AA batteries: how many cells?"), typed  # asked again
    assert "Your cart (lines: 1, items in all: 4)" in await emma.says("４")  # a full-width digit is a digit
    # Emptying the cart goes back to the shelves; leaving keeps nothing.
    assert "What do you need?" in await emma.presses("✖ Remove AA batteries")
    assert "Nothing was saved" in await emma.says("/cancel")
    assert await stock_of(db, "BATT-AA") == (200, 0)
    async with db.unit_of_work() as session:
        assert await session.scalar(select(func.count()).select_from(Requisition)) == 0


async def test_the_quantities_offered_fit_what_is_left_of_the_monthly_limit_and_the_cart_is_never_lost(
    db: Database, person: Callable[[str], WebPerson]
) -> None:
    emma = person("emma.clark")
    await emma.says("/supply")
    await emma.presses("Batteries")
    asked = await emma.presses("AA batteries")
    assert [label for label in asked.labels if label.isdigit()] == ["1", "2", "5", "10"]
    await emma.says("8")

    # Another item: the shelves again, with a way back to what is already chosen.
    shelves = await emma.presses("➕ Add another item")
    assert shelves.labels[-2:] == ["← Back to my cart", "✖ Cancel"]
    assert "Your cart (lines: 1, items in all: 8)" in await emma.presses("← Back to my cart")

    # Two left of this month's ten: only the quick amounts that fit are offered.
    await emma.presses("➕ Add another item")
    await emma.presses("Batteries")
    asked = await emma.presses("AA batteries")
    assert "you can take 2 more this month" in asked
    assert [label for label in asked.labels if label.isdigit()] == ["1", "2"]
    await emma.presses("2")

    # None left: no amount is asked for; back to the cart, saying why.
    await emma.presses("➕ Add another item")
    await emma.presses("Batteries")
    used_up = await emma.presses("AA batteries")
    assert used_up.texts[0] == "Your monthly limit for AA batteries (10) is used up: nothing more of it this month."
    assert "Your cart (lines: 1, items in all: 10)" in used_up
    assert not [label for label in used_up.labels if label.isdigit()]
    assert await stock_of(db, "BATT-AA") == (200, 0)


async def test_search_finds_items_in_either_language_and_says_when_nothing_matches(
    person: Callable[[str], WebPerson],
) -> None:
    liu = person("liu.yang")
    assert "没有找到与「茶叶」相关的物品" in await liu.says("/supply 茶叶")
    found = await liu.says("toner")
    assert "找到 2 个与「toner」相关的物品" in found
    assert [b for b in found.labels if "·" in b] == ["惠普 26A 黑色硒鼓 · 可领 12 个", "兄弟 TN-2425 粉盒 · 可领 8 个"]
    version = liu.buttons[0][0]["payload"].split(":")[0]
    assert "这个选项不可用" in await liu.presses_payload(f"{version}:999999")  # no such item, whatever the button
    assert "要领什么" in await liu.presses("← 上一步")  # back to the shelves
    assert "找到 2 个与「订书」相关的物品" in await liu.says("订书")
    assert "订书机：要多少个" in await liu.says("STAPLER")  # a code (or an exact name) is that item
    await liu.presses("← 上一步")
    await liu.presses("← 上一步")
    assert "订书钉 24/6：要多少盒" in await liu.says("staples 24/6")


async def test_the_storekeeper_hands_out_less_than_was_asked_and_it_is_recorded(
    db: Database, person: Callable[[str], WebPerson]
) -> None:
    chen, ma, guo = person("chen.jing"), person("ma.hong"), person("guo.tao")
    await chen.says("/supply 白板笔")
    await chen.presses("黑色白板笔")
    await chen.says("6")
    await chen.presses("✔ 选好了")
    await chen.says("三楼教室")
    number = NUMBER.search((await chen.presses("✔ 提交")).text)
    assert number is not None

    [card] = [n for n in await ma.inbox() if n["card_key"]]  # her manager's card arrives in the browser
    assert card["text"].startswith(f"📦 {number.group()} · 陈静（教务处）")
    await ma.presses_payload(card["buttons"][0][0]["payload"])  # ✔ 批准

    assert "待备货或待领取（1 个）" in await guo.says("/requisitions")
    opened = await guo.presses(number.group())
    assert "状态：已批准，待备货（马红 已批准）" in opened.text
    await guo.presses("✂ 部分发放")  # straight from approved: she came to the counter
    await guo.presses("黑色白板笔")
    assert "⚠️ 最多 6 支（申领的数量）。" in await guo.says("7")
    await guo.says("4")
    summary = await guo.presses("✔ 确认")
    assert "· 黑色白板笔：发放 4/6 支" in summary
    assert "已部分发放" in await guo.presses("✔ 提交")

    told = [n["text"] for n in await chen.inbox() if "部分发放" in n["text"]]
    assert told == [f"{number.group()} 的物品已部分发放：\n· 黑色白板笔 × 6 支（实发 4）\n未发放的部分已退回库存。"]
    assert await stock_of(db, "MARKER-WB") == (56, 0)
    assert (await movements(db, "MARKER-WB"))[1:] == [("reservation", 0, 6), ("handout", -4, -4), ("release", 0, -2)]
    handed = await requisition(db, number.group())
    assert handed.status == "handed_out" and [line.handed_out for line in handed.lines] == [4]
    assert await ledger_disagreements(db) == {}


CATALOG_CSV = (
    "code,name_zh,name_en,category,unit,stock,reorder_at,monthly_limit,price\n"
    "TEA-GREEN,绿茶,Green tea,cleaning,盒,30,5,,45.5\n"
    "FOLDER-A4,A4 文件夹,A4 folder,stationery,piece,0,25,8,4.5\n"
)


@pytest.mark.subprocess  # the file is parsed in a child process (handlers/core/uploads.py)
async def test_an_import_is_a_file_in_the_browser_too(db: Database, person: Callable[[str], WebPerson]) -> None:
    lin = person("lin.hua")
    # Asked for first, then sent: the file step takes the upload (Chinese Excel saves CSV as GBK).
    assert "请发送物品目录文件" in await lin.says("/stock import")
    assert "这一步请发送一个文件" in await lin.sends_photo(PNG_1X1)
    assert "这一步请发送一个文件" in await lin.says("好的")
    assert "文件太大，最多 2 MB" in await lin.sends_file(b"x" * (3 * 1024 * 1024), "huge.csv")
    asked = await lin.sends_file(CATALOG_CSV.encode("gb18030"), "catalog.csv")
    assert "文件里有 2 个物品：新增 1 个，更新 1 个" in asked
    assert "导入完成" in await lin.presses("✔ 提交")
    async with db.unit_of_work() as session:
        tea = await session.scalar(select(SupplyItem).where(SupplyItem.code == "TEA-GREEN"))
        assert tea is not None
        assert (tea.name_zh, tea.unit, tea.monthly_limit, tea.unit_price) == ("绿茶", "box", None, 4550)
    assert await stock_of(db, "TEA-GREEN") == (30, 0)

    # Or in one go, the command as the file's caption; the same rules refuse everyone else.
    again = await lin.sends_file(CATALOG_CSV.replace("30,5", "10,5").encode(), "catalog.csv", caption="/stock import")
    assert "新增 0 个，更新 2 个" in again
    await lin.presses("✔ 提交")
    assert await stock_of(db, "TEA-GREEN") == (30, 0)  # an import never changes a known item's stock
    assert "只有后勤主管和系统管理员" in await person("wang.fang").sends_file(
        CATALOG_CSV.encode(), "catalog.csv", caption="/stock import"
    )
    assert await ledger_disagreements(db) == {}


async def test_the_stores_see_every_item_by_category_and_what_has_fallen_to_its_reorder_line(
    person: Callable[[str], WebPerson],
) -> None:
    lin = person("lin.hua")
    shelves = (await lin.says("/stock")).texts[0]
    assert shelves.startswith("库存（在库 / 预留 / 可领）：\n类别：纸张\n")
    assert "\nTONER-HP26A 惠普 26A 黑色硒鼓：12 / 0 / 12 个（补货线 3，每月限领 2）\n" in shelves
    assert shelves.index("类别：硒鼓墨盒") < shelves.index("TONER-HP26A") < shelves.index("类别：文具")
    assert "⚠️" not in shelves
    assert "在库 3 · 预留 0 · 可领 3 个" in await lin.says("/stock set TONER-HP26A 3 盘点")
    assert "\n⚠️ TONER-HP26A 惠普 26A 黑色硒鼓：3 / 0 / 3 个（补货线 3，每月限领 2）\n" in await lin.says("/stock")
    # An item's ledger in the reader's words: the opening stock Houqin booked is 期初库存, not English.
    item = (await lin.says("/stock TONER-HP26A")).texts[0]
    assert "入库 在库+12 预留+0 · Houqin 期初库存" in item and "opening stock" not in item
    assert item.endswith("· 林华 盘点")  # what the admin typed, as typed
    # Staff see no stock list; they order from /supply.
    assert (await person("emma.clark").says("/stock")).texts == ["Only logistics admins and admins can manage stock."]
