"""What Houqin forgets is gone from the SQLite file itself, not only from its tables."""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from handlers.core.i18n import msg
from handlers.core.outbox import Notice, Outbox, notify
from storage.db import Database
from storage.demo import seed
from storage.models import ChannelAccount

NOW = datetime(2026, 12, 3, 2, 0, tzinfo=UTC)


def file_bytes(folder: Path) -> bytes:
    """The database file and its write-ahead log, as a copy of them would hold once the log is
    folded into the file (as SQLite does by itself every thousand pages)."""
    with closing(sqlite3.connect(folder / "houqin.db")) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return b"".join(file.read_bytes() for file in folder.glob("houqin.db*"))


async def test_a_reply_to_an_anonymous_suggester_once_sent_leaves_no_bytes_in_the_file(
    sqlite_template: Path, tmp_path: Path
) -> None:
    path = tmp_path / "houqin.db"
    shutil.copy(sqlite_template, path)
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        async with db.unit_of_work() as session:
            await seed(session)
            suggester = await session.scalar(
                select(ChannelAccount.person_id).where(ChannelAccount.external_id == "li.na")
            )
            assert suggester is not None
            reply = msg("suggest.notice.reply", number="#7", body="食堂窗口的回复-只给提出人")
            assert await notify(session, Notice(suggester, reply, discreet=True), NOW)
        outbox = Outbox(db, "zh_CN", lambda: NOW)
        [pending] = await outbox.waiting_for("web", "li.na")
        await outbox.acknowledge("web", "li.na", [pending.id])  # the page has shown it: forgotten
    finally:
        await db.dispose()
    kept = file_bytes(tmp_path)
    assert "食堂窗口的回复".encode() not in kept and b"suggest.notice.reply" not in kept
