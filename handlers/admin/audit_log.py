"""/audit [person|record] [FROM TO]: the audit log shown to admins, a page at a time, newest first
(written by handlers/core/audit.py)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core import authz, ids
from handlers.core.adminkit import BadPeriod, Period, local_time, paged, parse_period, person_ref
from handlers.core.flow import Action, StepContext, said
from handlers.core.i18n import Renderable, catalog, msg
from handlers.core.people import find_person
from handlers.core.refusals import Refused
from storage.models import AuditEntry, Person

MAX_RECORD = 40


def entries_query(
    period: Period | None, zone: ZoneInfo, person: Person | None, record: str | None
) -> Select[AuditEntry, str]:
    query = select(AuditEntry, Person.display_name).outerjoin(Person, Person.id == AuditEntry.actor_id)
    if period is not None:
        start, end = period.bounds(zone)
        query = query.where(AuditEntry.at >= start, AuditEntry.at < end)
    if person is not None:
        # Someone's own actions, and what was done to them (role changes name the person as the record).
        query = query.where(or_(AuditEntry.actor_id == person.id, AuditEntry.record == f"person:{person.id}"))
    if record is not None:
        query = query.where(AuditEntry.record == record)
    return query


async def entries(
    session: AsyncSession,
    zone: ZoneInfo,
    period: Period | None,
    person: Person | None = None,
    record: str | None = None,
    limit: int = 5000,
) -> list[tuple[AuditEntry, str | None]]:
    """Newest first."""
    query = entries_query(period, zone, person, record).order_by(AuditEntry.id.desc()).limit(limit)
    return [(row[0], row[1]) for row in (await session.execute(query)).all()]


def named(kind: str, code: str | None) -> Renderable | str:
    """An action's or channel's name from the catalogs (audit.po); a code they do not name (an older
    row, a new action) as it is, never an error."""
    if code is None:
        return "—"
    key = f"audit.{kind}.{code}"
    return msg(key) if key in catalog("en") else code


def entry_line(entry: AuditEntry, who: str | None, zone: ZoneInfo) -> Renderable:
    return msg(
        "audit.line_refused" if entry.outcome == "refused" else "audit.line",
        at=local_time(entry.at, zone),
        who=who or "Houqin",
        action=named("action", entry.action),
        record=entry.record or "—",
        channel=named("channel", entry.channel),
    )


async def audit_command(ctx: StepContext, args: str) -> Action:
    """/audit [person|record] [FROM TO]"""
    try:
        authz.require(ctx, "audit.view")
    except Refused as refused:
        return said(refused.reason)
    words = args.split()
    subject = words[0] if words and not words[0][:1].isdigit() else ""
    rest = words[1:] if subject else words
    try:
        period = parse_period(rest, ctx.now.astimezone(ctx.zone).date()) if rest else None
    except BadPeriod:
        return said(msg("audit.usage"))
    return await audit_page(ctx, subject, period, 0)


async def audit_page(ctx: StepContext, subject: str, period: Period | None, page: int) -> Action:
    person, record = None, None
    if subject:
        person = await find_person(ctx.session, subject)
        if person is None and subject.startswith(("@", "#")):
            return said(msg("admin.error.no_such_person", ref=subject[:40]))
        if person is None and len(subject.encode()) > MAX_RECORD:
            return said(msg("audit.usage"))
        if person is None:
            record = subject.upper() if subject[:2].upper() in ("R-", "S-") else subject
    found = await entries(ctx.session, ctx.zone, period, person, record)
    lines = [entry_line(entry, who, ctx.zone) for entry, who in found]
    about = person_ref(person) if person is not None else record or ""
    title = msg(
        "audit.title",
        about=about or msg("audit.everyone"),
        period=period.label if period else msg("audit.all_time"),
    )
    when = period.compact if period else ""
    # Telegram carries at most 64 bytes of a button: a person travels as #id.
    carried = f"#{person.id}" if person is not None else about
    text, rows = paged(title, lines, page, lambda target: f"aud:{target}:{carried}:{when}")
    return said(text, rows)


async def on_button(ctx: StepContext, value: str) -> Action:
    """aud:<page>:<person or record>:<period>: the next page, checked again like the command."""
    try:
        authz.require(ctx, "audit.view")
    except Refused as refused:
        return Action(say=((refused.reason, ()),), toast=refused.reason)
    page, _, rest = value.partition(":")
    subject, _, when = rest.rpartition(":")
    period = Period.from_compact(when) if when else None
    number = ids.parse_id(page)
    if number is None or (when and period is None):
        return said(msg("dialog.error.forged_button"))
    return await audit_page(ctx, subject, period, number)
