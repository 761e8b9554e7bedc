"""What a signed-in person's browser chat showed lately, so a new tab opens on it rather than empty.

The web channel writes each turn (what they said, what Houqin answered) and each notice it hands
out, as the page draws them; a card is one entry, its newest version written over the old in its
place (as the page edits it). The newest KEEP entries per person are kept. A discreet turn (an
anonymous answer, a sign-in link) and a discreet notice are never written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select, update

from storage.db import Database
from storage.models import WebHistoryEntry

KEEP = 50


async def record(db: Database, person_id: int, entries: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """Append entries as the page draws them; one with a key ("" for none: a card's key, a notice's id)
    replaces the person's earlier entry of that key where it stands."""
    if not entries:
        return
    async with db.unit_of_work() as session:
        for key, entry in entries:
            card_key = key or None
            if card_key is not None:
                replaced = await session.execute(
                    update(WebHistoryEntry)
                    .where(WebHistoryEntry.person_id == person_id, WebHistoryEntry.card_key == card_key)
                    .values(entry=entry)
                    .execution_options(synchronize_session=False)
                )
                if replaced.rowcount:  # type: ignore[attr-defined]
                    continue
            session.add(WebHistoryEntry(person_id=person_id, card_key=card_key, entry=dict(entry)))
            await session.flush()  # in order: the ids are the history's order
        newest = (
            select(WebHistoryEntry.id)
            .where(WebHistoryEntry.person_id == person_id)
            .order_by(WebHistoryEntry.id.desc())
            .limit(KEEP)
        )
        await session.execute(
            delete(WebHistoryEntry)
            .where(WebHistoryEntry.person_id == person_id, WebHistoryEntry.id.not_in(newest.scalar_subquery()))
            .execution_options(synchronize_session=False)
        )


async def recent(db: Database, person_id: int) -> list[dict[str, Any]]:
    """The person's last KEEP entries, oldest first."""
    async with db.unit_of_work() as session:
        rows = await session.scalars(
            select(WebHistoryEntry.entry)
            .where(WebHistoryEntry.person_id == person_id)
            .order_by(WebHistoryEntry.id.desc())
            .limit(KEEP)
        )
        return list(reversed(rows.all()))
