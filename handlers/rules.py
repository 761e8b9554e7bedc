"""The organisation's rules for repairs, from settings: how long each urgency may take, and when."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

URGENCIES = ("urgent", "high", "normal", "low")


def default_sla() -> dict[str, timedelta]:
    return {
        "urgent": timedelta(hours=4),
        "high": timedelta(hours=24),
        "normal": timedelta(hours=72),
        "low": timedelta(days=7),
    }


@dataclass(frozen=True)
class RepairRules:
    sla: dict[str, timedelta] = field(default_factory=default_sla)
    # A resolved ticket the reporter neither confirms nor disputes closes itself after this.
    auto_close_after: timedelta = timedelta(days=3)
    # A report of the same category in the same room within this window offers to follow instead.
    duplicate_window: timedelta = timedelta(hours=72)


@dataclass(frozen=True)
class SupplyRules:
    """The organisation's rules for supply requisitions, from settings."""

    # A requisition whose total quantity or value (in fen, 1/100 yuan) is above these goes on from the
    # department manager to a logistics admin as a second approval step.
    second_step_quantity: int = 20
    second_step_value: int = 500_00
