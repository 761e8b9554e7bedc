"""The areas Houqin runs (handlers/area.py), in the order /my, the reminders and the digest list
them: a new area is one more line here. Kept apart from bot/service.py so the CLI's jobs and
digest commands get them without loading the channels."""

from __future__ import annotations

from handlers import (
    accounts,
    admin,
    digest_send,
    oversight,
    repair,
    requisitions,
    stock,
    suggestions,
    supply,
    surveys,
    ticket_actions,
)
from handlers.area import Area

AREAS: tuple[Area, ...] = (
    repair.AREA,
    supply.AREA,
    ticket_actions.AREA,
    requisitions.AREA,
    stock.AREA,
    surveys.AREA,
    suggestions.AREA,
    digest_send.AREA,
    admin.AREA,
    accounts.AREA,
    oversight.AREA,
)


def areas() -> tuple[Area, ...]:
    """Every area Houqin runs; building the core with them checks that no two clash (handlers/area.py)."""
    return AREAS
