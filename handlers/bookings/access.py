"""Who may manage bookings (logistics admins and admins: rooms, vehicles, anyone's booking), asked of
authz at the moment of acting, and the refusal said in the person's language (audited by authz)."""

from __future__ import annotations

from handlers.core import authz
from handlers.core.audit import Acting
from handlers.core.i18n import Msg
from handlers.core.refusals import Refused

MANAGE = "booking.manage"


def refusal(actor: Acting, record: str | None = None) -> Msg | None:
    """None when the actor may manage bookings; else why not (the refused attempt audited)."""
    try:
        authz.require(actor, MANAGE, record)
    except Refused as refused:
        return refused.reason
    return None
