"""Helpers for the bookings tests: a fixed clock, rooms made bookable as a logistics admin would,
and the browser chat of a Houqin running on that clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

import httpx
from sqlalchemy import func, select

from bot.app import create_app
from bot.service import Service, build_service
from bot.settings import load_settings
from handlers.bookings.rooms import make_bookable, room_at
from storage.db import Database
from storage.models import Booking, OrgSetting
from tests.jobs.org import local

# Tuesday 24 November 2026, 09:10 in Shanghai: a working day, most of it still to come.
TUESDAY_MORNING = local(24, 9, 10)


def at(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


async def rooms_bookable(db: Database) -> None:
    """A-201 (第一会议室) seats 12 with a projector; B-102 (阶梯教室) seats 60 with projector and video."""
    async with db.unit_of_work() as session:
        for building, code, seats, kit in (("A", "201", 12, ["projector"]), ("B", "102", 60, ["projector", "video"])):
            room = await room_at(session, building, code)
            assert room is not None
            await make_bookable(session, room, seats, kit)


async def bookings_made(db: Database, status: str = "confirmed") -> int:
    async with db.unit_of_work() as session:
        return int(await session.scalar(select(func.count()).select_from(Booking).where(Booking.status == status)) or 0)


def on_clock(service: Service, clock: Callable[[], datetime]) -> Service:
    service.houqin.clock = clock
    return service


@asynccontextmanager
async def browser_chat_at(db: Database, clock: Callable[[], datetime]) -> AsyncIterator[httpx.AsyncClient]:
    """The browser chat's HTTP API (demo mode), its Houqin on `clock`."""
    settings = load_settings(database_url=db.url, demo_mode=True, web_enabled=True, telegram_bot_token="")
    service = on_clock(build_service(settings), clock)
    transport = httpx.ASGITransport(app=create_app(service))
    async with httpx.AsyncClient(transport=transport, base_url="http://houqin.test") as client:
        yield client
    await service.db.dispose()


async def office_calendar(db: Database, holidays: str, makeup_days: str = "none") -> None:
    """The organisation's holidays and make-up days, as /settings would have stored them."""
    async with db.unit_of_work() as session:
        session.add(OrgSetting(key="holidays", value=holidays))
        session.add(OrgSetting(key="makeup_days", value=makeup_days))


def ticking(start: datetime) -> Callable[[], datetime]:
    """A clock from `start` that moves a second each time it is read: accounts used one after the
    other are told apart by their last use (notices go to the one used last)."""
    moments = iter(range(10**9))
    return lambda: start + timedelta(seconds=next(moments))
