"""Who acts, through which channel, when: the one context the ticket and requisition rules take.

Built from a step's context (or by a job, as the system), with the area's own rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Generic, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core.flow import StepContext
from handlers.core.rules import RepairRules, SupplyRules
from storage.models import Person

R = TypeVar("R")


@dataclass
class Actor(Generic[R]):
    session: AsyncSession
    person: Person
    channel: str
    now: datetime
    zone: ZoneInfo
    rules: R

    @property
    def today(self) -> date:
        return self.now.astimezone(self.zone).date()


def repair_actor(ctx: StepContext) -> Actor[RepairRules]:
    return Actor(ctx.session, ctx.person, ctx.channel, ctx.now, ctx.zone, ctx.rules)


def supply_actor(ctx: StepContext) -> Actor[SupplyRules]:
    return Actor(ctx.session, ctx.person, ctx.channel, ctx.now, ctx.zone, ctx.supply)


# The two kinds there are, by the rules they act under.
RepairActor = Actor[RepairRules]
SupplyActor = Actor[SupplyRules]
