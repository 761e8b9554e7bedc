"""Saying no on the server: a refusal the person is told about, audited when it was not theirs to ask."""

from __future__ import annotations

from datetime import datetime
from typing import NoReturn, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.i18n import Msg
from storage.models import AuditEntry, Person


class Refused(Exception):
    """The actor may not do this, or not now; the message says which, in their language."""

    def __init__(self, reason: Msg, audit: bool = True) -> None:
        super().__init__(reason.key)
        self.reason = reason
        self.audit = audit


class Acting(Protocol):
    """Whoever is acting, wherever from, at what time: what every area's actor carries."""

    session: AsyncSession
    person: Person
    channel: str
    now: datetime


def refused(actor: Acting, action: str, record: str | None, reason: Msg) -> Msg:
    """Write the refused attempt to the audit log (in the same transaction); the reason, for a
    handler that answers with it rather than raising."""
    actor.session.add(
        AuditEntry(
            actor_id=actor.person.id,
            channel=actor.channel,
            action=action,
            record=record,
            outcome="refused",
            at=actor.now,
        )
    )
    return reason


def refuse(actor: Acting, action: str, record: str | None, reason: Msg) -> NoReturn:
    """Write the refused attempt to the audit log (in the same transaction), then refuse."""
    raise Refused(refused(actor, action, record, reason))
