"""Crashes: the real `houqin run`, polling the fake Bot API, SIGKILLed at random points under load.

Several Telegram people report repairs at the same time. A killer arms one of four kinds of kill,
chosen by the seeded RNG, and fires it after a random amount of traffic:

- before-call: the bot asked the Bot API for something (a reply, an edit, a callback answer) and dies
  before Telegram did it;
- after-call: Telegram did it, the bot dies before it hears so;
- after-handout: a getUpdates answer handed the bot updates, the bot dies 0-40 ms later (inside the
  delivery's transaction, or just after its commit);
- timer: 0-80 ms after some Bot API call, wherever the process happens to be.

Then Houqin is started again and the people carry on from what their chats show. At the end, every
ticket number a person saw exists exactly once, every conversation has exactly one ticket that says
what the person chose, and no ticket is partial.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from dataclasses import dataclass
from random import Random

import pytest
from starlette.responses import Response

from storage.db import Database
from tests.fakes.telegram_api import JSONDict
from tests.reliability.audit import audit_deliveries, audit_tickets
from tests.reliability.conftest import Variant
from tests.reliability.harness import (
    ApiCall,
    Counts,
    DeliveryLedger,
    HarnessError,
    HouqinProcess,
    Launch,
    ObservedBotAPI,
    PollingTransport,
    Uptime,
    bot_api_error,
    polling_env,
    response_json,
    start_polling,
    wait_until,
)
from tests.reliability.people import ScriptedPerson, make_plan

pytestmark = pytest.mark.reliability


@dataclass(frozen=True)
class Load:
    people: int
    conversations: int  # planned per person
    kills: int  # at least this many
    extra: int  # at most this many more conversations per person while kills are still due
    most_calls: int  # a kill fires after 1..most_calls Bot API calls (or handouts)
    patience: float  # seconds of the service being up before a person acts again
    seconds: float  # the whole load must finish within this


SHORT = Load(people=4, conversations=2, kills=4, extra=4, most_calls=14, patience=1.5, seconds=100)
LONG = Load(people=6, conversations=4, kills=20, extra=8, most_calls=12, patience=1.5, seconds=480)


class Killer:
    """SIGKILLs the polling service at seeded random points and starts it again."""

    MODES = ("before-call", "after-call", "after-handout", "timer")

    def __init__(self, houqin: HouqinProcess, api: ObservedBotAPI, uptime: Uptime, rng: Random, load: Load) -> None:
        self.houqin, self.api, self.uptime, self.rng, self.load = houqin, api, uptime, rng, load
        self.kills: list[str] = []
        self.calls = 0  # Bot API calls other than getUpdates
        self.handouts = 0  # getUpdates answers that carried updates
        self.countdown = 0
        self.mode: str | None = None
        self.fired = asyncio.Event()
        self.kill_after: ApiCall | None = None
        self.wanted = load.kills
        api.before.append(self._before)
        api.after.append(self._after)

    @property
    def due(self) -> bool:
        return len(self.kills) < self.wanted

    def _kill_now(self, how: str) -> None:
        self.uptime.mark_down()
        self.houqin.signal_kill()
        self.kills.append(how)
        self.mode = None
        self.fired.set()

    async def _before(self, call: ApiCall) -> Response | None:
        if call.method == "getUpdates":
            return None
        self.calls += 1
        if self.mode in ("before-call", "after-call"):
            self.countdown -= 1
            if self.countdown <= 0 and self.mode == "before-call":
                self._kill_now(f"before-call {call.method}")
                return bot_api_error(502, "Bad Gateway")  # it never reached Telegram
            if self.countdown <= 0:
                self.kill_after, self.mode = call, None
        return None

    async def _after(self, call: ApiCall, response: Response) -> None:
        if call is self.kill_after:
            self.kill_after = None
            self._kill_now(f"after-call {call.method}")
        if call.method == "getUpdates" and response_json(response).get("result"):
            self.handouts += 1

    async def run(self) -> None:
        while self.due:
            mode = self.rng.choice(self.MODES)
            steps, delay = self.rng.randint(1, self.load.most_calls), self.rng.uniform(0, 0.08)
            self.fired.clear()
            if mode in ("before-call", "after-call"):
                self.mode, self.countdown = mode, steps
                await self.fired.wait()
            else:
                await self._traffic(mode, steps)
                await asyncio.sleep(delay if mode == "timer" else delay / 2)
                self._kill_now(f"{mode} +{delay * 1000:.0f}ms")
            self.houqin.reap()
            await start_polling(self.houqin, self.api)
            self.uptime.mark_up()

    async def _traffic(self, mode: str, steps: int) -> None:
        """Wait for `steps` more handouts (after-handout) or Bot API calls (timer)."""

        def count() -> int:
            return self.handouts if mode == "after-handout" else self.calls

        target = count() + steps
        await wait_until(lambda: count() >= target, self.load.seconds, f"{steps} more events before a {mode} kill")

    def disarm(self) -> None:
        self.mode, self.kill_after, self.wanted = None, None, len(self.kills)


async def test_sigkill_at_random_points_loses_and_duplicates_nothing(
    db: Database, observed_api: ObservedBotAPI, launch: Launch, variant: Variant, report: list[Counts]
) -> None:
    api, load = observed_api, LONG if variant.long else SHORT
    rng = variant.rng("kills")
    began = time.monotonic()
    houqin = launch("houqin", polling_env(db.url, api))
    uptime = Uptime()
    await start_polling(houqin, api)
    uptime.mark_up()
    killer = Killer(houqin, api, uptime, rng, load)
    deadline = time.monotonic() + load.seconds

    async with DeliveryLedger(db.url) as ledger:
        transport = PollingTransport(ledger, uptime, load.patience)
        people = [ScriptedPerson(api, api.user(6001 + i, f"员工{i + 1}"), transport) for i in range(load.people)]

        async def report_repairs(person: ScriptedPerson) -> None:
            name, plans = person.user.first_name, variant.rng(f"plans-{person.user.user_id}")
            for n in range(1, load.conversations + 1):
                await person.converse(make_plan(plans, name, n), deadline)
            n = load.conversations
            while killer.due and n < load.conversations + load.extra and time.monotonic() < deadline:
                n += 1
                await person.converse(make_plan(plans, name, n), deadline)

        killing: asyncio.Future[object] = asyncio.create_task(killer.run(), name="killer")
        reporting: asyncio.Future[object] = asyncio.ensure_future(
            asyncio.gather(*(report_repairs(person) for person in people))
        )
        try:
            # A killer that cannot restart Houqin ends the run at once instead of at the deadline.
            both: set[asyncio.Future[object]] = {reporting, killing}
            await asyncio.wait(both, return_when=asyncio.FIRST_EXCEPTION)
            if killing.done() and killing.exception() is not None:
                reporting.cancel()
                await killing
            await reporting
        finally:
            killer.disarm()
            # A restart under way finishes; then the killer has nothing left to do.
            await wait_until(lambda: killing.done() or (houqin.running() and uptime.up), 60, "the last restart")
            killing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await killing
        if not houqin.running():
            await start_polling(houqin, api)
        # Everything the people sent has been fetched and handled: once all is handed out, a last
        # update comes in a later batch, which Houqin fetches only when the earlier ones are done.
        await wait_until(lambda: api.pending_updates == 0, 30, "every update to be fetched")
        probe = api.user(6999, "探针").send_text("/help")
        await wait_until(lambda: str(probe["update_id"]) in ledger.replied, 30, "the probe's answer")
    await houqin.stop()
    took = time.monotonic() - began

    conversations = [c for person in people for c in person.conversations]
    sent = [int(u["update_id"]) for person in people for u in person.updates]
    tickets = await audit_tickets(db, conversations)
    deliveries = await audit_deliveries(db, [*sent, int(probe["update_id"])])
    report.append(
        Counts(
            "crash",
            {
                "kills": len(killer.kills),
                "kill_points": dict(Counter(k.split(" ")[0] for k in killer.kills)),
                "conversations": len(conversations),
                "finished": sum(c.done for c in conversations),
                "via_my": sum(c.seen_in == "my" for c in conversations),
                "updates_sent": len(sent),
                "unanswered_actions": transport.gave_up,
                "tickets_checked": tickets.checked,
                "lost": len(tickets.lost),
                "duplicated": len(tickets.duplicated),
                "partial": len(tickets.partial),
                # In flight at a kill: fetched again after the restart (the offset moves only once handled).
                "updates_never_handled": len(deliveries.missing),
                "replies_never_sent": len(deliveries.unreplied),
                "seconds": round(took, 1),
            },
        )
    )
    assert len(killer.kills) >= load.kills, f"only {len(killer.kills)} kills: {killer.kills}"
    assert not tickets.problems, "\n".join(tickets.problems)
    assert not deliveries.unexpected and not deliveries.without_outcome, deliveries
    assert not deliveries.missing and not deliveries.unreplied, deliveries
    assert not houqin.tracebacks(), "\n".join(houqin.tracebacks())


async def _sync(ledger: DeliveryLedger, update: JSONDict) -> None:
    """Wait until Houqin has handled this update and sent its replies. Chats are handled at the same
    time, so another chat's answer says nothing about this one: wait for this update itself."""
    key = str(update["update_id"])
    with contextlib.suppress(HarnessError):  # the assertion after it says what went wrong
        await wait_until(lambda: key in ledger.replied, 30, f"update {key} to be handled and answered")


async def test_replies_cut_off_by_a_crash_are_sent_after_the_restart(
    db: Database, observed_api: ObservedBotAPI, launch: Launch
) -> None:
    api = observed_api
    houqin = launch("houqin", polling_env(db.url, api))
    await start_polling(houqin, api)
    chat = 5001
    died = asyncio.Event()

    async def die_while_replying(call: ApiCall) -> Response | None:
        # The delivery is committed; Houqin is sending its first reply when the process dies.
        if call.method == "sendMessage" and call.chat_id == chat and not died.is_set():
            died.set()
            houqin.signal_kill()
            return bot_api_error(502, "Bad Gateway")
        return None

    api.before.append(die_while_replying)
    async with DeliveryLedger(db.url) as ledger:
        update = api.user(chat, "韩").send_text("/repair")
        await wait_until(died.is_set, 30, "Houqin to reply to /repair")
        houqin.reap()
        acknowledged = api.acknowledged_offset
        api.before.remove(die_while_replying)
        await start_polling(houqin, api)
        await _sync(ledger, update)
        replied = str(update["update_id"]) in ledger.replied
    await houqin.stop()
    shown = [m.text for m in api.messages(chat)]
    assert replied and any("需要维修的是哪一类" in (text or "") for text in shown), (
        f"update {update['update_id']} was acknowledged (offset {acknowledged}) before it was handled; "
        f"after the restart it was not delivered again and its replies never went out: the chat shows {shown}"
    )


async def test_a_reply_that_failed_to_send_is_sent_again_and_nobody_is_told_it_was_not_saved(
    db: Database, observed_api: ObservedBotAPI, launch: Launch
) -> None:
    """The same window without a crash: Telegram answers one sendMessage with 502. The delivery was
    committed, but the error handler tells the person nothing was saved, and the update, already
    confirmed, never comes back, so the question they should answer is never shown."""
    api = observed_api
    houqin = launch("houqin", polling_env(db.url, api))
    await start_polling(houqin, api)
    chat = 5002
    failed = asyncio.Event()

    async def bad_gateway_once(call: ApiCall) -> Response | None:
        if call.method == "sendMessage" and call.chat_id == chat and not failed.is_set():
            failed.set()
            return bot_api_error(502, "Bad Gateway")
        return None

    api.before.append(bad_gateway_once)
    async with DeliveryLedger(db.url) as ledger:
        update = api.user(chat, "邓").send_text("/repair")
        await wait_until(failed.is_set, 30, "Houqin to reply to /repair")
        await wait_until(lambda: str(update["update_id"]) in ledger.recorded, 30, "the delivery to be recorded")
        await _sync(ledger, update)
        replied = str(update["update_id"]) in ledger.replied
    await houqin.stop()
    shown = [m.text or "" for m in api.messages(chat)]
    assert not any("没有保存" in text for text in shown), f"told the repair was not saved, but it was: {shown}"
    assert replied and any("需要维修的是哪一类" in text for text in shown), f"the question never came: {shown}"
