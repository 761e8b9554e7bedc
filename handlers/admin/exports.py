"""/export <kind> [csv|xlsx] [FROM TO] (tickets, requisitions, stock, suggestions, audit, and what the
other areas offer): a file sent in chat.

Column headers, statuses and categories are in the asker's language, times in the organisation's
time zone. The files are written by handlers/core/sheets.py, the one writer every export uses (no cell
can become a formula). Every export is itself audited (who took which data out, how many rows).
Survey exports belong to the surveys area.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.admin.audit_log import entries
from handlers.core import authz, files
from handlers.core.adminkit import MAX_ROWS, BadPeriod, Period, parse_period, when
from handlers.core.area import Area, Export
from handlers.core.audit import done
from handlers.core.flow import Action, StepContext, said
from handlers.core.i18n import Msg, msg, translate
from handlers.core.refusals import Refused
from handlers.core.sheets import Cell, to_csv, to_xlsx

FORMATS = ("csv", "xlsx")


async def audit_rows(session: AsyncSession, period: Period | None, zone: ZoneInfo, locale: str) -> list[list[Cell]]:
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


# The admin area's own export; each area declares its own (Area.exports).
AUDIT = Export(("at", "who", "action", "record", "outcome", "channel", "detail"), audit_rows)


def kinds(areas: Sequence[Area]) -> dict[str, Export]:
    """What /export can write: every running area's exports and the audit log."""
    return {**{kind: export for area in areas for kind, export in area.exports.items()}, "audit": AUDIT}


def usage(ctx: StepContext) -> Msg:
    """How /export is typed, with the kinds the running areas offer (tickets, readings, bookings…)."""
    return msg("export.usage", kinds="|".join(kinds(ctx.areas)))


async def export_command(ctx: StepContext, args: str) -> Action:
    words = args.split()
    kind = words[0].lower() if words else ""
    export = kinds(ctx.areas).get(kind)
    if export is None:
        return said(usage(ctx))
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
        return said(usage(ctx))
    rows = await export.rows(ctx.session, period, ctx.zone, ctx.locale)
    header = [translate(ctx.locale, f"export.column.{column}") for column in export.columns]
    name = f"{kind}-{period.compact if period else 'all'}.{fmt}"
    title = translate(ctx.locale, f"export.kind.{kind}")
    # Written once the rows' transaction has committed: 50,000 rows of XLSX take seconds of CPU.
    if fmt == "csv":
        written = files.Later(name, files.CSV, partial(to_csv, header, rows))
    else:
        written = files.Later(name, files.XLSX, partial(to_xlsx, title, header, rows))
    done(ctx, action=f"export.{kind}", record=name, rows=len(rows), format=fmt)
    shown: Any = period.label if period else msg("audit.all_time")
    exported = msg("export.done", kind=msg(f"export.kind.{kind}"), count=len(rows), period=shown)
    return Action(say=((exported, ()),), later=(written,))
