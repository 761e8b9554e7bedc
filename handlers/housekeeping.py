"""Retention rules: what Houqin forgets, and when.

Delivery keys only need to outlive the platforms' redeliveries (Telegram retries for up to a day,
Slack for minutes); photos sent in a dialog that was never submitted are nobody's record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.surveys import close_expired
from storage.models import Attachment, DialogState, Photo, ProcessedDelivery

KEEP_DELIVERY_KEYS = timedelta(days=14)
KEEP_UNSUBMITTED_PHOTOS = timedelta(days=7)
# Exports and charts are made on request and sent at once; a month covers every retry and re-read.
KEEP_SENT_FILES = timedelta(days=30)
# A flow nobody touched for this long is closed, so the next message starts fresh instead of
# landing in a half-remembered step from last month.
ABANDON_DIALOG_AFTER = timedelta(days=7)


@dataclass(frozen=True)
class Tidied:
    delivery_keys: int
    photos: int
    dialogs: int
    files: int = 0

    def __str__(self) -> str:
        return (
            f"{self.delivery_keys} delivery keys, {self.photos} unsubmitted photos, {self.dialogs} idle dialogs, "
            f"{self.files} old files"
        )


async def tidy(session: AsyncSession, now: datetime) -> Tidied:
    keys = await session.execute(delete(ProcessedDelivery).where(ProcessedDelivery.at < now - KEEP_DELIVERY_KEYS))
    photos = await session.execute(
        delete(Photo).where(Photo.ticket_id.is_(None), Photo.created_at < now - KEEP_UNSUBMITTED_PHOTOS)
    )
    dialogs = await session.execute(
        update(DialogState)
        .where(DialogState.flow.is_not(None), DialogState.updated_at < now - ABANDON_DIALOG_AFTER)
        # Bumping the version retires the buttons still on screen from the abandoned flow.
        .values(flow=None, step=None, data={}, version=DialogState.version + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    files = await session.execute(delete(Attachment).where(Attachment.created_at < now - KEEP_SENT_FILES))
    # Surveys past their closing time lose their own key (handlers/surveys.py), looked at or not.
    await close_expired(session, now)
    return Tidied(keys.rowcount, photos.rowcount, dialogs.rowcount, files.rowcount)  # type: ignore[attr-defined]
