"""Retention rules: what Houqin forgets, and when.

Delivery keys only need to outlive the platforms' redeliveries (Telegram retries for up to a day,
Slack for minutes); photos sent in a dialog that was never submitted are nobody's record. The send
log only has to remember a reminder or digest while it could be sent again for the same period.
A notice is only needed until it is sent (a card's next version finds its message in card_refs);
one to an anonymous suggester that could not be sent within a few days is forgotten all the same.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, and_, delete, not_, or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core.outbox import GIVE_UP_AFTER
from storage.models import Attachment, DialogState, OutboxMessage, Photo, ProcessedDelivery, Send

if TYPE_CHECKING:
    from handlers.core.area import Area

KEEP_DELIVERY_KEYS = timedelta(days=14)
KEEP_UNSUBMITTED_PHOTOS = timedelta(days=7)
# Exports and charts are made on request and sent at once; a month covers every retry and re-read.
KEEP_SENT_FILES = timedelta(days=30)
# A flow nobody touched for this long is closed, so the next message starts fresh instead of
# landing in a half-remembered step from last month.
ABANDON_DIALOG_AFTER = timedelta(days=7)
# Every reminder and digest period is a day, a week, a month or a ticket's resolution, all long past
# (and past the catch-up window) after this; sends keyed "once" (an escalation per ticket) are kept
# as long as their area says (Area.keep_sends: while the ticket is open), or the manager would hear
# about the same overdue ticket again.
KEEP_SENDS = timedelta(days=90)
# Sent notices, and those given up on (the person unreachable), are kept a while for looking into.
KEEP_SENT_NOTICES = timedelta(days=30)
# A reply to an anonymous suggester still unsent after this is not kept waiting: its row names them.
KEEP_UNSENT_DISCREET = timedelta(days=3)

# What an area forgets or closes daily too (Area.tidy: surveys past their time lose their key),
# in the same transaction as the rest.
TidyStep = Callable[[AsyncSession, datetime], Awaitable[object]]
# Send-log rows an area still needs after KEEP_SENDS, as a condition on Send.
KeepSends = Callable[[], ColumnElement[bool]]


@dataclass(frozen=True)
class Tidied:
    delivery_keys: int
    photos: int
    dialogs: int
    files: int = 0
    sends: int = 0
    notices: int = 0

    def __str__(self) -> str:
        return (
            f"{self.delivery_keys} delivery keys, {self.photos} unsubmitted photos, {self.dialogs} idle dialogs, "
            f"{self.files} old files, {self.sends} old sends, {self.notices} old notices"
        )


async def tidy(session: AsyncSession, now: datetime, areas: Sequence[Area] = ()) -> Tidied:
    """Forget what nobody needs any more; then each area's own tidying (Area.tidy)."""
    keys = await session.execute(delete(ProcessedDelivery).where(ProcessedDelivery.at < now - KEEP_DELIVERY_KEYS))
    # Photos an area still holds with no ticket (a round's photo item) are not unsubmitted.
    held = [keep() for area in areas for keep in area.keep_photos]
    photos = await session.execute(
        delete(Photo)
        .where(
            Photo.ticket_id.is_(None),
            Photo.created_at < now - KEEP_UNSUBMITTED_PHOTOS,
            *([not_(or_(*held))] if held else []),
        )
        .execution_options(synchronize_session=False)
    )
    dialogs = await session.execute(
        update(DialogState)
        .where(DialogState.flow.is_not(None), DialogState.updated_at < now - ABANDON_DIALOG_AFTER)
        # Bumping the version retires the buttons still on screen from the abandoned flow.
        .values(flow=None, step=None, data={}, version=DialogState.version + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    files = await session.execute(delete(Attachment).where(Attachment.created_at < now - KEEP_SENT_FILES))
    # Sends an area still needs past KEEP_SENDS (the repair area's escalations of open tickets).
    needed = [keep() for area in areas for keep in area.keep_sends]
    sends = await session.execute(
        delete(Send)
        .where(Send.at < now - KEEP_SENDS, *([not_(or_(*needed))] if needed else []))
        .execution_options(synchronize_session=False)
    )
    notices = await forget_notices(session, now)
    for step in (step for area in areas for step in area.tidy):
        await step(session, now)
    return Tidied(
        keys.rowcount,  # type: ignore[attr-defined]
        photos.rowcount,  # type: ignore[attr-defined]
        dialogs.rowcount,  # type: ignore[attr-defined]
        files.rowcount,  # type: ignore[attr-defined]
        sends.rowcount,  # type: ignore[attr-defined]
        notices,
    )


async def forget_notices(session: AsyncSession, now: datetime) -> int:
    """Old sent notices and notices given up on; discreet ones (a discreet row's created_at is its
    day) unsent after a few days, whether or not they are still tried."""
    old = now - KEEP_SENT_NOTICES
    done = await session.execute(
        delete(OutboxMessage)
        .where(
            or_(
                OutboxMessage.sent_at < old,
                and_(OutboxMessage.attempts >= GIVE_UP_AFTER, OutboxMessage.created_at < old),
                and_(
                    OutboxMessage.body["discreet"].as_boolean().is_(True),
                    OutboxMessage.created_at < now - KEEP_UNSENT_DISCREET,
                ),
            )
        )
        .execution_options(synchronize_session=False)
    )
    return int(done.rowcount)  # type: ignore[attr-defined]
