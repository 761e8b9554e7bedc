"""The areas Houqin runs (handlers/core/area.py), in the order /my, the reminders and the digest list
them: a new area is one more line here. Kept apart from bot/service.py so the CLI's jobs and
digest commands get them without loading the channels."""

from __future__ import annotations

from handlers.accounts import links as accounts
from handlers.admin import menu as admin
from handlers.bookings import book as bookings
from handlers.core.area import Area
from handlers.digest import send as digest_send
from handlers.energy import meters as energy
from handlers.inspections import inspect as inspections
from handlers.repairs import actions as ticket_actions
from handlers.repairs import intake as repair
from handlers.repairs import oversight
from handlers.suggestions import box as suggestions
from handlers.supplies import cart as supply
from handlers.supplies import oversight as supplies_oversight
from handlers.supplies import requisitions, stock
from handlers.surveys import campaigns as surveys

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
    supplies_oversight.AREA,
    inspections.AREA,
    energy.AREA,
    bookings.AREA,
)


def areas() -> tuple[Area, ...]:
    """Every area Houqin runs; building the core with them checks that no two clash (handlers/core/area.py)."""
    return AREAS
