"""Outbound pacing for fan-outs: at most `per_second` messages overall and one per `chat_interval`
seconds per chat, from this process.

A chat that must wait (its last message was just now, or the platform said RetryAfter) waits alone:
the others take the free slots meanwhile. Replies to people who write in are not paced here (they
are few, and must not queue behind a fan-out); the budget leaves them headroom under Telegram's ~30/s.
Several processes on one database split the budget between those sending at the moment (each
learns how many through the database, handlers/core/budget.py), so together they stay inside it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable

from handlers.core.budget import share
from handlers.core.outbox import Outbox

log = logging.getLogger(__name__)

# Telegram's per-chat limit is one per second as it counts arrivals; a little more keeps network
# jitter from making two sends arrive closer than that.
CHAT_INTERVAL = 1.1


# A channel's sender looks this often for notices other processes queued (woken at once for its own).
NOTICE_POLL_SECONDS = 1.0
# A person the platform told to wait longer than this is not waited for in memory: the notice goes back
# to the outbox, no attempt spent.
PATIENCE_SECONDS = 10.0
# Notices claimed at once: this many seconds' worth at the process's pace, so a stopping channel sees
# the batch in hand out within the grace (handlers/core/outbox.STOP_GRACE_SECONDS).
BATCH_SECONDS = 3.0


class Pacer:
    def __init__(
        self,
        per_second: float,
        chat_interval: float = CHAT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.sleep = sleep
        self.per_second = per_second
        self.gap = 1.0 / per_second
        self.chat_interval = chat_interval
        self.clock = clock
        self._next = 0.0
        self._chat_next: dict[str, float] = {}
        # Until when the platform asked each chat to wait (by this pacer's clock).
        self._held: dict[str, float] = {}

    async def wait(self, chat: str) -> None:
        """Return when a message to `chat` may go: its chat's turn has come, then a global slot."""
        now = self.clock()
        ready = self._chat_next.get(chat, 0.0)
        if ready > now:
            await self.sleep(ready - now)
            now = self.clock()
        # Taken only once the chat is ready, so a waiting chat never holds a slot others could use.
        at = self._take(chat, now)
        if at > now:
            await self.sleep(at - now)
            now = self.clock()
            if now - at > self.gap:
                # Woken later than its slot by more than a slot (the loop was busy): others waiting
                # woke with it, and all sending now would arrive together. Once, a new slot after theirs.
                at = self._take(chat, now)
                if at > now:
                    await self.sleep(at - now)
        self._forget(at)

    def _take(self, chat: str, now: float) -> float:
        at = max(now, self._next)
        self._next = at + self.gap
        self._chat_next[chat] = at + self.chat_interval
        return at

    def share(self, processes: int) -> None:
        """`processes` are sending on this channel now (handlers/core/budget.py): take an even part of the budget."""
        self.gap = max(1, processes) / self.per_second

    def hold(self, chat: str, seconds: float) -> None:
        """The platform asked this chat to wait (RetryAfter, 429): only it does, from anyone here."""
        until = self.clock() + seconds
        self._chat_next[chat] = max(self._chat_next.get(chat, 0.0), until)
        self._held[chat] = max(self._held.get(chat, 0.0), until)

    def held_until(self, chat: str) -> float:
        """When the platform's last wait for this chat ends (0 if it never asked one)."""
        return self._held.get(chat, 0.0)

    def held_for(self, chat: str) -> float:
        """How much longer the platform asked this chat to wait (0 or less: not held): a sender
        may put a notice back rather than wait that long in memory."""
        return self.held_until(chat) - self.clock()

    def pause(self, seconds: float) -> None:
        """The platform said the whole app is over its limit: every chat waits that long."""
        self._next = max(self._next, self.clock() + seconds)

    def _forget(self, now: float) -> None:
        # A chat whose turn has passed is as free as one never seen: keep the map to the busy ones.
        if len(self._chat_next) > 1_000:
            self._chat_next = {c: t for c, t in self._chat_next.items() if t > now}


class BudgetShare:
    """While a channel sends, about once a second: how many processes send on it now (handlers/core/budget.py),
    so this one's pacer takes its part. One for every channel, so they cannot drift apart."""

    EVERY_SECONDS = 1.0

    def __init__(self, pacer: Pacer, channel: str, outbox: Outbox) -> None:
        self.pacer = pacer
        self.channel = channel
        self.outbox = outbox
        # Which process a senders row is: the host and pid help whoever reads the table.
        self.instance = f"{socket.gethostname()[:20]}-{os.getpid()}-{secrets.token_hex(3)}"
        self._shared_at = float("-inf")

    async def refresh(self) -> None:
        now = time.monotonic()
        if now - self._shared_at < self.EVERY_SECONDS:
            return
        self._shared_at = now
        try:
            self.pacer.share(await share(self.outbox.db, self.channel, self.instance, self.outbox.clock()))
        except Exception as exc:
            # Keep the last known share: the message itself may still go out.
            log.warning("could not share the %s send budget (%s)", self.channel, exc)


def batch_of(pacer: Pacer) -> int:
    """How many notices to claim at once: BATCH_SECONDS' worth at this pace, at least ten."""
    return max(10, int(BATCH_SECONDS / pacer.gap))
