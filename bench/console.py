"""console: the web console's pages, server time per request with a year of the demo's history.

The ASGI app as `houqin run --demo` builds it, called through httpx's ASGITransport (no sockets), as
an admin (the organisation's everything) and as a manager (a department's part): each page asked
again and again in turn, p99 per page against issue 24's 200 ms. The year is the demo's past
(handlers/core/demo.py) written for 365 days instead of its six months.
"""

from __future__ import annotations

import time
from datetime import timedelta
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import select

from bench.common import Context, Row, bench_settings, latency_rows
from bot.app import create_app
from bot.areas import AREAS
from bot.service import build_service, settle_memory
from handlers.core.demo import write_past
from handlers.core.schedule import Schedule
from storage.db import Database
from storage.models import Department, Person, Requisition, Ticket, utcnow

NAME = "console"
TARGET_MS = 200.0
YEAR = 365


async def run(ctx: Context) -> list[Row]:
    rounds = 5 if ctx.quick else 40
    rows: list[Row] = []
    for db_name, url in await ctx.databases.both():
        db = Database(url)
        try:
            began = time.perf_counter()
            added = await write_past(db, AREAS, utcnow(), Schedule(ZoneInfo("Asia/Shanghai")), days=YEAR)
            wrote = time.perf_counter() - began
            async with db.unit_of_work() as session:
                # Finance's newest: a page the admin and finance's manager may both open.
                finance = select(Department.id).where(Department.code == "finance").scalar_subquery()
                people = select(Person.id).where(Person.department_id == finance)
                ticket = await session.scalar(
                    select(Ticket.number).where(Ticket.reporter_id.in_(people)).order_by(Ticket.id.desc()).limit(1)
                )
                requisition = await session.scalar(
                    select(Requisition.number)
                    .where(Requisition.department_id == finance)
                    .order_by(Requisition.id.desc())
                    .limit(1)
                )
        finally:
            await db.dispose()
        history = (
            f"{(added or {}).get('past tickets', 0)} tickets, {(added or {}).get('past requisitions', 0)} requisitions"
        )
        month = utcnow().astimezone(ZoneInfo("Asia/Shanghai")).date().replace(day=1) - timedelta(days=1)
        pages = {
            "home": "/console",
            "tickets": "/console/tickets",
            "tickets filtered": "/console/tickets?status=closed&category=electrical&sort=due&page=2",
            "tickets searched": "/console/tickets?q=%E7%81%AF",
            "ticket": f"/console/tickets/{ticket}",
            "queue mark": "/console/tickets/mark",
            "requisitions": "/console/requisitions",
            "requisition": f"/console/requisitions/{requisition}",
            "stats (12 weeks)": "/console/stats",
            "stats (a year)": f"/console/stats?since={(month - timedelta(days=364)).isoformat()}",
            "scorecards": f"/console/scorecards?month={month:%Y-%m}",
            "surveys": "/console/surveys",
        }
        # Pages only admins (and logistics admins) open: the manager is refused them, as in chat.
        admins_only = {
            "stock": "/console/stock",
            "stock item": "/console/stock/PAPER-A4",
            "suggestions": "/console/suggestions",
            "survey results": "/console/surveys/1",
            "audit log": "/console/audit",
            "audit log filtered": "/console/audit?outcome=refused",
            "organisation": "/console/org",
        }
        for person in ("admin", "huang.li"):
            timings = await measure(url, person, {**pages, **(admins_only if person == "admin" else {})}, rounds)
            for page, seconds in timings.items():
                variant = f"{page}, {person}, {db_name}"
                found = latency_rows(NAME, variant, seconds, p99_target_ms=TARGET_MS)[:2]
                found[-1].note = f"a year: {history} (written in {wrote:.0f} s)"
                rows.extend(found)
    return rows


async def measure(url: str, person: str, pages: dict[str, str], rounds: int) -> dict[str, list[float]]:
    settings = bench_settings(database_url=url, demo_mode=True, web_enabled=True, telegram_bot_token="")
    service = build_service(settings)
    settle_memory()  # as `houqin run` does once started
    timings: dict[str, list[float]] = {page: [] for page in pages}
    try:
        transport = httpx.ASGITransport(app=create_app(service))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://127.0.0.1", cookies={"houqin_console_person": person}
        ) as client:
            for path in pages.values():  # warm: templates compiled, caches filled
                (await client.get(path)).raise_for_status()
            for _ in range(rounds):
                for page, path in pages.items():
                    began = time.perf_counter()
                    answer = await client.get(path)
                    timings[page].append(time.perf_counter() - began)
                    answer.raise_for_status()
    finally:
        await service.db.dispose()
    return timings
