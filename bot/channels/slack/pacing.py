"""Outbound pacing: about one message per second per Slack conversation, and Retry-After honoured.

Each conversation keeps its own next free moment, so one chatty DM (or one that Slack answered 429)
waits alone while messages to everyone else go out at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class Held(Exception):
    """This conversation may not be written to for `seconds` more (longer than we are willing to wait)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"held for {seconds:.1f}s")
        self.seconds = seconds


class Pacer:
    def __init__(
        self,
        interval: float = 1.0,
        *,
        patience: float = 3.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.interval, self.patience, self.clock, self.sleep = interval, patience, clock, sleep
        self._next: dict[str, float] = {}

    async def turn(self, conversation: str) -> None:
        """Wait for this conversation's turn; Held when that is further off than `patience`."""
        now = self.clock()
        at = max(now, self._next.get(conversation, now))
        if at - now > self.patience:
            raise Held(at - now)
        # Claimed before sleeping, so concurrent senders to one conversation queue one after another.
        self._next[conversation] = at + self.interval
        if at > now:
            await self.sleep(at - now)

    def hold(self, conversation: str, seconds: float) -> None:
        """Slack said 429 with Retry-After: nothing more to this conversation until then."""
        until = self.clock() + seconds
        self._next[conversation] = max(self._next.get(conversation, until), until)
