"""For channels that answer their platform before the work is done (Slack, Feishu, DingTalk: 3 s to
answer; WeCom: 5 s): the work they go on with, kept, how they tell a repeat still being handled from one to
redo, and (Conversing) their side of one delivery's turn with the core."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any, TypeVar

from bot.settings import Settings
from handlers.core.conversation import Inbound, Outcome
from handlers.core.engine import Houqin
from handlers.core.i18n import pick_locale
from handlers.core.outbox import STOP_GRACE_SECONDS, finish

log = logging.getLogger(__name__)
T = TypeVar("T")
# A repeat of a request whose replies are not out yet. The platform was answered before the work, so a
# repeat (an event retried, a payload sent again) usually meets the first handling still at work,
# here or in another process: it leaves the replies to it. Older than this, the first is taken to
# have died between commit and send, and the repeat (retried after a minute, then five) sends them.
IN_FLIGHT = timedelta(seconds=30)


class Background:
    """Work that goes on after the platform was answered: kept, so it is neither lost nor unlogged,
    and so a test (or stop()) can wait until all of it, and what it started, is done."""

    def __init__(self, what: str, within: Callable[[Awaitable[Any]], Awaitable[Any]] | None = None) -> None:
        self.what = what
        self.within = within
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        task: asyncio.Task[T] = asyncio.ensure_future(self.within(work) if self.within else work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("%s failed", self.what, exc_info=exc)

    async def settled(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def finish(self, grace: float) -> None:
        """Stopping: what requests started is finished within `grace`; past it, cut off (its delivery
        is handled again when the platform delivers it again)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=grace)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def answered(outcome: Outcome, now: datetime) -> bool:
    """A repeat whose replies were sent, or are being sent by the first handling."""
    if not outcome.duplicate:
        return False
    if outcome.replied:
        return True
    recorded = outcome.recorded_at
    return recorded is not None and now - recorded < IN_FLIGHT


class Conversing:
    """Mixed into such a channel: a delivery handled by the core, the language each person was last
    answered in remembered (for the words the channel says itself: a failure, a placeholder), a repeat
    told apart, and a turn marked replied — which wakes the channel's notice sender."""

    houqin: Houqin
    settings: Settings
    background: Background
    _spoken: dict[str, str]
    _wake: asyncio.Event
    _stopping: asyncio.Event
    _sender: asyncio.Task[None] | None

    async def handle(self, inbound: Inbound) -> Outcome:
        outcome = await self.houqin.handle(inbound)
        if outcome.locale:
            self._spoken[inbound.sender.external_id] = outcome.locale
        return outcome

    def locale_hint(self, external_id: str) -> str:
        return pick_locale(self._spoken.get(external_id), None, self.settings.default_locale)

    def answered(self, outcome: Outcome) -> bool:
        """A repeat whose replies were sent, or are being sent by the first handling."""
        return answered(outcome, self.houqin.clock())

    async def done(self, outcome: Outcome, prompt: str | None = None) -> None:
        await self.houqin.mark_replied(outcome, prompt_ref=prompt)
        self._wake.set()

    async def wind_down(self, *tasks: asyncio.Task[None] | None) -> None:
        """Stopping, once the platform sends nothing more: `tasks` (a daily sync) cancelled, the notices
        in hand and the work its deliveries started finished within the grace."""
        for task in tasks:
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        await asyncio.gather(
            finish(self._sender, self._stopping, self._wake), self.background.finish(STOP_GRACE_SECONDS)
        )

    async def settled(self) -> None:
        """Until every piece of work started by a delivery (and what it started) is done."""
        await self.background.settled()
