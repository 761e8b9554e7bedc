"""An open-loop schedule: which person does which step of a conversation, and when.

Sends happen at fixed times whatever the system under test does (no waiting for completion), so a
slow answer shows up as latency instead of quietly lowering the offered load. Latency is measured
from the scheduled time, not from when the send actually happened, for the same reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

# How far apart one person's consecutive steps are. At 100 updates/s this keeps 50 people in flight
# and a person's next step comes 0.5 s after the previous one: long enough that, while the system
# keeps up, each answer is in before that person acts again, as with a real person.
STEP_SPACING_S = 0.5


@dataclass(frozen=True)
class Send:
    index: int
    at: float  # seconds after the start of the schedule
    conversation: int
    step: int


def schedule(rate: float, duration: float, steps: int) -> Iterator[Send]:
    """`rate` sends per second for `duration` seconds, round-robin over the people in flight;
    each person walks a conversation of `steps` steps, then the next person takes their place."""
    in_flight = max(1, round(rate * STEP_SPACING_S))
    for index in range(round(rate * duration)):
        slot, turn = index % in_flight, index // in_flight
        yield Send(index, index / rate, (turn // steps) * in_flight + slot, turn % steps)
