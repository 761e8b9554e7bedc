"""Outbound pacing, on a clock the test turns by hand: one message a second per conversation,
conversations independent, Retry-After holding one conversation only."""

from __future__ import annotations

import asyncio

import pytest

from bot.channels.slack.pacing import Held, Pacer


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


async def test_one_message_a_second_per_conversation_and_others_not_held_up() -> None:
    clock = Clock()
    pacer = Pacer(1.0, clock=clock, sleep=clock.sleep)
    await pacer.turn("DA")
    await pacer.turn("DB")  # another conversation: at once
    assert clock.slept == []
    await pacer.turn("DA")  # the same one: a second after the first
    assert clock.slept == [1.0]


async def test_concurrent_senders_to_one_conversation_queue() -> None:
    clock = Clock()
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    pacer = Pacer(1.0, patience=10, clock=clock, sleep=sleep)
    await asyncio.gather(*(pacer.turn("DA") for _ in range(3)))
    assert sorted(waits) == [1.0, 2.0]


async def test_retry_after_holds_that_conversation_only() -> None:
    clock = Clock()
    pacer = Pacer(1.0, patience=3, clock=clock, sleep=clock.sleep)
    pacer.hold("DA", 30)
    with pytest.raises(Held) as held:
        await pacer.turn("DA")
    assert held.value.seconds == pytest.approx(30)
    await pacer.turn("DB")
    clock.now += 30
    await pacer.turn("DA")
    assert clock.slept == []
