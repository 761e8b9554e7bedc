"""The supplies' part of the weekly digest: the week's requisitions, approvals and how long they
took, what waits for a decision, the most asked-for items, what each department used, what runs low
(the organisation's digest only); and the button that opens its reader's approval queue."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core.actor import Actor
from handlers.core.area import Area
from handlers.core.charts import Chart
from handlers.core.digest import (
    LIST_AT_MOST,
    Digest,
    DigestButton,
    Scope,
    Section,
    Week,
    hours,
    seconds_between,
    within,
)
from handlers.core.flow import Action, StepContext
from handlers.core.i18n import Label, Lines, Renderable, msg
from handlers.core.metrics import Reading
from handlers.core.rules import SupplyRules
from handlers.supplies import console as supply_console
from handlers.supplies import demo as supply_demo
from handlers.supplies import requisitions as req
from storage.models import Department, Person, Requisition, RequisitionEvent, RequisitionLine, StockMovement, SupplyItem


def requisition_scope(scope: Scope) -> ColumnElement[bool]:
    if scope.department is None:
        return Requisition.id.is_not(None)
    return Requisition.department_id == scope.department.id


@dataclass
class Supplies:
    requisitions: int = 0
    approved: int = 0
    approval_hours: float | None = None
    pending: int = 0
    top_items: list[tuple[Label, int]] = field(default_factory=list)
    by_department: list[tuple[Label, int]] = field(default_factory=list)
    low_stock: list[tuple[Label, int, int]] = field(default_factory=list)  # item, available, reorder at

    def lines(self, zone: ZoneInfo) -> Sequence[Renderable]:
        parts: list[Renderable] = [
            msg(
                "digest.supplies",
                count=self.requisitions,
                approved=self.approved,
                approval=hours(self.approval_hours),
                pending=self.pending,
            )
        ]
        if self.top_items:
            top = tuple(msg("digest.count_line", name=n, count=q) for n, q in self.top_items)
            parts.append(msg("digest.top_items", lines=Lines(top)))
        if self.by_department:
            used = tuple(msg("digest.count_line", name=n, count=q) for n, q in self.by_department[:LIST_AT_MOST])
            parts.append(msg("digest.consumption", lines=Lines(used)))
        if self.low_stock:
            low = tuple(
                msg("digest.low_line", item=n, available=a, reorder=t) for n, a, t in self.low_stock[:LIST_AT_MOST]
            )
            parts.append(msg("digest.low_stock", count=len(self.low_stock), lines=Lines(low)))
        return parts

    def chart(self, scope: Scope, locale: str, zone: ZoneInfo) -> Chart | None:
        return None


async def week_of_supplies(session: AsyncSession, scope: Scope, week: Week) -> Supplies:
    start, end = week.start, week.end
    mine = requisition_scope(scope)
    out = Supplies()
    out.requisitions = int(
        await session.scalar(select(func.count(Requisition.id)).where(mine, within(Requisition.created_at, start, end)))
        or 0
    )
    took = seconds_between(session, RequisitionEvent.at, Requisition.created_at)
    approved = (
        await session.execute(
            select(func.count(RequisitionEvent.id), func.avg(took))
            .join(Requisition, Requisition.id == RequisitionEvent.requisition_id)
            .where(mine, RequisitionEvent.to_status == "approved", within(RequisitionEvent.at, start, end))
        )
    ).one()
    out.approved = int(approved[0] or 0)
    out.approval_hours = round(float(approved[1]) / 3600, 2) if approved[1] is not None else None
    out.pending = int(
        await session.scalar(select(func.count(Requisition.id)).where(mine, Requisition.status.in_(req.PENDING))) or 0
    )
    asked = func.sum(RequisitionLine.quantity)
    top = await session.execute(
        select(SupplyItem.name_zh, SupplyItem.name_en, asked)
        .join(RequisitionLine, RequisitionLine.item_id == SupplyItem.id)
        .join(Requisition, Requisition.id == RequisitionLine.requisition_id)
        .where(
            mine,
            within(Requisition.created_at, start, end),
            Requisition.status.not_in(("rejected", "cancelled")),
        )
        .group_by(SupplyItem.id, SupplyItem.name_zh, SupplyItem.name_en)
        .order_by(asked.desc(), SupplyItem.name_en)
        .limit(5)
    )
    out.top_items = [(Label(zh, en), int(quantity)) for zh, en, quantity in top.all()]
    # Consumption: what was handed out this week (the ledger's hand-outs), by the asking department.
    given = func.sum(-StockMovement.on_hand_delta)
    used = await session.execute(
        select(Department.name_zh, Department.name_en, given)
        .join(Requisition, Requisition.id == StockMovement.requisition_id)
        .join(Department, Department.id == Requisition.department_id)
        .where(mine, StockMovement.kind == "handout", within(StockMovement.at, start, end))
        .group_by(Department.id, Department.name_zh, Department.name_en)
        .order_by(given.desc(), Department.name_en)
    )
    out.by_department = [(Label(zh, en), int(quantity)) for zh, en, quantity in used.all()]
    if scope.department is None:
        available = SupplyItem.on_hand - SupplyItem.reserved
        low = await session.execute(
            select(SupplyItem.name_zh, SupplyItem.name_en, available, SupplyItem.reorder_at)
            .where(SupplyItem.active.is_(True), available <= SupplyItem.reorder_at)
            .order_by(available - SupplyItem.reorder_at, SupplyItem.code)
        )
        out.low_stock = [(Label(zh, en), int(a), int(r)) for zh, en, a, r in low.all()]
    return out


# --- the digest's button jb:queue: the requisitions waiting on its reader ---------------------------


async def offer_queue(
    session: AsyncSession, person: Person, digest: Digest, now: datetime, zone: ZoneInfo
) -> Renderable | None:
    pending = len(await req.awaiting_decision(Actor(session, person, "system", now, zone, SupplyRules())))
    return msg("digest.button.approve", count=pending) if pending else None


async def press_queue(ctx: StepContext) -> Action:
    return await req.requisitions_command(ctx, "")


async def gauges(session: AsyncSession, now: datetime) -> list[Reading]:
    """/metrics: requisitions waiting for an approver, by step."""
    waiting = select(Requisition.status, func.count()).where(Requisition.status.in_(req.PENDING))
    counted = dict((await session.execute(waiting.group_by(Requisition.status))).all())
    return [
        Reading(
            "houqin_approvals_pending", "Requisitions waiting for approval, by step", counted.get(s, 0), {"step": s}
        )
        for s in req.PENDING
    ]


AREA = Area(
    "supplies_oversight",
    gauges=(gauges,),
    demo=(supply_demo.write,),
    digest=(Section(20, week_of_supplies),),
    digest_buttons=(DigestButton("queue", place=10, offer=offer_queue, press=press_queue),),
    # Seeing the requisitions in the web console: everyone's, or a manager's department's.
    actions={supply_console.ACTION: supply_console.OVERSEE},
    console=(*supply_console.PAGES, *supply_console.STOCK_PAGES),
    console_charts=(supply_console.charts,),
)
