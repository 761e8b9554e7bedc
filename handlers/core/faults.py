"""A fault found outside a repair report — an inspection round's failed item — becomes a repair
ticket through the area that keeps tickets. That area declares its `FaultDesk` (Area.faults); an area
that finds faults asks the running areas for it (`desk`), so neither imports the other."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core.i18n import Msg

if TYPE_CHECKING:
    from handlers.core.area import Area
    from handlers.core.flow import StepContext


@dataclass(frozen=True)
class Fault:
    """What was found: filed under a specialty (a repair category), in a room, in words, with photos
    the finder took (theirs, not yet attached to anything)."""

    category: str
    room_id: int | None
    description: str
    photo_ids: tuple[int, ...] = ()
    urgency: str = "normal"
    # Where, in words, when it is in no room of the list (a piece of equipment).
    location: str | None = None


@dataclass(frozen=True)
class Reported:
    ticket_id: int
    number: str
    # What the finder is told: the number and who takes it (or that it waits in the queue).
    said: Msg


class FaultDesk(Protocol):
    async def report(self, ctx: StepContext, fault: Fault) -> Reported:
        """Open a ticket for the fault, in the finder's name, as a report of theirs would be."""
        ...

    async def still_open(self, session: AsyncSession, ticket_ids: Sequence[int]) -> dict[int, str]:
        """Of these tickets, those still open: id → number."""
        ...


def desk(areas: Sequence[Area]) -> FaultDesk | None:
    """The running areas' fault desk: None when no area keeps tickets."""
    return next((area.faults for area in areas if area.faults is not None), None)
