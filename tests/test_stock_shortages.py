"""When the shelf cannot give what is asked: each stock change's own condition says no, before any
database CHECK has to, and leaves the figures and the ledger as they were. On SQLite and PostgreSQL.

The 200-people race (tests/test_requisition_rules.py) shows that nothing oversells under load; these
show, one change at a time, what each change does when its condition does not hold.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest
from sqlalchemy import Update, select, update

from handlers.supplies import stock
from storage.db import Database
from storage.models import SupplyItem
from tests.supplies import NOW, ledger_disagreements, movements, stock_of

T = TypeVar("T")
TONER = "TONER-HP26A"  # 12 on the shelf in the demo stores, reorder at 3


async def changing(db: Database, code: str, work: Callable[[stock.Change, int], Awaitable[T]]) -> T:
    """One stock change by the stores, in a unit of work of its own (what a requisition's step does)."""
    async with db.unit_of_work() as session:
        item = await session.scalar(select(SupplyItem.id).where(SupplyItem.code == code))
        assert item is not None
        return await work(stock.Change(session, None, NOW, note="test"), item)


async def test_reserving_more_than_is_available_reserves_nothing(db: Database) -> None:
    assert await changing(db, TONER, lambda change, item: stock.reserve(change, item, 10))
    assert await stock_of(db, TONER) == (12, 10)
    # 2 are left to claim: 3 is one too many, and nothing of it is claimed.
    assert not await changing(db, TONER, lambda change, item: stock.reserve(change, item, 3))
    assert await stock_of(db, TONER) == (12, 10)
    assert await changing(db, TONER, lambda change, item: stock.reserve(change, item, 2))
    assert not await changing(db, TONER, lambda change, item: stock.reserve(change, item, 1))
    assert await stock_of(db, TONER) == (12, 12)
    assert [kind for kind, _, _ in await movements(db, TONER)] == ["receipt", "reservation", "reservation"]
    assert await ledger_disagreements(db) == {}


async def test_a_withdrawn_item_cannot_be_reserved(db: Database) -> None:
    async with db.unit_of_work() as session:
        await session.execute(update(SupplyItem).where(SupplyItem.code == TONER).values(active=False))
    assert not await changing(db, TONER, lambda change, item: stock.reserve(change, item, 1))
    assert await stock_of(db, TONER) == (12, 0)


async def test_handing_out_more_than_was_reserved_is_a_stock_error_and_changes_nothing(db: Database) -> None:
    assert await changing(db, TONER, lambda change, item: stock.reserve(change, item, 3))
    with pytest.raises(stock.StockError, match="cannot hand out 4 of 4 reserved"):
        await changing(db, TONER, lambda change, item: stock.hand_out(change, item, 4, 4))
    with pytest.raises(stock.StockError):
        await changing(db, TONER, lambda change, item: stock.hand_out(change, item, 1, 4))
    assert await stock_of(db, TONER) == (12, 3)
    # What was reserved goes out, and the ledger explains every figure.
    await changing(db, TONER, lambda change, item: stock.hand_out(change, item, 2, 3))
    assert await stock_of(db, TONER) == (10, 0)
    assert await movements(db, TONER) == [
        ("receipt", 12, 0),
        ("reservation", 0, 3),
        ("handout", -2, -2),
        ("release", 0, -1),
    ]
    assert await ledger_disagreements(db) == {}


async def test_handing_out_what_nobody_reserved_is_a_stock_error(db: Database) -> None:
    with pytest.raises(stock.StockError):
        await changing(db, TONER, lambda change, item: stock.hand_out(change, item, 1, 1))
    assert await stock_of(db, TONER) == (12, 0)
    assert await movements(db, TONER) == [("receipt", 12, 0)]


async def test_releasing_more_than_is_reserved_is_a_stock_error_and_changes_nothing(db: Database) -> None:
    assert await changing(db, TONER, lambda change, item: stock.reserve(change, item, 2))
    with pytest.raises(stock.StockError, match="fewer than 3 reserved"):
        await changing(db, TONER, lambda change, item: stock.release(change, item, 3))
    assert await stock_of(db, TONER) == (12, 2)
    await changing(db, TONER, lambda change, item: stock.release(change, item, 2))
    assert await stock_of(db, TONER) == (12, 0)
    assert await ledger_disagreements(db) == {}


async def test_receiving_for_an_item_that_does_not_exist_is_a_stock_error(db: Database) -> None:
    async with db.unit_of_work() as session:
        with pytest.raises(stock.StockError, match="no item"):
            await stock.receive(stock.Change(session, None, NOW), 10**9, 5)


# SQLite's writer lock (BEGIN IMMEDIATE) lets nothing in between a count's read and its write; on
# PostgreSQL another process's change can commit there, and the count must notice.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_delivery_booked_while_the_stores_count_is_counted_against_the_figure_after_it(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    write = stock._changed
    delivered = False

    async def a_delivery_commits_first(change: stock.Change, statement: Update) -> bool:
        nonlocal delivered
        if not delivered:
            delivered = True  # between the count's read of 12 and its write
            await changing(db, TONER, lambda other, item: stock.receive(other, item, 5))
        return await write(change, statement)

    monkeypatch.setattr(stock, "_changed", a_delivery_commits_first)
    was = await changing(db, TONER, lambda change, item: stock.count(change, item, 15))
    assert was == 17
    assert await stock_of(db, TONER) == (15, 0)
    assert await movements(db, TONER) == [("receipt", 12, 0), ("receipt", 5, 0), ("adjustment", -2, 0)]
    assert await ledger_disagreements(db) == {}
