"""digest: how long the weekly digest takes to compute as the history grows.

A scratch database gets a year of history, spread evenly: tickets (a tenth still open, most rated,
some overdue), requisitions (a fifth of the tickets' count, two lines each, most approved),
anonymous survey answers (half the tickets' count; a rating and an NPS question) and, whatever the
size, a year of inspection rounds (six routes walked daily, ten items each, a fault now and then)
and of meter readings (eight meters read daily). Then the
organisation's digest for the last full week (what admins receive: every section, the 4-week trend,
survey satisfaction and suggestions) is computed three times; the median counts. One department's
digest is timed too, because its scope is a subquery over people. Drawing the chart is timed apart.

SQLite: 10k and 100k tickets (the target: ≤ 1 s at 100k); PostgreSQL: 10k, 100k and 1M (≤ 1 s at
1M). Rows go in by executemany on SQLite and COPY on PostgreSQL, so filling is quick.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from random import Random
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from bench.common import Context, Row
from bot.areas import AREAS
from handlers.core.charts import render
from handlers.core.digest import Scope, chart, compute
from handlers.digest.send import sections_of
from handlers.repairs.digest import Repairs
from storage.db import Database
from storage.models import (
    Building,
    Department,
    InspectionResult,
    InspectionRound,
    InspectionRoute,
    InspectionRouteVersion,
    Meter,
    MeterReading,
    Person,
    PersonRole,
    Requisition,
    RequisitionEvent,
    RequisitionLine,
    SupplyItem,
    Survey,
    SurveyResponse,
    Ticket,
)

# Every area's part, as the service computes it.
SECTIONS = sections_of(AREAS)
NAME = "digest"
TARGET_S = 1.0
NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # a Monday, 09:00 in Shanghai
WEEK_END = NOW
WEEK_START = WEEK_END - timedelta(days=7)
CHUNK = 20_000
# A year of inspection rounds beside the other history: six routes, ten checklist items each.
ROUTES, ITEMS = 6, 10
METERS = 8
RECENTLY, OPEN_RECENTLY, OPEN_LONG_AGO = timedelta(days=14), 0.4, 0.002
CATEGORIES = ("electrical", "plumbing", "hvac", "furniture", "cleaning", "it", "other")
URGENCY_HOURS = {"low": 72, "normal": 24, "high": 8, "urgent": 4}
SURVEY = {
    "title": {"zh": "基准问卷", "en": "Benchmark survey"},
    "questions": [
        {"id": "overall", "type": "rating", "text": {"zh": "满意吗", "en": "Satisfied?"}, "required": True},
        {"id": "nps", "type": "nps", "text": {"zh": "推荐吗", "en": "Recommend?"}, "required": True},
    ],
}


async def run(ctx: Context) -> list[Row]:
    rows: list[Row] = []
    sqlite_sizes = (10_000,) if ctx.quick else (10_000, 100_000)
    for size in sqlite_sizes:
        rows.extend(await measure("SQLite", await ctx.databases.sqlite(), size, target=size == 100_000))
    pg_sizes = (10_000,) if ctx.quick else (10_000, 100_000, 1_000_000)
    for size in pg_sizes:
        url = await ctx.databases.postgresql()
        if url is None:
            break
        rows.extend(await measure("PostgreSQL", url, size, target=size == 1_000_000))
    return rows


async def measure(variant: str, url: str, tickets: int, *, target: bool) -> list[Row]:
    db = Database(url)
    try:
        began = time.perf_counter()
        await fill(db, tickets, Random(tickets))
        filled = time.perf_counter() - began
        org = await timed(db, None)
        department = await timed(db, "finance")
        async with db.unit_of_work() as session:
            digest = await compute(session, Scope(None), WEEK_START, WEEK_END, NOW, SECTIONS)
        drawing = chart(digest, "zh_CN", _zone())
        assert drawing is not None
        started = time.perf_counter()
        render(drawing)
        drawn = time.perf_counter() - started
    finally:
        await db.dispose()
    repairs = digest.find(Repairs)
    assert repairs is not None
    label = f"{variant}, {tickets:,} tickets"
    note = (
        f"{tickets // 5:,} requisitions, {tickets // 2:,} survey answers; filled in {filled:.0f} s; "
        f"the week: {repairs.opened} opened, {repairs.resolved} resolved"
    )
    judged = f"≤ {TARGET_S:g} s" if target else ""
    return [
        Row(
            NAME,
            label,
            "organisation's digest (median of 3)",
            org,
            "s",
            judged,
            org <= TARGET_S if target else None,
            note,
        ),
        Row(NAME, label, "one department's digest (median of 3)", department, "s"),
        Row(NAME, label, "drawing its chart", drawn, "s", note=note),
    ]


def _zone() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo("Asia/Shanghai")


async def timed(db: Database, department_code: str | None) -> float:
    took: list[float] = []
    for _ in range(3):
        async with db.unit_of_work() as session:
            department = None
            if department_code is not None:
                department = await session.scalar(select(Department).where(Department.code == department_code))
            started = time.perf_counter()
            await compute(session, Scope(department), WEEK_START, WEEK_END, NOW, SECTIONS)
            took.append(time.perf_counter() - started)
    return statistics.median(took)


# --- a year of history -----------------------------------------------------------------------------


async def fill(db: Database, tickets: int, rng: Random) -> None:
    async with db.unit_of_work() as session:
        people = list((await session.execute(select(Person.id, Person.department_id))).all())
        technicians = list(
            (await session.scalars(select(PersonRole.person_id).where(PersonRole.role == "technician"))).all()
        )
        items = list((await session.execute(select(SupplyItem.id, SupplyItem.unit_price))).all())
        survey = Survey(
            title_zh="基准问卷",
            title_en="Benchmark survey",
            anonymous=True,
            definition=SURVEY,
            status="open",
            audience={"kind": "everyone", "codes": []},
            opens_at=NOW - timedelta(days=365),
            closes_at=NOW + timedelta(days=30),
            created_at=NOW - timedelta(days=366),
            launched_at=NOW - timedelta(days=365),
        )
        session.add(survey)
        await session.flush()
        survey_id = survey.id
        routes = []
        for number in range(ROUTES):
            route = InspectionRoute(
                code=f"BENCH-{number}", name_zh=f"基准巡检 {number}", name_en=f"Bench round {number}"
            )
            session.add(route)
            await session.flush()
            version = InspectionRouteVersion(route_id=route.id, version=1, definition={"checkpoints": []})
            session.add(version)
            await session.flush()
            routes.append((route.id, version.id))
        buildings = list((await session.scalars(select(Building.id).order_by(Building.id))).all())
        meters = []
        for number in range(METERS):
            meter = Meter(
                code=f"E-BENCH-{number}",
                name=f"基准电表 {number}",
                kind="electricity" if number % 2 == 0 else "water",
                unit="kWh" if number % 2 == 0 else "m³",
                building_id=buildings[number % len(buildings)],
            )
            session.add(meter)
            await session.flush()
            meters.append(meter.id)
    async with db.engine.begin() as connection:
        await load(connection, Ticket, ticket_rows(timeline(tickets, rng), people, technicians, rng))
        first_requisition = 1 + int(
            await connection.scalar(select(Requisition.id).order_by(Requisition.id.desc()).limit(1)) or 0
        )
        requisitions = tickets // 5
        asked = timeline(requisitions, rng)
        await load(connection, Requisition, requisition_rows(asked, people, rng))
        ids = range(first_requisition, first_requisition + requisitions)
        await load(connection, RequisitionLine, line_rows(ids, items, rng))
        await load(connection, RequisitionEvent, event_rows(ids, asked, technicians, rng))
        await load(connection, SurveyResponse, answer_rows(survey_id, timeline(tickets // 2, rng), rng))
        first_round = 1 + int(
            await connection.scalar(select(InspectionRound.id).order_by(InspectionRound.id.desc()).limit(1)) or 0
        )
        walked = list(round_rows(routes, technicians, rng))
        await load(connection, InspectionRound, iter(walked))
        await load(connection, InspectionResult, result_rows(first_round, walked, rng))
        await load(connection, MeterReading, reading_rows(meters, technicians, rng))
    # As any live database has: PostgreSQL's autovacuum keeps statistics, SQLite's planner reads
    # sqlite_stat1. Right after a bulk load neither has any, and plans are guesses.
    async with db.engine.begin() as connection:
        await connection.execute(text("ANALYZE"))


async def load(connection: AsyncConnection, model: type[Any], rows: Iterator[dict[str, Any]]) -> None:
    table = model.__table__
    if connection.dialect.name == "postgresql":
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection
        assert driver is not None
        for chunk in chunks(rows):
            columns = list(chunk[0])
            await driver.copy_records_to_table(
                table.name, records=[tuple(copyable(row[c]) for c in columns) for row in chunk], columns=columns
            )
    else:
        for chunk in chunks(rows):
            await connection.execute(insert(table), chunk)


def copyable(value: Any) -> Any:
    """COPY takes JSON columns as text."""
    return json.dumps(value) if isinstance(value, dict) else value


def chunks(rows: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def round_rows(routes: Sequence[tuple[int, int]], technicians: Sequence[int], rng: Random) -> Iterator[dict[str, Any]]:
    """Each route's round of every day of the year, in day order: nearly all done (a tenth late),
    the rest missed."""
    for days_ago in range(365, 0, -1):
        due = NOW - timedelta(days=days_ago, hours=rng.randint(0, 6))
        for route_id, version_id in routes:
            done = rng.random() < 0.95
            finished = due + timedelta(minutes=rng.randint(-90, 240 if rng.random() < 0.1 else -5))
            yield {
                "route_id": route_id,
                "version_id": version_id,
                "schedule_id": None,
                "day": due.date().isoformat(),
                "due_at": due,
                "person_id": None,
                "specialty": "electrical",
                "status": "done" if done else "due",
                "inspector_id": rng.choice(technicians) if done else None,
                "started_at": finished - timedelta(minutes=40) if done else None,
                "finished_at": finished if done else None,
                "created_at": due - timedelta(hours=9),
                "number": None,
            }


def result_rows(first: int, walked: Sequence[dict[str, Any]], rng: Random) -> Iterator[dict[str, Any]]:
    """Ten answers for each round walked; one in thirty a fault, half of those opening a ticket."""
    for offset, round_ in enumerate(walked):
        if round_["status"] != "done":
            continue
        for item in range(ITEMS):
            fault = rng.random() < 1 / 30
            yield {
                "round_id": first + offset,
                "checkpoint": f"P{item // 3}",
                "item": item % 3,
                "outcome": "fail" if fault else "ok",
                "value": None,
                "note": None,
                "photo_id": None,
                "ticket_id": None,
                "opened_ticket": fault and rng.random() < 0.5,
                "person_id": round_["inspector_id"],
                "at": round_["finished_at"],
            }


def reading_rows(meters: Sequence[int], technicians: Sequence[int], rng: Random) -> Iterator[dict[str, Any]]:
    """Every meter read each morning of the year, rising by a day's use."""
    dial = {meter: rng.randrange(1_000_000, 50_000_000) for meter in meters}
    for days_ago in range(365, 0, -1):
        at = NOW - timedelta(days=days_ago, hours=rng.randint(0, 2))
        for meter in meters:
            dial[meter] += rng.randrange(200_000, 900_000)  # thousandths: 200–900 units a day
            yield {
                "meter_id": meter,
                "thousandths": dial[meter],
                "read_at": at,
                "reset": False,
                "person_id": rng.choice(technicians),
                "channel": "web",
                "round_id": None,
            }


def timeline(count: int, rng: Random) -> list[datetime]:
    """`count` times in the year before NOW, evenly, in order: rows go in as they were created, so a
    week's rows sit together on disk as they do in a live database (random order would spread one
    week over every page of the table)."""
    return sorted(NOW - timedelta(seconds=rng.randrange(365 * 86400)) for _ in range(count))


def ticket_rows(
    times: Sequence[datetime], people: Sequence[Any], technicians: Sequence[int], rng: Random
) -> Iterator[dict[str, Any]]:
    for n, created in enumerate(times):
        urgency = rng.choice(tuple(URGENCY_HOURS))
        due = created + timedelta(hours=URGENCY_HOURS[urgency])
        # The open backlog is mostly the last fortnight's, with a few old stragglers.
        still_open = rng.random() < (OPEN_RECENTLY if NOW - created < RECENTLY else OPEN_LONG_AGO)
        resolved = None if still_open else created + timedelta(hours=rng.uniform(0.5, 2.2 * URGENCY_HOURS[urgency]))
        closed = None if resolved is None else resolved + timedelta(hours=rng.uniform(1, 48))
        yield {
            "number": f"B-{n:07d}",
            "reporter_id": rng.choice(people)[0],
            "category": rng.choice(CATEGORIES),
            "building_id": None,
            "room_id": None,
            "location_text": "基准",
            "description": "bench",
            "urgency": urgency,
            "status": rng.choice(("new", "assigned", "in_progress")) if still_open else "closed",
            "channel": "telegram",
            "created_at": created,
            "assignee_id": rng.choice(technicians),
            "due_at": due,
            "resolved_at": resolved,
            "closed_at": closed,
            "rating": rng.choice((3, 4, 4, 5, 5, None)) if closed else None,
            "rating_comment": None,
            "reopen_count": 0,
            "version": 1,
        }


def requisition_rows(times: Sequence[datetime], people: Sequence[Any], rng: Random) -> Iterator[dict[str, Any]]:
    for n, created in enumerate(times):
        person, department = rng.choice(people)
        yield {
            "number": f"BS-{n:07d}",
            "requester_id": person,
            "department_id": department,
            "purpose": "bench",
            "status": rng.choice(("handed_out", "handed_out", "approved", "pending_manager", "rejected")),
            "channel": "telegram",
            "total_quantity": 3,
            "total_value": 3000,
            "needs_second": False,
            "created_at": created,
            "first_approver_id": None,
            "second_approver_id": None,
            "handler_id": None,
            "pickup_place": None,
            "reject_reason": None,
            "closed_at": None,
            "version": 1,
        }


def line_rows(ids: Sequence[int], items: Sequence[Any], rng: Random) -> Iterator[dict[str, Any]]:
    for requisition in ids:
        for item, price in rng.sample(list(items), 2):
            yield {
                "requisition_id": requisition,
                "item_id": item,
                "quantity": rng.randint(1, 5),
                "handed_out": None,
                "unit_price": price,
            }


def event_rows(
    ids: Sequence[int], asked: Sequence[datetime], actors: Sequence[int], rng: Random
) -> Iterator[dict[str, Any]]:
    for requisition, created in zip(ids, asked, strict=True):
        yield {
            "requisition_id": requisition,
            "from_status": "pending_manager",
            "to_status": "approved",
            "actor_id": rng.choice(actors),
            "note": None,
            "at": created + timedelta(hours=rng.uniform(0.2, 30)),
        }


def answer_rows(survey_id: int, times: Sequence[datetime], rng: Random) -> Iterator[dict[str, Any]]:
    for n, at in enumerate(times):
        answered: date = at.date()
        yield {
            "survey_id": survey_id,
            "token": hashlib.sha256(f"bench-{n}".encode()).hexdigest(),
            "person_id": None,
            "answers": {"overall": rng.randint(1, 5), "nps": rng.randint(0, 10)},
            "answered_on": answered,
        }
