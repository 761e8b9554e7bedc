"""Files Houqin makes for one person (an export, a chart), kept until they have been sent.

A use case keeps the bytes in the attachments table inside its unit of work and says the returned
``FileOut`` (``Action.files``, ``Notice.files``); the channel fetches the bytes by id when it sends,
so a redelivered answer or a notice sent late still has its file.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer

from handlers.conversation import FileOut
from storage.models import Attachment

# Telegram's bots may send documents up to 50 MB; exports and charts are far smaller.
MAX_FILE = 20 * 1024 * 1024

CSV = "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PNG = "image/png"


class FileTooBig(ValueError):
    pass


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
