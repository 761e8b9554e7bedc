"""Two Houqin processes on one database share the Telegram send budget: each sends at half the rate
while both are sending, and one that stops (or dies) drops out within seconds."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from bot.channels.pacing import Pacer
from handlers.core.budget import share
from storage.db import Database
from tests.jobs.org import local

NOW = local(24, 10)


async def test_the_processes_sending_share_the_rate_and_a_silent_one_drops_out(db: Database) -> None:
    assert await share(db, "telegram", "host-1", NOW) == 1
    assert await share(db, "telegram", "host-2", NOW + timedelta(seconds=1)) == 2
    assert await share(db, "telegram", "host-1", NOW + timedelta(seconds=2)) == 2
    assert await share(db, "slack", "host-3", NOW + timedelta(seconds=2)) == 1, "each channel has its own budget"
    # host-2 has sent nothing for more than five seconds (finished, or killed)
    assert await share(db, "telegram", "host-1", NOW + timedelta(seconds=7)) == 1


async def test_two_processes_touching_at_once_both_count(db: Database) -> None:
    """Whatever the interleaving, the later of two simultaneous first touches sees both processes."""
    other = Database(db.url)
    try:
        for attempt in range(10):  # a race: give each interleaving a few chances to show up
            channel = f"telegram-{attempt}"
            counts = await asyncio.gather(share(db, channel, "a", NOW), share(other, channel, "b", NOW))
            assert sorted(counts) in ([1, 2], [2, 2]), f"attempt {attempt}: each saw only itself"
            assert await share(db, channel, "a", NOW) == 2
    finally:
        await other.dispose()


def test_a_pacer_takes_its_share_of_the_rate() -> None:
    pacer = Pacer(25)
    assert pacer.gap == 1 / 25
    pacer.share(2)
    assert pacer.gap == 2 / 25
    pacer.share(0)
    assert pacer.gap == 1 / 25


async def test_a_pacer_spaces_messages_overall_and_per_chat() -> None:
    """On a fake clock: where each send lands, never when it happens in real time."""
    now = [0.0]
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pacer = Pacer(10, chat_interval=1.0, clock=lambda: now[0], sleep=fake_sleep)
    times = []
    for chat in ("a", "b", "c", "a"):
        await pacer.wait(chat)
        times.append(round(now[0], 3))
    assert times == [0.0, 0.1, 0.2, 1.0]  # 10/s overall; chat a waits for its second
    pacer.hold("b", 5)
    assert (pacer.held_for("b"), pacer.held_until("c")) == (5.0, 0.0)
    await pacer.wait("c")
    assert round(now[0], 3) == 1.2, "a chat told to wait holds up only itself"
    await pacer.wait("b")
    assert round(now[0], 3) == 6.0


async def test_a_sender_woken_late_takes_a_new_slot_rather_than_send_with_the_next() -> None:
    now = [0.0]
    oversleep = [0.4]  # the event loop was busy: the first sleep ends 0.4 s late

    async def late_sleep(seconds: float) -> None:
        now[0] += seconds + oversleep[0]
        oversleep[0] = 0.0

    pacer = Pacer(10, chat_interval=0, clock=lambda: now[0], sleep=late_sleep)
    await pacer.wait("a")  # at once
    await pacer.wait("b")  # its slot was 0.1; woken at 0.5, later than a slot: it takes 0.5 anew
    assert round(now[0], 3) == 0.5
    await pacer.wait("c")  # not at 0.5 with b, but a slot after
    assert round(now[0], 3) == 0.6


async def test_a_pause_for_the_whole_app_holds_every_chat() -> None:
    """WeCom's 45009 (the app over its frequency limit) is not one chat's to wait out."""
    now = [0.0]

    async def fake_sleep(seconds: float) -> None:
        now[0] += seconds

    pacer = Pacer(10, chat_interval=1.0, clock=lambda: now[0], sleep=fake_sleep)
    await pacer.wait("a")
    pacer.pause(3)
    await pacer.wait("b")
    assert round(now[0], 3) == 3.0, "a chat never seen waits for the app's pause too"
    await pacer.wait("c")
    assert round(now[0], 3) == 3.1
