"""The supplies' part of the demo's past (handlers/core/demo.py): requisitions from every department
through their approvals to the hand-out, a few rejected, the last days' still waiting; the stock
moved by the same ledger functions the flows use (reserve, hand out, release), and deliveries
received before a shelf would run low, so the ledger explains every figure."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core.demo import Past, demo_people
from handlers.core.rules import SupplyRules
from handlers.supplies import stock
from handlers.supplies.requisitions import requisition_number
from storage.models import (
    Department,
    PersonRole,
    Requisition,
    RequisitionEvent,
    RequisitionLine,
    StockMovement,
    SupplyItem,
)

PURPOSES = ("月底报表打印", "会议材料", "办公室日常", "新员工入职", "档案整理", "Printing the term's handouts")
PLACE = "行政楼 101 后勤保障处"
SHORT_AFTER_COUNT = "TONER-HP26A"


async def write(session: AsyncSession, past: Past) -> dict[str, int]:
    rng, rules = past.rng, SupplyRules()
    managers: dict[int, int] = {}  # department id -> its manager
    codes = {d.code: d.id for d in await session.scalars(select(Department))}
    roles = list(await session.scalars(select(PersonRole)))
    for role in roles:
        if role.role == "manager" and role.scope in codes:
            managers[codes[role.scope]] = role.person_id
    admins = [r.person_id for r in roles if r.role == "logistics_admin"]
    storekeepers = [r.person_id for r in roles if r.role == "logistics_staff"] or admins
    requesters = [
        p for p in await demo_people(session) if p.department_id in managers and managers[p.department_id] != p.id
    ]
    items = list(await session.scalars(select(SupplyItem).where(SupplyItem.active.is_(True)).order_by(SupplyItem.id)))
    if not (requesters and items and admins):
        return {}
    # The stores were stocked before the first of these requisitions.
    began = past.at(past.first, 7, 8)
    await session.execute(
        update(StockMovement)
        .where(StockMovement.note == "opening stock")
        .values(at=began)
        .execution_options(synchronize_session=False)
    )
    end_of_past = past.at(past.last, 18, 19)
    made = 0
    # The ledger's rows and the requisitions' steps wait for the next flush (each requisition's own,
    # and lines_of's) instead of being flushed before every conditional UPDATE (SQLAlchemy's
    # autoflush): those UPDATEs read only the items' figures, which nothing pending changes.
    # Measured: 1,623 flushes → 392, this past 3.8–3.9 → 3.3–3.6 s of CPU (2026-12-05).
    with session.no_autoflush:
        for day in past.days():
            if not past.works_on(day):  # the stores are shut on days off
                continue
            for _ in range(max(0, round(rng.gauss(1.6, 0.9)))):
                requester = rng.choice(requesters)
                lines = {item.id: item for item in rng.sample(items, rng.choice((1, 1, 2, 2, 3)))}
                wanted = {i: rng.randint(1, max(1, min(items_limit(lines[i]), 6))) for i in lines}
                at = past.at(day)
                requisition = Requisition(
                    requester_id=requester.id,
                    department_id=requester.department_id,
                    purpose=rng.choice(PURPOSES),
                    status="pending_manager",
                    channel=rng.choice(("web", "telegram", "slack")),
                    created_at=at,
                    total_quantity=sum(wanted.values()),
                    total_value=sum((lines[i].unit_price or 0) * q for i, q in wanted.items()),
                )
                requisition.needs_second = (
                    requisition.total_quantity > rules.second_step_quantity
                    or requisition.total_value > rules.second_step_value
                )
                session.add(requisition)
                await session.flush()
                requisition.number = requisition_number(requisition.id, at.astimezone(past.zone).year)
                for item_id, quantity in sorted(wanted.items()):
                    await restock_if_low(session, item_id, quantity, at - timedelta(hours=1))
                    change = stock.Change(session, requester.id, at, requisition.id)
                    if not await stock.reserve(change, item_id, quantity):
                        raise stock.StockError(f"demo: item {item_id} could not reserve {quantity}")
                    session.add(
                        RequisitionLine(
                            requisition_id=requisition.id,
                            item_id=item_id,
                            quantity=quantity,
                            unit_price=lines[item_id].unit_price,
                        )
                    )
                await decide(
                    session,
                    past,
                    requisition,
                    managers[requester.department_id or 0],
                    rng.choice(admins),
                    rng.choice(storekeepers),
                    end_of_past,
                )
                made += 1
    # Yesterday's stock-take found a toner shelf short: the logistics admins' low-stock alert waits for them.
    toner = next((item for item in items if item.code == SHORT_AFTER_COUNT), None)
    if toner is not None:
        item = await stock.fresh(session, toner.id)
        counted = max(item.reserved, min(item.on_hand, item.reorder_at))
        await stock.count(
            stock.Change(session, rng.choice(storekeepers), past.at(past.last, 16, 17)), toner.id, counted
        )
    await session.flush()
    return {"past requisitions": made}


def items_limit(item: SupplyItem) -> int:
    return item.monthly_limit or 10


async def restock_if_low(session: AsyncSession, item_id: int, quantity: int, at: datetime) -> None:
    """A delivery before the shelf would fall to its reorder threshold (as a storekeeper orders ahead)."""
    item = await stock.fresh(session, item_id)
    if item.available - quantity <= item.reorder_at:
        await stock.receive(stock.Change(session, None, at), item_id, max(quantity, item.reorder_at) * 3)


async def decide(
    session: AsyncSession,
    past: Past,
    requisition: Requisition,
    manager: int,
    admin: int,
    storekeeper: int,
    end_of_past: datetime,
) -> None:
    """What became of it: approved (twice when it is large), made ready, handed out; or rejected."""
    rng = past.rng
    at = requisition.created_at

    def moved(to: str, who: int, note: str | None, hours: float) -> bool:
        nonlocal at
        at = at + timedelta(hours=hours)
        if at >= end_of_past:
            return False
        session.add(
            RequisitionEvent(
                requisition_id=requisition.id,
                from_status=requisition.status,
                to_status=to,
                actor_id=who,
                note=note,
                at=at,
            )
        )
        requisition.status = to
        return True

    session.add(
        RequisitionEvent(
            requisition_id=requisition.id,
            from_status=None,
            to_status="pending_manager",
            actor_id=requisition.requester_id,
            at=at,
        )
    )
    if rng.random() < 0.06:
        if moved("rejected", manager, "本月预算已用完", rng.uniform(1, 20)):
            requisition.first_approver_id, requisition.closed_at = manager, at
            for line in await lines_of(session, requisition):
                await stock.release(stock.Change(session, manager, at, requisition.id), line.item_id, line.quantity)
        return
    if not moved("pending_admin" if requisition.needs_second else "approved", manager, None, rng.uniform(0.5, 20)):
        return
    requisition.first_approver_id = manager
    if requisition.needs_second:
        if not moved("approved", admin, None, rng.uniform(0.5, 12)):
            return
        requisition.second_approver_id = admin
    if rng.random() < 0.6:
        if not moved("ready", storekeeper, PLACE, rng.uniform(1, 24)):
            return
        requisition.pickup_place = PLACE
    if not moved("handed_out", storekeeper, None, rng.uniform(1, 30)):
        return
    requisition.handler_id, requisition.closed_at = storekeeper, at
    for line in await lines_of(session, requisition):
        await stock.hand_out(
            stock.Change(session, storekeeper, at, requisition.id), line.item_id, line.quantity, line.quantity
        )
        line.handed_out = line.quantity


async def lines_of(session: AsyncSession, requisition: Requisition) -> list[RequisitionLine]:
    await session.flush()
    return list(await session.scalars(select(RequisitionLine).where(RequisitionLine.requisition_id == requisition.id)))
