"""Fifty people press the same free slot of the same room at once, through two Houqin processes on
one database: exactly one booking is made, and the other 49 are told it was taken and shown the
free times again. On SQLite and on PostgreSQL (where the exclusion constraint has the last word)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from handlers.core.conversation import Inbound, Kind, Outcome, Sender
from handlers.core.engine import Houqin
from storage.db import Database
from storage.models import Booking
from tests.bookings import TUESDAY_MORNING, at, rooms_bookable

PEOPLE = 50


def payload(outcome: Outcome, label: str) -> str:
    return next(b.payload for r in outcome.replies for row in r.buttons for b in row if b.label.startswith(label))


class Booker:
    """Someone on Telegram walking /book up to its confirmation."""

    def __init__(self, houqin: Houqin, number: int) -> None:
        self.houqin, self.sender, self.said = (
            houqin,
            Sender("telegram", f"9{number:03d}", f"9{number:03d}", f"订房人{number}", "zh-hans"),
            0,
        )

    async def does(self, kind: Kind, text: str = "", command: str = "") -> Outcome:
        self.said += 1
        return await self.houqin.handle(
            Inbound(self.sender, kind, f"{self.sender.external_id}-{self.said}", text=text, command=command)
        )

    async def up_to_confirming(self) -> str:
        out = await self.does(Kind.COMMAND, command="book")
        for label in ("行政楼 201", "4", "明天", "10:00", "1 小时", "只这一次"):
            out = await self.does(Kind.BUTTON, payload(out, label))
        out = await self.does(Kind.TEXT, "项目评审会")
        assert "确认预订吗？" in out.replies[-1].text
        return payload(out, "✔")


@pytest.mark.heavy
async def test_fifty_presses_of_one_free_slot_make_one_booking(
    db: Database, separate_process: Callable[..., Houqin]
) -> None:
    await rooms_bookable(db)
    a, b = separate_process(at(TUESDAY_MORNING)), separate_process(at(TUESDAY_MORNING))
    bookers = [Booker(a if n % 2 else b, n) for n in range(PEOPLE)]
    submits = [await booker.up_to_confirming() for booker in bookers]

    outcomes = await asyncio.gather(
        *(booker.does(Kind.BUTTON, submit) for booker, submit in zip(bookers, submits, strict=True))
    )
    texts = ["\n".join(reply.text for reply in outcome.replies) for outcome in outcomes]
    booked = [text for text in texts if "✅ 已预订 B-2026-" in text]
    beaten = [text for text in texts if "来晚一步：10:00 这个时段刚被别人订走了。请重新选一个时间。" in text]
    assert len(booked) == 1 and len(beaten) == PEOPLE - 1
    # The beaten are back at the free times, 10:00 no longer among them.
    beaten_outcome = next(o for o, t in zip(outcomes, texts, strict=True) if t in beaten)
    shown = [b.label for r in beaten_outcome.replies for row in r.buttons for b in row]
    assert "09:30" in shown and "10:00" not in shown and "11:00" in shown
    async with db.unit_of_work() as session:
        assert await session.scalar(select(func.count()).select_from(Booking)) == 1
