"""The weekly digest: one message that tells a manager their department's week, and logistics admins
and admins the organisation's.

Every figure is an aggregate query (COUNT/SUM/AVG with GROUP BY, or one ORDER BY … OFFSET for the
median), filtered on indexed times, so it stays fast with 100k+ tickets: no rows are loaded into
Python to be counted. The digest is data (``Digest``); ``text`` turns it into catalog messages,
rendered in each recipient's language when it is sent.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import refusals
from handlers import requisitions as req
from handlers.charts import Chart, Series, draw
from handlers.conversation import FileOut
from handlers.files import keep
from handlers.flow import Action, Area, StepContext
from handlers.i18n import Label, Lines, Renderable, msg, pick_locale
from handlers.outbox import Notice
from handlers.refusals import Refused
from handlers.reminders import QUEUE_BUTTON, overdue_notice
from handlers.reminders import Context as ReminderContext
from handlers.rules import SupplyRules
from handlers.schedule import Schedule
from handlers.sends import Delivery, Served, Tally, deliver_all, serve
from handlers.tickets import WORKING
from storage.db import Database
from storage.models import (
    ChannelAccount,
    Department,
    Person,
    PersonRole,
    Requisition,
    RequisitionEvent,
    RequisitionLine,
    StockMovement,
    SupplyItem,
    Ticket,
)

OPEN_NOT_RESOLVED = ("new", *WORKING)
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
    # Satisfaction from surveys (NPS, trend, new suggestions): the surveys branch fills this in
    # once it is on main; the digest shows whatever it holds.
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


async def compute(session: AsyncSession, scope: Scope, start: datetime, end: datetime, now: datetime) -> Digest:
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
        used = tuple(msg("digest.count_line", name=n, count=q) for n, q in s.by_department)
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


def figures(digest: Digest) -> dict[str, Any]:
    """The numbers alone (for tests and the dry run's checks)."""
    return {
        "opened": digest.repairs.opened,
        "resolved": digest.repairs.resolved,
        "within_sla": digest.repairs.within_sla,
        "median_hours": digest.repairs.median_hours,
        "requisitions": digest.supplies.requisitions,
        "approved": digest.supplies.approved,
        "rating": digest.rating,
    }


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


# --- who gets it, and sending it once per person per week -----------------------------------------

log = logging.getLogger(__name__)
ORG_ROLES = ("logistics_admin", "admin")
REMIND_BUTTON = "jb:remind"


@dataclass(frozen=True)
class Recipient:
    person_id: int
    name: str
    scope: Scope


async def recipients(session: AsyncSession) -> list[Recipient]:
    """Each manager for their department; logistics admins and admins for the whole organisation."""
    found: list[Recipient] = []
    managers = await session.execute(
        select(Person.id, Person.display_name, Department)
        .join(PersonRole, PersonRole.person_id == Person.id)
        .join(Department, Department.code == PersonRole.scope)
        .where(PersonRole.role == "manager")
        .order_by(Person.id, Department.code)
    )
    found += [Recipient(pid, name, Scope(department)) for pid, name, department in managers.all()]
    org = await session.execute(
        select(Person.id, Person.display_name)
        .join(PersonRole, PersonRole.person_id == Person.id)
        .where(PersonRole.role.in_(ORG_ROLES))
        .distinct()
        .order_by(Person.id)
    )
    found += [Recipient(pid, name, Scope()) for pid, name in org.all()]
    return found


async def reachable(session: AsyncSession, person_ids: Sequence[int]) -> set[int]:
    """Who has an account we may write to (not marked unreachable: blocked the bot, left)."""
    found = await session.scalars(
        select(ChannelAccount.person_id)
        .where(ChannelAccount.person_id.in_(person_ids))
        .where(ChannelAccount.unreachable_since.is_(None), ChannelAccount.address.is_not(None))
        .distinct()
    )
    return set(found.all())


@dataclass
class Prepared:
    period: str
    digests: dict[str, Digest]
    recipients: list[Recipient]
    unreachable: list[Recipient]
    locales: dict[int, str]
    # Each scope's chart in each language someone reads it in: drawn before the fan-out, so no
    # transaction is held open while matplotlib works.
    charts: dict[tuple[str, str], bytes]


async def prepare(
    db: Database,
    schedule: Schedule,
    due: datetime,
    now: datetime,
    only: Sequence[int] | None = None,
    period: str | None = None,
    default_locale: str = "zh_CN",
) -> Prepared:
    """The digests of the week that ends before `due`, one per scope, and who gets which."""
    start, end = schedule.digest_week(due)
    async with db.unit_of_work() as session:
        everyone = await recipients(session)
        if only is not None:
            everyone = [r for r in everyone if r.person_id in only]
        can = await reachable(session, [r.person_id for r in everyone])
        locales = {r.person_id: await locale_of(session, r.person_id, default_locale) for r in everyone}
        digests: dict[str, Digest] = {}
        for recipient in everyone:
            if recipient.scope.subject not in digests:
                digests[recipient.scope.subject] = await compute(session, recipient.scope, start, end, now)
    charts: dict[tuple[str, str], bytes] = {}
    for recipient in everyone:
        key = (recipient.scope.subject, locales[recipient.person_id])
        if key not in charts:
            charts[key] = await draw(chart(digests[key[0]], key[1], schedule.zone))
    unreachable = [r for r in everyone if r.person_id not in can]
    if "org" in digests:
        # Admins should know who cannot be reached, to fix it.
        digests["org"].unreachable = sorted({r.name for r in unreachable})
    reached = [r for r in everyone if r.person_id in can]
    return Prepared(period or schedule.week_key(due), digests, reached, unreachable, locales, charts)


async def pending_for(session: AsyncSession, person: Person, now: datetime, zone: ZoneInfo) -> int:
    actor = req.Actor(session, person, "system", now, zone, SupplyRules())
    return len(await req.awaiting_decision(actor))


async def notice_for(
    session: AsyncSession,
    recipient: Recipient,
    digest: Digest,
    now: datetime,
    zone: ZoneInfo,
    picture: tuple[str, bytes] | None = None,
) -> Notice:
    """The digest as one person gets it: with the buttons that help them now, and its chart
    (kept for them, sent after the text)."""
    person = await session.get(Person, recipient.person_id)
    assert person is not None
    rows: list[tuple[tuple[Renderable, str], ...]] = []
    pending = await pending_for(session, person, now, zone)
    if pending:
        rows.append(((msg("digest.button.approve", count=pending), QUEUE_BUTTON),))
    if digest.repairs.overdue_total:
        rows.append(((msg("digest.button.remind", count=digest.repairs.overdue_total), REMIND_BUTTON),))
    files: tuple[FileOut, ...] = ()
    if picture is not None:
        name, png = picture
        files = (await keep(session, recipient.person_id, name, "image/png", png, now),)
    return Notice(recipient.person_id, text(digest, zone), tuple(rows), files=files)


async def send_weekly(
    db: Database,
    schedule: Schedule,
    due: datetime,
    now: datetime,
    only: Sequence[int] | None = None,
    period: str | None = None,
    default_locale: str = "zh_CN",
) -> Tally:
    """Each recipient gets this week's digest once (or once per `period` given, for one on demand);
    a rerun serves only those not yet served."""
    prepared = await prepare(db, schedule, due, now, only, period, default_locale)

    def delivery(recipient: Recipient) -> Delivery:
        subject = recipient.scope.subject
        digest = prepared.digests[subject]
        png = prepared.charts[(subject, prepared.locales[recipient.person_id])]
        name = f"digest-{prepared.period.replace(':', '-')}-{subject.replace(':', '-')}.png"

        async def build(session: AsyncSession) -> Notice:
            return await notice_for(session, recipient, digest, now, schedule.zone, (name, png))

        return Delivery("digest", recipient.scope.subject, recipient.person_id, prepared.period, build)

    tally = await deliver_all(db, [delivery(r) for r in prepared.recipients], now)
    tally.unreachable += [r.person_id for r in prepared.unreachable]
    if prepared.unreachable:
        log.info("digest %s: unreachable: %s", prepared.period, ", ".join(r.name for r in prepared.unreachable))
    return tally


async def find_person(session: AsyncSession, who: str) -> int | None:
    """A person by id, demo key or display name (for `houqin digest --to`)."""
    if who.isdigit() and await session.get(Person, int(who)) is not None:
        return int(who)
    found = await session.scalar(
        select(Person.id).where(or_(Person.demo_key == who, Person.display_name == who)).order_by(Person.id).limit(1)
    )
    return int(found) if found is not None else None


async def locale_of(session: AsyncSession, person_id: int, default: str) -> str:
    """The language a person reads: their choice, else their latest app's, else the organisation's."""
    person = await session.get(Person, person_id)
    hint = await session.scalar(
        select(ChannelAccount.platform_locale)
        .where(ChannelAccount.person_id == person_id)
        .order_by(ChannelAccount.last_seen_at.desc().nulls_last(), ChannelAccount.id)
        .limit(1)
    )
    return pick_locale(person.locale if person else None, hint, default)


@dataclass(frozen=True)
class Preview:
    heading: str
    text: str
    chart_name: str
    chart: bytes


async def dry_run(
    db: Database,
    schedule: Schedule,
    now: datetime,
    default_locale: str,
    only: Sequence[int] | None,
) -> list[Preview]:
    """Each digest as its recipient would read it, sending and keeping nothing (the transaction
    it is built in is rolled back)."""
    prepared = await prepare(db, schedule, now, now, only, None, default_locale)
    shown: list[Preview] = []
    async with db.sessions() as session:
        for recipient in [*prepared.recipients, *prepared.unreachable]:
            subject = recipient.scope.subject
            locale = prepared.locales[recipient.person_id]
            notice = await notice_for(session, recipient, prepared.digests[subject], now, schedule.zone)
            buttons = "  ".join(f"[{label.render(locale)}]" for row in notice.buttons for label, _ in row)
            reached = "" if recipient in prepared.recipients else " (unreachable: would be skipped)"
            heading = f"{recipient.name} ({recipient.person_id}), {subject}, {locale}{reached}"
            body = notice.text.render(locale) + (f"\n{buttons}" if buttons else "")
            name = f"digest-{recipient.person_id}-{subject.replace(':', '-')}.png"
            shown.append(Preview(heading, body, name, prepared.charts[(subject, locale)]))
        await session.rollback()
    return shown


# --- the digest's buttons: jb:queue (the approval queue), jb:remind (nudge overdue technicians) ----


async def on_button(ctx: StepContext, value: str) -> Action:
    if value == "queue":
        return await req.requisitions_command(ctx, "")
    if value == "remind":
        try:
            return await remind_overdue(ctx)
        except Refused as refused:
            return Action(say=((refused.reason, ()),), toast=refused.reason)
    return Action(say=((msg("dialog.error.forged_button"), ()),), toast=msg("dialog.error.forged_button"))


async def remind_overdue(ctx: StepContext) -> Action:
    """A manager (their departments) or an admin (everyone) nudges the technicians of overdue tickets
    now. Who may, and whose tickets, is decided here from the presser's roles, never from the button."""
    person = ctx.person
    scopes: list[Scope] = []
    if any(person.has_role(role) for role in ORG_ROLES):
        scopes = [Scope()]
    else:
        codes = req.managed_departments(person)
        if codes:
            found = await ctx.session.scalars(select(Department).where(Department.code.in_(codes)))
            scopes = [Scope(d) for d in found.all()]
    if not scopes:
        refusals.refuse(ctx, action="digest.remind", record=None, reason=msg("digest.error.not_allowed"))
    late = await ctx.session.scalars(
        select(Ticket)
        .where(or_(*(ticket_scope(s) for s in scopes)))
        .where(Ticket.status.in_(OPEN_NOT_RESOLVED), Ticket.due_at < ctx.now, Ticket.assignee_id.is_not(None))
        .order_by(Ticket.due_at, Ticket.id)
    )
    schedule = Schedule(ctx.zone)
    reminder = ReminderContext(ctx.session, schedule, ctx.rules, ctx.now)
    # Once an hour per ticket: a second press (or a second manager) in the same hour nudges nobody twice.
    hour = schedule.local(ctx.now).strftime("%Y-%m-%dT%H")
    reminded: set[int] = set()
    for ticket in late.unique().all():
        assert ticket.assignee_id is not None
        notice = overdue_notice(reminder, ticket, ticket.assignee_id)

        async def build(session: AsyncSession, notice: Notice = notice) -> Notice:
            return notice

        delivery = Delivery("reminder.overdue", str(ticket.number), ticket.assignee_id, hour, build)
        if await serve(ctx.session, delivery, ctx.now) is Served.SENT:
            reminded.add(ticket.assignee_id)
    done = msg("digest.reminded", count=len(reminded))
    return Action(say=((done, ()),), toast=done, chosen=msg("digest.button.remind_done"))


AREA = Area(buttons={"jb": on_button})


def with_surveys(digest: Digest, parts: Sequence[Renderable]) -> Digest:
    """The hook the surveys area calls to add its satisfaction figures (NPS, trend, suggestions)."""
    return replace(digest, surveys=[*digest.surveys, *parts])
