"""Saying no on the server: a refusal the person is told about, audited when it was not theirs to ask."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

from handlers.core.audit import Acting, write
from handlers.core.i18n import Msg


class Refused(Exception):
    """The actor may not do this, or not now; the message says which, in their language."""

    def __init__(self, reason: Msg, audit: bool = True) -> None:
        super().__init__(reason.key)
        self.reason = reason
        self.audit = audit


def refused(
    actor: Acting, action: str, record: str | None, reason: Msg, detail: Mapping[str, Any] | None = None
) -> Msg:
    """Write the refused attempt to the audit log (in the same transaction); the reason, for a
    handler that answers with it rather than raising."""
    write(
        actor.session,
        action,
        record,
        actor_id=actor.person.id,
        channel=actor.channel,
        outcome="refused",
        at=actor.now,
        detail=detail,
    )
    return reason


def refuse(actor: Acting, action: str, record: str | None, reason: Msg) -> NoReturn:
    """Write the refused attempt to the audit log (in the same transaction), then refuse."""
    raise Refused(refused(actor, action, record, reason))
