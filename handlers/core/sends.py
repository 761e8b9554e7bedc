"""Once per person per period: the send log behind every reminder and digest.

Each recipient of a fan-out is served in a transaction of their own that writes the send-log row
(unique on kind, subject, person, period) and the outbox row together. So a second process, a
restart, a catch-up run or a rerun after a crash halfway through skips whoever was already served
and goes on with the rest; one recipient whose notice cannot be built never stops the others.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core.outbox import Notice, notify
from storage.db import Database, log_failure
from storage.models import Send

log = logging.getLogger(__name__)
Build = Callable[[AsyncSession], Awaitable[Notice]]


class Served(StrEnum):
    SENT = "sent"
    ALREADY = "already"  # this person had it for this period (another run, another process)
    UNREACHABLE = "unreachable"  # no account we may write to: skipped, not recorded, tried next time


@dataclass(frozen=True)
class Delivery:
    kind: str
    subject: str
    person_id: int
    period: str
    # Built only for someone not yet served, inside their transaction (a chart file is kept per person).
    build: Build


def fixed(notice: Notice) -> Build:
    async def build(session: AsyncSession) -> Notice:
        return notice

    return build


@dataclass
class Tally:
    sent: int = 0
    already: int = 0
    unreachable: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)

    def __str__(self) -> str:
        parts = [f"sent {self.sent}", f"already sent {self.already}"]
        if self.unreachable:
            parts.append(f"unreachable {len(self.unreachable)}")
        if self.failed:
            parts.append(f"failed {len(self.failed)}")
        return ", ".join(parts)


class _NobodyToTell(Exception):
    pass


async def serve(session: AsyncSession, delivery: Delivery, now: datetime) -> Served:
    """Claim the delivery's key and queue its notice, both in a savepoint of the caller's transaction."""
    try:
        async with session.begin_nested():
            session.add(
                Send(
                    kind=delivery.kind,
                    subject=delivery.subject,
                    person_id=delivery.person_id,
                    period=delivery.period,
                    at=now,
                )
            )
            await session.flush()
            if not await notify(session, await delivery.build(session), now):
                raise _NobodyToTell
    except IntegrityError:
        return Served.ALREADY
    except _NobodyToTell:
        return Served.UNREACHABLE
    return Served.SENT


async def deliver_all(db: Database, deliveries: Iterable[Delivery], now: datetime) -> Tally:
    tally = Tally()
    for delivery in deliveries:
        try:
            async with db.unit_of_work() as session:
                served = await serve(session, delivery, now)
        except IntegrityError:
            # Another process committed the same key while ours was in flight (PostgreSQL waits,
            # then refuses the second): it was served.
            served = Served.ALREADY
        except Exception as exc:
            # One failing recipient never stops the rest; the next run serves whoever is left.
            log_failure(log, exc, "%s to person %s", delivery.kind, delivery.person_id)
            tally.failed.append(delivery.person_id)
            continue
        if served is Served.SENT:
            tally.sent += 1
        elif served is Served.ALREADY:
            tally.already += 1
        else:
            tally.unreachable.append(delivery.person_id)
    return tally
