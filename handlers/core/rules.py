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


def parse_sla(value: str) -> dict[str, timedelta]:
    """`urgent=4,high=24,normal=72,low=168`: hours to resolve by, for every urgency (SLA_HOURS, /settings)."""
    hours: dict[str, timedelta] = {}
    for item in filter(None, (part.strip() for part in value.split(","))):
        urgency, sep, number = item.partition("=")
        urgency, number = urgency.strip(), number.strip()
        if not sep or urgency not in URGENCIES or not number.isdigit() or not 0 < int(number) <= 24 * 365:
            raise ValueError(f"entry {item!r} should look like urgent=4 (hours, for {', '.join(URGENCIES)})")
        hours[urgency] = timedelta(hours=int(number))
    missing = [u for u in URGENCIES if u not in hours]
    if missing:
        raise ValueError(f"needs hours for {', '.join(missing)}")
    return hours
