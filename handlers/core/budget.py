"""A channel's outbound rate shared between the Houqin processes sending on it, through the database.

Each process sending notices touches its row in `senders` (at most about once a second, only while
it has something to send); the processes seen in the last few seconds split the channel's budget
evenly. A process that stops sending, or dies, drops out of the count within seconds.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from storage.db import Database
from storage.models import Sender

# Sending "now" means touched within this window; an old row is deleted after FORGET.
ACTIVE = timedelta(seconds=5)
FORGET = timedelta(hours=1)


async def share(db: Database, channel: str, instance: str, now: datetime) -> int:
    """Record that `instance` is sending on `channel` now; returns how many processes are (≥ 1)."""
    async with db.unit_of_work(brief=True) as session:
        mine = (Sender.channel == channel) & (Sender.instance == instance)
        touched = await session.execute(
            update(Sender).where(mine).values(seen_at=now).execution_options(synchronize_session=False)
        )
        if not touched.rowcount:  # type: ignore[attr-defined]
            try:
                async with session.begin_nested():
                    session.add(Sender(channel=channel, instance=instance, seen_at=now))
            except IntegrityError:
                pass  # this very instance, racing itself: its row exists
        await session.execute(delete(Sender).where(Sender.channel == channel, Sender.seen_at < now - FORGET))
    # Counted after the touch has committed: of two processes touching at once, the later count sees
    # both rows (in one transaction each would see only its own uncommitted row on PostgreSQL).
    async with db.unit_of_work(brief=True) as session:
        sending = await session.scalar(
            select(func.count()).select_from(Sender).where(Sender.channel == channel, Sender.seen_at >= now - ACTIVE)
        )
    return max(1, int(sending or 0))
