"""The audit log's one writer: every privileged action done or refused, append-only.

``done`` records an action that happened (who, what, which record, which channel, when) in the
transaction of the change itself; handlers/core/refusals.py records the refused ones, through the same
``write``. Nothing in Houqin updates or deletes audit rows. /audit shows them (handlers/admin/audit_log.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AuditEntry, Person


class Acting(Protocol):
    """Whoever is acting, wherever from, at what time: what every area's actor carries."""

    session: AsyncSession
    person: Person
    channel: str
    now: datetime


def write(
    session: AsyncSession,
    action: str,
    record: str | None = None,
    *,
    actor_id: int | None,
    channel: str | None = None,
    outcome: str = "ok",
    at: datetime | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Add one audit row to the caller's transaction. Without `at` the row is stamped when it is
    written (the column's default) rather than with the turn's time."""
    stamped = {} if at is None else {"at": at}
    session.add(
        AuditEntry(
            actor_id=actor_id,
            channel=channel,
            action=action,
            record=record,
            outcome=outcome,
            detail=dict(detail or {}),
            **stamped,
        )
    )


def done(actor: Acting, action: str, record: str | None = None, **detail: Any) -> None:
    """Record a privileged action that was done, in the caller's transaction, at the actor's time."""
    write(actor.session, action, record, actor_id=actor.person.id, channel=actor.channel, at=actor.now, detail=detail)


def done_at_write(actor: Acting, action: str, record: str | None = None, **detail: Any) -> None:
    """As done, but stamped when the row is written (the column's default), as some actions always were."""
    write(actor.session, action, record, actor_id=actor.person.id, channel=actor.channel, detail=detail)
