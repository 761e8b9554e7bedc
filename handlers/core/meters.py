"""The port through which a reading enters, whoever asks for it: the energy area's /meter and an
inspection round's "抄表" checklist item judge a reading alike because both go through the one
`MeterDesk` the energy area declares (`Area.meters`); the other areas find it among `ctx.areas`.

The core only names the port; the meters, their readings and the rules of what is doubtful live in
the area that declares the desk (handlers/energy/).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from handlers.core.i18n import Msg

if TYPE_CHECKING:
    from handlers.core.area import Area
    from handlers.core.flow import StepContext


@dataclass(frozen=True)
class MeterShown:
    code: str
    name: str
    unit: str  # as people type it: "kWh", "m³"


class MeterDesk(Protocol):
    async def find(self, ctx: StepContext, code: str) -> MeterShown | None: ...

    # Why this reading is doubtful (lower than the last, a jump), None if it is fine; raise flow.Invalid
    # when it cannot be a reading at all (negative, absurd, wrong unit).
    async def doubt(self, ctx: StepContext, code: str, value: Decimal) -> Msg | None: ...

    # Keep it (a doubtful one only after the person confirmed it); round_id links it to an inspection round.
    async def keep(self, ctx: StepContext, code: str, value: Decimal, *, round_id: int | None) -> None: ...

    # The typed words → a Decimal in the meter's unit, or flow.Invalid saying why not.
    def parse(self, text: str, unit: str) -> Decimal: ...


def desk_among(areas: Sequence[Area]) -> MeterDesk | None:
    """The running areas' meter desk (the energy area's), if one is running."""
    return next((area.meters for area in areas if area.meters is not None), None)
