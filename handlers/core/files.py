"""Files Houqin makes for one person (an export, a chart), kept until they have been sent.

A use case keeps the bytes in the attachments table inside its unit of work and says the returned
``FileOut`` (``Action.files``, ``Notice.files``); the channel fetches the bytes by id when it sends,
so a redelivered answer or a notice sent late still has its file. Bytes that take CPU to make (a
chart, a big spreadsheet) are left for after the commit instead (``Later`` in ``Action.later``),
so no transaction, and on SQLite not the single write lock, is held while they are made.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer

from handlers.core.conversation import FileOut
from storage.models import Attachment

# Telegram's bots may send documents up to 50 MB; exports and charts are far smaller.
MAX_FILE = 20 * 1024 * 1024

CSV = "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PNG = "image/png"


class FileTooBig(ValueError):
    pass


@dataclass(frozen=True)
class Later:
    """A file for the person who asked, whose bytes the engine makes once the delivery has committed:
    `make` runs in a worker thread and touches no database (it works on what was read before)."""

    name: str
    content_type: str
    make: Callable[[], bytes]


async def keep(
    session: AsyncSession, person_id: int, name: str, content_type: str, content: bytes, now: datetime
) -> FileOut:
    """Store a file made for `person_id`; only they may fetch it."""
    if len(content) > MAX_FILE:
        raise FileTooBig(f"{name} is {len(content)} bytes; at most {MAX_FILE} can be sent")
    attachment = Attachment(
        person_id=person_id,
        name=name[:200],
        content_type=content_type,
        size=len(content),
        content=content,
        created_at=now,
    )
    session.add(attachment)
    await session.flush()
    return FileOut(attachment.id, attachment.name, content_type)


async def load(session: AsyncSession, file_id: int, person_id: int | None = None) -> Attachment | None:
    """The file with its bytes; None when there is none, or it was made for someone else."""
    query = select(Attachment).where(Attachment.id == file_id).options(undefer(Attachment.content))
    if person_id is not None:
        query = query.where(Attachment.person_id == person_id)
    found: Attachment | None = await session.scalar(query)
    return found
