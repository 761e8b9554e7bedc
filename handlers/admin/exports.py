"""/export tickets|requisitions|stock|suggestions|audit [csv|xlsx] [FROM TO]: a file sent in chat.

Column headers, statuses and categories are in the asker's language, times in the organisation's
time zone. The files are written by handlers/core/sheets.py, the one writer every export uses (no cell
can become a formula). Every export is itself audited (who took which data out, how many rows).
Survey exports belong to the surveys area.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from handlers.admin.audit_log import entries
from handlers.core import authz, files
from handlers.core.adminkit import BadPeriod, Period, local_time, parse_period
from handlers.core.audit import done
from handlers.core.flow import Action, StepContext, said
from handlers.core.i18n import msg, translate
from handlers.core.refusals import Refused
from handlers.core.sheets import Cell, to_csv, to_xlsx
from handlers.repairs.tickets import place
from handlers.suggestions.box import number as suggestion_number
from storage.models import Department, Person, Requisition, Suggestion, SupplyItem, Ticket

KINDS = ("tickets", "requisitions", "stock", "suggestions", "audit")
FORMATS = ("csv", "xlsx")
MAX_ROWS = 50_000
COLUMNS: dict[str, tuple[str, ...]] = {
    "tickets": (
        "number",
        "status",
        "category",
        "urgency",
        "location",
        "description",
        "reporter",
        "assignee",
        "created",
        "due",
        "resolved",
        "closed",
        "rating",
        "reopened",
        "channel",
    ),
    "requisitions": (
        "number",
        "status",
        "requester",
        "department",
        "items",
        "quantity",
        "value",
        "purpose",
        "created",
        "closed",
        "handler",
    ),
    "stock": (
        "code",
        "name_zh",
        "name_en",
        "category",
        "unit",
        "on_hand",
        "reserved",
        "available",
        "reorder_at",
        "monthly_limit",
        "price",
    ),
    "suggestions": (
        "number",
        "status",
        "topic",
        "body",
        "author",
        "public",
        "upvotes",
        "result",
        "created",
    ),
    "audit": ("at", "who", "action", "record", "outcome", "channel", "detail"),
}


def when(moment: datetime | None, zone: ZoneInfo) -> str:
    return local_time(moment, zone) if moment is not None else ""


async def ticket_rows(session: AsyncSession, period: Period | None, zone: ZoneInfo, locale: str) -> list[list[Cell]]:
    query = select(Ticket).order_by(Ticket.id).limit(MAX_ROWS)
    if period is not None:
        start, end = period.bounds(zone)
        query = query.where(Ticket.created_at >= start, Ticket.created_at < end)
    return [
        [
            t.number,
            translate(locale, f"repair.status.{t.status}"),
            translate(locale, f"repair.category.{t.category}"),
            translate(locale, f"repair.urgency.{t.urgency}"),
            place(t).render(locale),
            t.description,
            t.reporter.display_name,
            t.assignee.display_name if t.assignee else "",
            when(t.created_at, zone),
            when(t.due_at, zone),
            when(t.resolved_at, zone),
            when(t.closed_at, zone),
            t.rating,
            t.reopen_count,
            t.channel,
        ]
        for t in (await session.scalars(query)).unique().all()
    ]


async def requisition_rows(
    session: AsyncSession, period: Period | None, zone: ZoneInfo, locale: str
) -> list[list[Cell]]:
    handler = aliased(Person)
    query = (
        select(Requisition, handler.display_name)
        .outerjoin(handler, handler.id == Requisition.handler_id)
        .order_by(Requisition.id)
        .limit(MAX_ROWS)
    )
    if period is not None:
        start, end = period.bounds(zone)
        query = query.where(Requisition.created_at >= start, Requisition.created_at < end)
    rows: list[list[Cell]] = []
    for r, handled_by in (await session.execute(query)).unique().all():
        department: Department | None = r.department
        rows.append(
            [
                r.number,
                translate(locale, f"requisition.status.{r.status}"),
                r.requester.display_name,
                (department.name_zh if locale == "zh_CN" else department.name_en) if department else "",
                "; ".join(f"{line.item.code}×{line.quantity}" for line in r.lines),
                r.total_quantity,
                r.total_value / 100,
                r.purpose,
                when(r.created_at, zone),
                when(r.closed_at, zone),
                handled_by or "",
            ]
        )
    return rows


async def stock_rows(session: AsyncSession, locale: str) -> list[list[Cell]]:
    items = await session.scalars(select(SupplyItem).order_by(SupplyItem.category, SupplyItem.code))
    return [
        [
            i.code,
            i.name_zh,
            i.name_en,
            translate(locale, f"supply.category.{i.category}"),
            translate(locale, f"supply.unit.{i.unit}"),
            i.on_hand,
            i.reserved,
            i.available,
            i.reorder_at,
            i.monthly_limit,
            i.unit_price / 100 if i.unit_price is not None else None,
        ]
        for i in items.all()
    ]


async def audit_rows(session: AsyncSession, period: Period | None, zone: ZoneInfo) -> list[list[Cell]]:
    found = await entries(session, zone, period, limit=MAX_ROWS)
    return [
        [
            when(e.at, zone),
            who or "Houqin",
            e.action,
            e.record or "",
            e.outcome,
            e.channel or "",
            json.dumps(e.detail, ensure_ascii=False) if e.detail else "",
        ]
        for e, who in reversed(found)
    ]


async def suggestion_rows(
    session: AsyncSession, period: Period | None, zone: ZoneInfo, locale: str
) -> list[list[Cell]]:
    """Who wrote an anonymous suggestion is never exported: not its route, not its time of day."""
    author = aliased(Person)
    query = (
        select(Suggestion, author.display_name)
        .outerjoin(author, (author.id == Suggestion.author_id) & Suggestion.named.is_(True))
        .order_by(Suggestion.id)
        .limit(MAX_ROWS)
    )
    if period is not None:
        start, end = period.bounds(zone)
        query = query.where(Suggestion.created_at >= start, Suggestion.created_at < end)
    anonymous = translate(locale, "suggest.by_anonymous")
    return [
        [
            suggestion_number(s),
            translate(locale, f"suggest.status.{s.status}"),
            translate(locale, f"suggest.topic.{s.topic}"),
            s.body,
            name if s.named and name else anonymous,
            "✓" if s.public else "",
            s.upvotes,
            s.outcome or "",
            when(s.created_at, zone) if s.named else s.created_at.astimezone(zone).date().isoformat(),
        ]
        for s, name in (await session.execute(query)).all()
    ]


async def export_command(ctx: StepContext, args: str) -> Action:
    words = args.split()
    kind = words[0].lower() if words else ""
    if kind not in KINDS:
        return said(msg("export.usage"))
    try:
        authz.require(ctx, f"export.{kind}")
    except Refused as refused:
        return said(refused.reason)
    rest = words[1:]
    fmt = "xlsx"
    if rest and rest[0].lower() in FORMATS:
        fmt, rest = rest[0].lower(), rest[1:]
    try:
        period = parse_period(rest, ctx.now.astimezone(ctx.zone).date()) if rest else None
    except BadPeriod:
        return said(msg("export.usage"))
    if kind == "suggestions":
        rows = await suggestion_rows(ctx.session, period, ctx.zone, ctx.locale)
    elif kind == "tickets":
        rows = await ticket_rows(ctx.session, period, ctx.zone, ctx.locale)
    elif kind == "requisitions":
        rows = await requisition_rows(ctx.session, period, ctx.zone, ctx.locale)
    elif kind == "stock":
        rows = await stock_rows(ctx.session, ctx.locale)
    else:
        rows = await audit_rows(ctx.session, period, ctx.zone)
    header = [translate(ctx.locale, f"export.column.{column}") for column in COLUMNS[kind]]
    name = f"{kind}-{period.compact if period else 'all'}.{fmt}"
    title = translate(ctx.locale, f"export.kind.{kind}")
    # Written once the rows' transaction has committed: 50,000 rows of XLSX take seconds of CPU.
    if fmt == "csv":
        export = files.Later(name, files.CSV, partial(to_csv, header, rows))
    else:
        export = files.Later(name, files.XLSX, partial(to_xlsx, title, header, rows))
    done(ctx, action=f"export.{kind}", record=name, rows=len(rows), format=fmt)
    shown: Any = period.label if period else msg("audit.all_time")
    return Action(
        say=((msg("export.done", kind=msg(f"export.kind.{kind}"), rows=len(rows), period=shown), ()),), later=(export,)
    )
