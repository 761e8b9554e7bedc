"""The requisitions in the web console: the table (filters, sort, search, a page at a time), a
requisition's page (its lines, history and what the viewer may do now) and the actions approve /
reject / ready / hand out, each the chat's own function (requisitions.approve, reject, ready, hand_out:
the same approval chain, stock moves, notices and audit lines as the card's buttons).

Who sees which: `requisition.oversee` — admins and logistics admins every requisition, a manager their
department's (the ones they approve, and whose figures their digest counts). Who may act is decided
again by the chat's rules at the moment of acting (requisitions.load: decides_now, logistics…).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select

from handlers.core import authz, console
from handlers.core.actor import Actor
from handlers.core.adminkit import Period
from handlers.core.charts import Chart, Series
from handlers.core.console import ConsolePage, Paged, Reach, Viewer
from handlers.core.i18n import Label, Msg, msg, translate
from handlers.core.refusals import Refused
from handlers.core.rules import SupplyRules
from handlers.supplies import requisitions, stock
from storage.models import Department, Person, Requisition, RequisitionEvent, StockMovement, SupplyItem

ACTION = "requisition.oversee"
OVERSEE = authz.rule("admin", "logistics_admin", "manager", department=True)
STATUSES = requisitions.STATUSES
SORTS: dict[str, Any] = {
    "created": Requisition.created_at,
    "number": Requisition.number,
    "status": Requisition.status,
    "value": Requisition.total_value,
}
DEFAULT_SORT = "-created"
# What a requisition's page may offer, each one of the chat's buttons (partial hand-outs stay in chat).
ACTIONS = ("approve", "reject", "ready", "handout", "cancel")


def scope_of(reach: Reach) -> ColumnElement[bool]:
    if reach.everything:
        return Requisition.id.is_not(None)
    return Requisition.department_id.in_([department.id for department in reach.departments])


def actor_of(viewer: Viewer) -> Actor[SupplyRules]:
    return Actor(viewer.session, viewer.person, viewer.channel, viewer.now, viewer.zone, viewer.supply)


@dataclass(frozen=True)
class RequisitionFilters:
    status: str = ""
    department: int | None = None
    since: Any = None
    until: Any = None
    search: str = ""
    sort: str = DEFAULT_SORT
    page: int = 1

    def query(self, **changed: Any) -> dict[str, str]:
        values = {
            "status": self.status,
            "department": str(self.department or ""),
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
            "q": self.search,
            "sort": self.sort,
            "page": str(self.page),
        }
        return console.query_string(values, changed)


def filters_from(params: Mapping[str, str]) -> RequisitionFilters:
    status = params.get("status", "")
    sort = params.get("sort", DEFAULT_SORT)
    return RequisitionFilters(
        status=status if status in (*STATUSES, "open", "pending") else "",
        department=console.id_param(params, "department"),
        since=console.day_param(params, "since"),
        until=console.day_param(params, "until"),
        search=params.get("q", "").strip()[:60],
        sort=sort if sort.removeprefix("-") in SORTS else DEFAULT_SORT,
        page=console.page_number(params),
    )


@dataclass(frozen=True)
class RequisitionRow:
    number: str
    requester: str
    department: Label
    status: str
    quantity: int
    value: str
    created_at: datetime


def conditions(viewer: Viewer, reach: Reach, filters: RequisitionFilters) -> list[ColumnElement[bool]]:
    found = [scope_of(reach)]
    if filters.status == "open":
        found.append(Requisition.status.in_(requisitions.OPEN))
    elif filters.status == "pending":
        found.append(Requisition.status.in_(requisitions.PENDING))
    elif filters.status:
        found.append(Requisition.status == filters.status)
    if filters.department is not None:
        found.append(Requisition.department_id == filters.department)
    found.extend(console.on_days(Requisition.created_at, filters.since, filters.until, viewer.zone))
    if filters.search:
        found.append(console.matching(filters.search, Requisition.number, Requisition.purpose))
    return found


async def requisition_table(viewer: Viewer, reach: Reach, filters: RequisitionFilters) -> Paged[RequisitionRow]:
    session = viewer.session
    where = conditions(viewer, reach, filters)
    total = int(await session.scalar(select(func.count(Requisition.id)).where(*where)) or 0)
    order = console.ordered(SORTS, filters.sort)
    per_page = console.PER_PAGE
    page = console.within(filters.page, total, per_page)
    query = (
        select(
            Requisition.number,
            Requisition.status,
            Requisition.total_quantity,
            Requisition.total_value,
            Requisition.created_at,
            Person.display_name,
            Department.name_zh,
            Department.name_en,
        )
        .join(Person, Person.id == Requisition.requester_id)
        .outerjoin(Department, Department.id == Requisition.department_id)
        .where(*where)
        .order_by(order.nulls_last(), Requisition.id.desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    rows = [
        RequisitionRow(
            str(row.number),
            row.display_name,
            Label(row.name_zh or "—", row.name_en or "—"),
            row.status,
            int(row.total_quantity or 0),
            stock.yuan(row.total_value) if row.total_value else "—",
            row.created_at,
        )
        for row in await session.execute(query)
    ]
    return Paged(rows, page, per_page, total)


async def departments(viewer: Viewer, reach: Reach) -> list[tuple[int, Label]]:
    """The departments the filter offers: all, or the viewer's own."""
    if not reach.everything:
        return [(d.id, Label(d.name_zh, d.name_en)) for d in reach.departments]
    found = await viewer.session.execute(select(Department.id, Department.name_zh, Department.name_en))
    return [(row.id, Label(row.name_zh, row.name_en)) for row in found]


async def queue_mark(viewer: Viewer, reach: Reach) -> str:
    """Changes whenever a requisition the viewer sees is submitted or moves (MAX/COUNT, indexed)."""
    mine = scope_of(reach)
    newest, count = (
        await viewer.session.execute(select(func.max(Requisition.id), func.count(Requisition.id)).where(mine))
    ).one()
    moved = await viewer.session.scalar(
        select(func.max(RequisitionEvent.id))
        .join(Requisition, Requisition.id == RequisitionEvent.requisition_id)
        .where(mine)
    )
    return f"{newest or 0}.{count or 0}.{moved or 0}"


# --- one requisition --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    id: int
    name: Label
    quantity: int
    unit: Any
    handed_out: int | None


@dataclass(frozen=True)
class Event:
    at: datetime
    to_status: str
    actor: str
    note: str | None


@dataclass(frozen=True)
class RequisitionPage:
    requisition: Requisition
    status: Any  # renderable: the status, with where to pick up or who rejected
    value: str
    lines: list[Line]
    history: list[Event]
    may: tuple[str, ...]


async def find(viewer: Viewer, reach: Reach, number: str) -> Requisition:
    """The requisition of this number if the viewer may see it here; else Refused (audited as the
    chat's `requisition.view` refusal when it exists)."""
    found = await requisitions.find(viewer.session, number.strip().upper()[:24])
    if found is None or found.number != number.strip().upper()[:24]:
        raise Refused(msg("requisition.error.not_found", ref=number[:24]), audit=False)
    seen = await viewer.session.scalar(select(Requisition.id).where(Requisition.id == found.id, scope_of(reach)))
    if seen is None:
        requisitions.refuse(actor_of(viewer), "view", found)
    return found


async def requisition_page(viewer: Viewer, reach: Reach, number: str) -> RequisitionPage:
    found = await find(viewer, reach, number)
    actor = actor_of(viewer)
    names = dict(
        (
            await viewer.session.execute(
                select(Person.id, Person.display_name).where(
                    Person.id.in_([e.actor_id for e in found.history if e.actor_id])
                )
            )
        ).all()
    )
    may = [action for action in await requisitions.actions_now(actor, found) if action in ACTIONS]
    # As /requisition's view offers it: the requester, or a logistics admin, while it is still open.
    if found.status in requisitions.FROM["cancel"] and await requisitions.may(actor, "cancel", found):
        may.append("cancel")
    return RequisitionPage(
        found,
        requisitions.status_text(found),
        stock.yuan(found.total_value) if found.total_value else "—",
        [
            Line(
                line.id,
                stock.item_label(line.item),
                line.quantity,
                stock.unit_of(line.item, line.quantity),
                line.handed_out,
            )
            for line in found.lines
        ],
        [Event(e.at, e.to_status, names.get(e.actor_id or 0, "Houqin"), e.note) for e in found.history],
        tuple(may),
    )


async def act(viewer: Viewer, number: str, action: str, form: Mapping[str, str]) -> str:
    """Do `action` as the viewer through the chat's own function; the catalog key to tell them."""
    actor = actor_of(viewer)
    found = await requisitions.find(viewer.session, number.strip().upper()[:24])
    if found is None or action not in ACTIONS:
        raise Refused(msg("requisition.error.not_found", ref=number[:24]), audit=False)
    if action == "approve":
        await requisitions.approve(actor, found.id)
    elif action == "reject":
        reason = form.get("reason", "").strip()[:500]
        if len(reason) < 2:
            raise Refused(msg("console.error.reason_needed"), audit=False)
        await requisitions.reject(actor, found.id, reason)
    elif action == "ready":
        place = form.get("place", "").strip()[:200]
        if len(place) < 2:
            raise Refused(msg("console.error.place_needed"), audit=False)
        await requisitions.ready(actor, found.id, place)
    elif action == "cancel":
        await requisitions.cancel(actor, found.id)
    else:
        # Each line's count as handed over (given_<line id>), as the partial hand-out flow asks them; all
        # in full is the plain hand-out.
        given: dict[int, int] = {}
        for line in found.lines:
            typed = form.get(f"given_{line.id}", "").strip()
            count = stock.whole(typed, 0, line.quantity) if typed else line.quantity
            if count is None:
                raise Refused(msg("console.error.given", most=line.quantity), audit=False)
            given[line.id] = count
        partial = any(given[line.id] < line.quantity for line in found.lines)
        await requisitions.hand_out(actor, found.id, given if partial else None)
    return f"console.requisition.done.{action}"


async def waiting(viewer: Viewer, reach: Reach) -> int:
    """Requisitions waiting for this viewer's decision, or (logistics) to be handed out: the chat's
    /requisitions lists (each at most 20)."""
    actor = actor_of(viewer)
    return len(await requisitions.awaiting_decision(actor)) + len(await requisitions.to_fulfil(actor))


PAGES: Sequence[ConsolePage] = (
    ConsolePage(
        "requisitions",
        "console.nav.requisitions",
        ACTION,
        place=20,
        waiting=waiting,
        waiting_label="console.wait.requisitions",
    ),
)


# --- stock: the stores, an item's ledger, a delivery or a count ------------------------------------------

STOCK_ACTION = "stock.manage"
STOCK_CATEGORIES = stock.CATEGORIES
STOCK_SORTS: dict[str, Any] = {
    "code": SupplyItem.code,
    "category": SupplyItem.category,
    "available": SupplyItem.on_hand - SupplyItem.reserved,
}
# What a stock page records, each /stock's own subcommand (stock.change_stock): a delivery, a count,
# the reorder level, the monthly limit per person.
STOCK_CHANGES = ("add", "set", "threshold", "limit")


@dataclass(frozen=True)
class StockFilters:
    category: str = ""
    low: bool = False
    search: str = ""
    sort: str = "code"
    page: int = 1

    def query(self, **changed: Any) -> dict[str, str]:
        values = {
            "category": self.category,
            "low": "1" if self.low else "",
            "q": self.search,
            "sort": self.sort,
            "page": str(self.page),
        }
        return console.query_string(values, changed)


def stock_filters_from(params: Mapping[str, str]) -> StockFilters:
    category = params.get("category", "")
    sort = params.get("sort", "code")
    return StockFilters(
        category=category if category in stock.CATEGORIES else "",
        low=params.get("low") == "1",
        search=params.get("q", "").strip()[:60],
        sort=sort if sort.removeprefix("-") in STOCK_SORTS else "code",
        page=console.page_number(params),
    )


@dataclass(frozen=True)
class ItemRow:
    code: str
    name: Label
    category: str
    unit: Any
    on_hand: int
    reserved: int
    available: int
    threshold: int
    limit: int | None
    low: bool


def item_row(item: SupplyItem) -> ItemRow:
    return ItemRow(
        item.code,
        stock.item_label(item),
        item.category,
        stock.unit_of(item),
        item.on_hand,
        item.reserved,
        item.available,
        item.reorder_at,
        item.monthly_limit,
        item.available <= item.reorder_at,
    )


async def stock_table(viewer: Viewer, filters: StockFilters) -> Paged[ItemRow]:
    """A page of the stores (active items), with what is on hand, reserved, available and the threshold."""
    where: list[ColumnElement[bool]] = [SupplyItem.active.is_(True)]
    if filters.category:
        where.append(SupplyItem.category == filters.category)
    if filters.low:
        where.append(SupplyItem.on_hand - SupplyItem.reserved <= SupplyItem.reorder_at)
    if filters.search:
        where.append(console.matching(filters.search, SupplyItem.code, SupplyItem.name_zh, SupplyItem.name_en))
    total = int(await viewer.session.scalar(select(func.count(SupplyItem.id)).where(*where)) or 0)
    order = console.ordered(STOCK_SORTS, filters.sort)
    page = console.within(filters.page, total)
    found = await viewer.session.scalars(
        select(SupplyItem)
        .where(*where)
        .order_by(order, SupplyItem.code)
        .offset((page - 1) * console.PER_PAGE)
        .limit(console.PER_PAGE)
    )
    return Paged([item_row(item) for item in found.all()], page, console.PER_PAGE, total)


@dataclass(frozen=True)
class Movement:
    at: datetime
    kind: str
    on_hand: int
    reserved: int
    who: str
    about: Any  # a requisition's number, or the ledger's note (Houqin's own notes said in the reader's words)


@dataclass(frozen=True)
class ItemPage:
    item: ItemRow
    ledger: Paged[Movement]


async def item_page(viewer: Viewer, code: str, page: int) -> ItemPage:
    item = await stock.find_item(viewer.session, code[:32])
    if item is None or item.code != code[:32]:
        raise Refused(msg("stock.error.no_such_item", ref=code[:32]), audit=False)
    total = int(
        await viewer.session.scalar(select(func.count(StockMovement.id)).where(StockMovement.item_id == item.id)) or 0
    )
    page = console.within(page, total)
    moves = await viewer.session.execute(
        select(StockMovement, Person.display_name, Requisition.number)
        .outerjoin(Person, Person.id == StockMovement.actor_id)
        .outerjoin(Requisition, Requisition.id == StockMovement.requisition_id)
        .where(StockMovement.item_id == item.id)
        .order_by(StockMovement.id.desc())
        .offset((page - 1) * console.PER_PAGE)
        .limit(console.PER_PAGE)
    )
    ledger = [
        Movement(
            move.at,
            move.kind,
            move.on_hand_delta,
            move.reserved_delta,
            name or "Houqin",
            number or stock.note_of(move.note),
        )
        for move, name, number in moves.all()
    ]
    return ItemPage(item_row(item), Paged(ledger, page, console.PER_PAGE, total))


async def change(viewer: Viewer, code: str, sub: str, form: Mapping[str, str]) -> str:
    """A delivery (/stock add) or a count (/stock set) recorded from the item's page: authz asked (a
    refusal audited as the chat's), then stock.change_stock itself; the catalog key of what to tell
    the viewer, or Refused with what /stock would have answered (a count below what is reserved…)."""
    item = await stock.find_item(viewer.session, code[:32])
    if item is None or sub not in STOCK_CHANGES:
        raise Refused(msg("stock.error.no_such_item", ref=code[:32]), audit=False)
    authz.require(viewer, STOCK_ACTION, item.code)
    typed = form.get("quantity", "").strip()
    low = 1 if sub in ("add", "limit") else 0
    # A monthly limit left empty is no limit (/stock limit CODE none).
    number = None if sub == "limit" and not typed else stock.whole(typed, low)
    if number is None and not (sub == "limit" and not typed):
        raise Refused(
            msg("stock.error.bad_number", value=form.get("quantity", "")[:20], max=stock.MAX_STOCK), audit=False
        )
    note = form.get("note", "").strip()[:200] or None
    said: Msg = await stock.change_stock(viewer, sub, item, number, note)
    if not said.key.startswith("stock.done."):
        raise Refused(said, audit=False)
    return f"console.stock.done.{sub}"


STOCK_PAGES: Sequence[ConsolePage] = (ConsolePage("stock", "console.nav.stock", STOCK_ACTION, place=30),)


# --- the statistics page: supplies by department ----------------------------------------------------------


async def charts(viewer: Viewer, period: Period) -> list[Chart]:
    """What was handed out in the period by the asking department (the ledger's hand-outs, as the
    weekly digest's consumption counts them), and the requisitions submitted by department."""
    start, end = period.bounds(viewer.zone)
    given = func.sum(-StockMovement.on_hand_delta)
    used = (
        await viewer.session.execute(
            select(Department.name_zh, Department.name_en, given)
            .join(Requisition, Requisition.id == StockMovement.requisition_id)
            .join(Department, Department.id == Requisition.department_id)
            .where(StockMovement.kind == "handout", StockMovement.at >= start, StockMovement.at < end)
            .group_by(Department.id, Department.name_zh, Department.name_en)
            .order_by(given.desc(), Department.name_en)
        )
    ).all()
    asked = (
        await viewer.session.execute(
            select(Department.name_zh, Department.name_en, func.count(Requisition.id))
            .join(Department, Department.id == Requisition.department_id)
            .where(Requisition.created_at >= start, Requisition.created_at < end)
            .group_by(Department.id, Department.name_zh, Department.name_en)
        )
    ).all()
    names = [Label(zh, en).render(viewer.locale) for zh, en, _ in used]
    counts = {Label(zh, en).render(viewer.locale): int(n) for zh, en, n in asked}
    return [
        Chart(
            title=translate(viewer.locale, "console.stats.supplies_by_department"),
            categories=names,
            series=[
                Series(translate(viewer.locale, "console.stats.handed_out"), [int(q) for _, _, q in used]),
                Series(translate(viewer.locale, "console.stats.requisitions"), [counts.get(n, 0) for n in names]),
            ],
            counts=True,
        )
    ]
