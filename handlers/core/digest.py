"""The weekly digest: one message that tells a manager their department's week, and logistics admins
and admins the organisation's.

Every figure is an aggregate query (COUNT/SUM/AVG with GROUP BY, or one ORDER BY … OFFSET for the
median), filtered on indexed times, so it stays fast with 100k+ tickets: no rows are loaded into
Python to be counted. The digest is data (``Digest``); ``text`` turns it into catalog messages,
rendered in each recipient's language when it is sent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core.charts import Chart, Series
from handlers.core.i18n import Label, Lines, Renderable, msg
from handlers.repairs.tickets import WORKING
from handlers.supplies import requisitions as req
from storage.models import (
    Department,
    Person,
    Requisition,
    RequisitionEvent,
    RequisitionLine,
    StockMovement,
    SupplyItem,
    Ticket,
)

OPEN_NOT_RESOLVED = ("new", *WORKING)
# An area's lines in the digest (Area.digest), each an aggregate over the scope's week: the surveys
# area's NPS with the last weeks' trend and new suggestions.
Section = Callable[[AsyncSession, "Scope", datetime, datetime], Awaitable[Sequence[Renderable]]]
TREND_WEEKS = 4
LIST_AT_MOST = 10


@dataclass(frozen=True)
class Scope:
    """Whose week: a department (for its managers) or, with None, the whole organisation."""

    department: Department | None = None

    @property
    def subject(self) -> str:
        return f"dept:{self.department.code}" if self.department else "org"

    @property
    def name(self) -> Renderable:
        if self.department is None:
            return msg("digest.scope.org")
        return Label(self.department.name_zh, self.department.name_en)


@dataclass
class Repairs:
    opened: int = 0
    resolved: int = 0
    within_sla: int = 0
    median_hours: float | None = None
    backlog: list[tuple[str, int]] = field(default_factory=list)  # category, open tickets
    overdue_total: int = 0
    overdue: list[tuple[str, str, str, int]] = field(default_factory=list)  # number, category, technician, h late
    # technician, resolved, of them within SLA, average rating (None: none rated)
    scoreboard: list[tuple[str, int, int, float | None]] = field(default_factory=list)


@dataclass
class Supplies:
    requisitions: int = 0
    approved: int = 0
    approval_hours: float | None = None
    pending: int = 0
    top_items: list[tuple[Label, int]] = field(default_factory=list)
    by_department: list[tuple[Label, int]] = field(default_factory=list)
    low_stock: list[tuple[Label, int, int]] = field(default_factory=list)  # item, available, reorder at


@dataclass
class WeekFigures:
    start: datetime
    opened: int
    resolved: int
    rating: float | None


@dataclass
class Digest:
    scope: Scope
    start: datetime
    end: datetime
    repairs: Repairs
    supplies: Supplies
    rating: float | None
    ratings: int
    trend: list[WeekFigures]  # oldest first; the last is this digest's week
    # The areas' digest sections (Area.digest), shown after the average rating.
    surveys: list[Renderable] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)


def seconds_between(session: AsyncSession, later: Any, earlier: Any) -> Any:
    """A duration in seconds as SQL: SQLite keeps times as text, PostgreSQL as timestamps."""
    if session.get_bind().dialect.name == "sqlite":
        return (func.julianday(later) - func.julianday(earlier)) * 86400.0
    return func.extract("epoch", later - earlier)


def ticket_scope(scope: Scope) -> ColumnElement[bool]:
    """A department's tickets: reported by its people, or assigned to its technicians."""
    if scope.department is None:
        return Ticket.id.is_not(None)
    members = select(Person.id).where(Person.department_id == scope.department.id)
    return or_(Ticket.reporter_id.in_(members), Ticket.assignee_id.in_(members))


def requisition_scope(scope: Scope) -> ColumnElement[bool]:
    if scope.department is None:
        return Requisition.id.is_not(None)
    return Requisition.department_id == scope.department.id


def within(column: Any, start: datetime, end: datetime) -> ColumnElement[bool]:
    return (column >= start) & (column < end)  # type: ignore[no-any-return]


async def repairs(session: AsyncSession, scope: Scope, start: datetime, end: datetime, now: datetime) -> Repairs:
    mine = ticket_scope(scope)
    resolved_now = within(Ticket.resolved_at, start, end)
    out = Repairs()
    out.opened = int(
        await session.scalar(select(func.count(Ticket.id)).where(mine, within(Ticket.created_at, start, end))) or 0
    )
    met = func.sum(case((Ticket.resolved_at <= Ticket.due_at, 1), else_=0))
    row = (await session.execute(select(func.count(Ticket.id), met).where(mine, resolved_now))).one()
    out.resolved, out.within_sla = int(row[0] or 0), int(row[1] or 0)
    if out.resolved:
        # The median without loading the week: skip to the middle of the sorted durations.
        took = seconds_between(session, Ticket.resolved_at, Ticket.created_at)
        middle = await session.scalars(
            select(took)
            .where(mine, resolved_now)
            .order_by(took)
            .offset((out.resolved - 1) // 2)
            .limit(2 - out.resolved % 2)
        )
        values = [float(v) for v in middle.all()]
        # Rounded: SQLite's julianday arithmetic is a float a few microseconds off.
        out.median_hours = round(sum(values) / len(values) / 3600, 2) if values else None
    backlog = await session.execute(
        select(Ticket.category, func.count(Ticket.id))
        .where(mine, Ticket.status.in_(OPEN_NOT_RESOLVED))
        .group_by(Ticket.category)
        .order_by(func.count(Ticket.id).desc(), Ticket.category)
    )
    out.backlog = [(category, int(count)) for category, count in backlog.all()]
    late = (Ticket.status.in_(OPEN_NOT_RESOLVED), Ticket.due_at < now)
    out.overdue_total = int(await session.scalar(select(func.count(Ticket.id)).where(mine, *late)) or 0)
    overdue = await session.execute(
        select(Ticket.number, Ticket.category, Person.display_name, Ticket.due_at)
        .outerjoin(Person, Person.id == Ticket.assignee_id)
        .where(mine, *late)
        .order_by(Ticket.due_at, Ticket.id)
        .limit(LIST_AT_MOST)
    )
    out.overdue = [
        (str(number), category, name or "—", max(1, int((now - due).total_seconds() // 3600)))
        for number, category, name, due in overdue.all()
        if due is not None
    ]
    volume = func.count(Ticket.id)
    board = await session.execute(
        select(Person.display_name, volume, met, func.avg(Ticket.rating))
        .join(Person, Person.id == Ticket.assignee_id)
        .where(mine, resolved_now)
        .group_by(Person.id, Person.display_name)
        .order_by(volume.desc(), Person.display_name)
        .limit(LIST_AT_MOST)
    )
    out.scoreboard = [
        (name, int(count), int(hits or 0), float(rating) if rating is not None else None)
        for name, count, hits, rating in board.all()
    ]
    return out


async def supplies(session: AsyncSession, scope: Scope, start: datetime, end: datetime) -> Supplies:
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


async def trend(session: AsyncSession, scope: Scope, end: datetime, weeks: int = TREND_WEEKS) -> list[WeekFigures]:
    """Opened, resolved and the average rating for each of the last `weeks` weeks, in one query each."""
    mine = ticket_scope(scope)
    starts = [end - timedelta(days=7 * n) for n in range(weeks, 0, -1)]

    def counted(column: Any, start: datetime) -> Any:
        return func.sum(case((within(column, start, start + timedelta(days=7)), 1), else_=0))

    def rated(start: datetime) -> Any:
        return func.avg(case((within(Ticket.closed_at, start, start + timedelta(days=7)), Ticket.rating), else_=None))

    oldest = starts[0]
    opened = (
        await session.execute(
            select(*(counted(Ticket.created_at, s) for s in starts)).where(mine, Ticket.created_at >= oldest)
        )
    ).one()
    resolved = (
        await session.execute(
            select(*(counted(Ticket.resolved_at, s) for s in starts)).where(mine, Ticket.resolved_at >= oldest)
        )
    ).one()
    ratings = (
        await session.execute(
            select(*(rated(s) for s in starts)).where(mine, Ticket.closed_at >= oldest, Ticket.rating.is_not(None))
        )
    ).one()
    return [
        WeekFigures(s, int(o or 0), int(r or 0), float(a) if a is not None else None)
        for s, o, r, a in zip(starts, opened, resolved, ratings, strict=True)
    ]


async def compute(
    session: AsyncSession, scope: Scope, start: datetime, end: datetime, now: datetime, sections: Sequence[Section] = ()
) -> Digest:
    rating = (
        await session.execute(
            select(func.avg(Ticket.rating), func.count(Ticket.rating)).where(
                ticket_scope(scope), within(Ticket.closed_at, start, end), Ticket.rating.is_not(None)
            )
        )
    ).one()
    return Digest(
        scope=scope,
        start=start,
        end=end,
        repairs=await repairs(session, scope, start, end, now),
        supplies=await supplies(session, scope, start, end),
        rating=float(rating[0]) if rating[0] is not None else None,
        ratings=int(rating[1] or 0),
        trend=await trend(session, scope, end),
        surveys=[part for section in sections for part in await section(session, scope, start, end)],
    )


# --- what it says ---------------------------------------------------------------------------------


def percent(part: int, whole: int) -> str:
    return f"{round(100 * part / whole)}%" if whole else "—"


def hours(value: float | None) -> Renderable | str:
    return msg("digest.hours", hours=f"{value:.1f}") if value is not None else "—"


def stars(value: float | None) -> str:
    return f"★{value:.1f}" if value is not None else "—"


def text(digest: Digest, zone: Any) -> Lines:
    """The digest as catalog messages, one section per line group; empty sections say so briefly."""
    r, s = digest.repairs, digest.supplies
    day = "%m-%d"
    parts: list[Renderable] = [
        msg(
            "digest.title",
            scope=digest.scope.name,
            start=digest.start.astimezone(zone).strftime(day),
            end=(digest.end - timedelta(days=1)).astimezone(zone).strftime(day),
        ),
        msg(
            "digest.repairs",
            opened=r.opened,
            resolved=r.resolved,
            sla=percent(r.within_sla, r.resolved),
            median=hours(r.median_hours),
        ),
    ]
    if r.backlog:
        backlog = tuple(msg("digest.count_line", name=msg(f"repair.category.{c}"), count=n) for c, n in r.backlog)
        parts.append(msg("digest.backlog", lines=Lines(backlog)))
    if r.overdue_total:
        late = tuple(
            msg("digest.overdue_line", number=n, category=msg(f"repair.category.{c}"), technician=t, hours=h)
            for n, c, t, h in r.overdue
        )
        parts.append(msg("digest.overdue", count=r.overdue_total, lines=Lines(late)))
    if r.scoreboard:
        board = tuple(
            msg("digest.score_line", technician=t, resolved=n, sla=percent(hit, n), rating=stars(a))
            for t, n, hit, a in r.scoreboard
        )
        parts.append(msg("digest.scoreboard", lines=Lines(board)))
    parts.append(
        msg(
            "digest.supplies",
            count=s.requisitions,
            approved=s.approved,
            approval=hours(s.approval_hours),
            pending=s.pending,
        )
    )
    if s.top_items:
        parts.append(
            msg(
                "digest.top_items",
                lines=Lines(tuple(msg("digest.count_line", name=n, count=q) for n, q in s.top_items)),
            )
        )
    if s.by_department:
        used = tuple(msg("digest.count_line", name=n, count=q) for n, q in s.by_department[:LIST_AT_MOST])
        parts.append(msg("digest.consumption", lines=Lines(used)))
    if s.low_stock:
        low = tuple(msg("digest.low_line", item=n, available=a, reorder=t) for n, a, t in s.low_stock[:LIST_AT_MOST])
        parts.append(msg("digest.low_stock", count=len(s.low_stock), lines=Lines(low)))
    parts.append(msg("digest.satisfaction", rating=stars(digest.rating), count=digest.ratings))
    parts.extend(digest.surveys)
    weeks = tuple(
        msg(
            "digest.trend_line",
            week=w.start.astimezone(zone).strftime(day),
            opened=w.opened,
            resolved=w.resolved,
            rating=stars(w.rating),
        )
        for w in digest.trend
    )
    parts.append(msg("digest.trend", lines=Lines(weeks)))
    if digest.unreachable:
        parts.append(msg("digest.unreachable", count=len(digest.unreachable), names=", ".join(digest.unreachable)))
    return Lines(tuple(parts))


def week_labels(digest: Digest, zone: Any) -> Sequence[str]:
    return [w.start.astimezone(zone).strftime("%m-%d") for w in digest.trend]


def chart(digest: Digest, locale: str, zone: ZoneInfo) -> Chart:
    """This week against the ones before: tickets opened and resolved, with labels in `locale`."""
    return Chart(
        title=msg("digest.chart.title", scope=digest.scope.name).render(locale),
        categories=week_labels(digest, zone),
        series=[
            Series(msg("digest.chart.opened").render(locale), [w.opened for w in digest.trend]),
            Series(msg("digest.chart.resolved").render(locale), [w.resolved for w in digest.trend]),
        ],
        # A quiet month still gets an axis from zero, not one around it.
        y_max=None if any(w.opened or w.resolved for w in digest.trend) else 1,
    )
