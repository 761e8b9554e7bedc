"""assignment: how long a repair report's choice of technician takes (tickets.LEAST_BUSY: the fewest open
tickets, then whoever waited longest), with a year of the demo's past and again with ten.

Every report runs it inside its transaction, so on SQLite everyone else waits as long. It should not
grow with the technicians' history (issue 17): a year of the demo organisation's past is written,
then copied nine times further back, and the median of repeated runs per category is reported for
each. Measured here, never asserted in tests.
"""

from __future__ import annotations

import statistics
import time
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from bench.common import Context, Row
from bot.areas import AREAS
from handlers.core.demo import write_past
from handlers.core.schedule import Schedule
from handlers.repairs.tickets import LEAST_BUSY
from storage.db import Database
from storage.models import PersonRole, Ticket, TicketEvent, utcnow

NAME = "assignment"
YEARS = 10
TARGET = 2.0  # ten years' history may cost at most this many times one year's


async def run(ctx: Context) -> list[Row]:
    rows: list[Row] = []
    runs = 20 if ctx.quick else 200
    for variant, url in await ctx.databases.both():
        db = Database(url)
        try:
            await write_past(db, AREAS, utcnow(), Schedule(ZoneInfo("Asia/Shanghai")))
            async with db.engine.connect() as connection:
                one_year = await _timed(connection, runs)
                tickets = await _older_years(connection, YEARS - 1)
                ten_years = await _timed(connection, runs)
        finally:
            await db.dispose()
        grew = ten_years / one_year if one_year else 0.0
        note = f"median of {runs} runs per category; {tickets} tickets after copying"
        rows.append(Row(NAME, variant, "choose a technician, 1 year of history", round(one_year, 3), "ms", note=note))
        rows.append(
            Row(
                NAME,
                variant,
                f"choose a technician, {YEARS} years of history",
                round(ten_years, 3),
                "ms",
                f"≤ {TARGET:.0f}× one year",
                grew <= TARGET,
                f"{grew:.2f}× one year",
            )
        )
    return rows


async def _timed(connection: AsyncConnection, runs: int) -> float:
    """The median milliseconds of LEAST_BUSY over every technician category, warm."""
    categories = (
        await connection.scalars(select(PersonRole.scope).where(PersonRole.role == "technician").distinct())
    ).all()
    took: list[float] = []
    for category in categories:
        await connection.execute(LEAST_BUSY, {"category": category})
        for _ in range(runs):
            began = time.perf_counter()
            await connection.execute(LEAST_BUSY, {"category": category})
            took.append(1000 * (time.perf_counter() - began))
    return statistics.median(took)


async def _older_years(connection: AsyncConnection, copies: int) -> int:
    """Copy every ticket and its history 1..`copies` years further back (closed long ago, as a real
    office's would be, but held by the same technicians); returns how many tickets there are then."""
    tickets = Ticket.__table__
    events = TicketEvent.__table__
    kept = [column for column in tickets.columns if column.name not in ("id", "number")]
    originals = (await connection.execute(select(tickets.c.id, *kept))).mappings().all()
    history: dict[int, list[dict[str, Any]]] = {}
    for event in (await connection.execute(select(events))).mappings().all():
        history.setdefault(event["ticket_id"], []).append(dict(event))
    for years in range(1, copies + 1):
        back = timedelta(days=365 * years)
        rows = []
        for ticket in originals:
            row = {column.name: ticket[column.name] for column in kept}
            for moment in ("created_at", "due_at", "resolved_at", "closed_at", "assigned_at"):
                if row.get(moment) is not None:  # .get: a tree before migration 0016 has no assigned_at
                    row[moment] -= back
            if row["status"] not in ("closed", "cancelled"):
                row["status"] = "closed"
            rows.append(row)
        made = (
            await connection.execute(insert(Ticket).returning(Ticket.id, sort_by_parameter_order=True), rows)
        ).scalars()
        copied = [
            {**{key: value for key, value in event.items() if key != "id"}, "ticket_id": new, "at": event["at"] - back}
            for ticket, new in zip(originals, made, strict=True)
            for event in history.get(ticket["id"], [])
        ]
        if copied:
            await connection.execute(insert(TicketEvent), copied)
    await connection.commit()
    if connection.dialect.name == "postgresql":
        # What autovacuum would do after such a load, so the planner knows the tables' sizes.
        await connection.execute(text("ANALYZE tickets, ticket_events"))
        await connection.commit()
    return len(originals) * (copies + 1)
