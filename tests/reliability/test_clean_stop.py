"""A clean stop: the real `houqin run`, polling the fake Bot API, sent SIGTERM at random points while
several people report repairs — as systemd stops it for an upgrade — and started again.

Each stop must end within 10 s, its shutdown run to the end, and leave nothing half done: no update handled
whose replies were not marked sent (those would be sent twice after the restart) and no notice
claimed but not marked sent (the same). At the end every ticket a person saw exists once and whole,
and every update was handled and answered.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from functools import partial

import pytest
from sqlalchemy import func, select

from storage.db import Database
from storage.models import OutboxMessage, ProcessedDelivery
from tests.reliability.audit import audit_deliveries, audit_tickets
from tests.reliability.conftest import Variant
from tests.reliability.harness import (
    ApiCall,
    Counts,
    DeliveryLedger,
    HouqinProcess,
    Launch,
    ObservedBotAPI,
    PollingTransport,
    Uptime,
    polling_env,
    start_polling,
    wait_until,
)
from tests.reliability.people import ScriptedPerson, make_plan

pytestmark = pytest.mark.reliability

STOPS = 4
WITHIN_SECONDS = 10.0


async def left_half_done(db: Database) -> tuple[int, int]:
    """(updates handled but not marked answered, notices claimed but not marked sent) in the database."""
    async with db.unit_of_work() as session:
        unanswered = await session.scalar(
            select(func.count()).select_from(ProcessedDelivery).where(ProcessedDelivery.replied_at.is_(None))
        )
        in_hand = await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.claim.is_not(None), OutboxMessage.sent_at.is_(None))
        )
    return int(unanswered or 0), int(in_hand or 0)


def ended(process: subprocess.Popen[bytes]) -> bool:
    return process.poll() is not None


class Stopper:
    """Sends SIGTERM after a random number of Bot API calls, as a service manager would; waits for
    the process to end, checks what it left, and starts it again."""

    def __init__(self, houqin: HouqinProcess, api: ObservedBotAPI, uptime: Uptime, db: Database, variant: Variant):
        self.houqin, self.api, self.uptime, self.db = houqin, api, uptime, db
        self.rng = variant.rng("stops")
        self.calls = 0
        self.due_at = 0
        self.signalled = asyncio.Event()
        self.took: list[float] = []
        self.exit_codes: list[int | None] = []
        self.half_done: list[tuple[int, int]] = []
        api.after.append(self._after)

    async def _after(self, call: ApiCall, response: object) -> None:
        if call.method == "getUpdates" or self.signalled.is_set() or not self.due_at:
            return
        self.calls += 1
        if self.calls >= self.due_at:
            self.houqin.current.process.send_signal(signal.SIGTERM)
            self.signalled.set()

    async def run(self) -> None:
        for _ in range(STOPS):
            self.signalled.clear()
            self.calls, self.due_at = 0, self.rng.randint(3, 15)
            await self.signalled.wait()
            began = time.monotonic()
            self.uptime.mark_down()
            process = self.houqin.current.process
            await wait_until(partial(ended, process), 30, "houqin to stop after SIGTERM")
            self.took.append(time.monotonic() - began)
            self.exit_codes.append(process.returncode)
            self.half_done.append(await left_half_done(self.db))
            self.due_at = 0
            await start_polling(self.houqin, self.api)
            self.uptime.mark_up()


async def test_sigterm_under_load_stops_within_ten_seconds_and_leaves_nothing_half_done(
    db: Database, observed_api: ObservedBotAPI, launch: Launch, variant: Variant, report: list[Counts]
) -> None:
    api = observed_api
    began = time.monotonic()
    houqin = launch("houqin", polling_env(db.url, api))
    uptime = Uptime()
    await start_polling(houqin, api)
    uptime.mark_up()
    stopper = Stopper(houqin, api, uptime, db, variant)
    deadline = time.monotonic() + 150

    async with DeliveryLedger(db.url) as ledger:
        transport = PollingTransport(ledger, uptime, 1.5)
        people = [ScriptedPerson(api, api.user(7101 + i, f"职工{i + 1}"), transport) for i in range(3)]

        async def report_repairs(person: ScriptedPerson) -> None:
            plans = variant.rng(f"plans-{person.user.user_id}")
            n = 0
            while n < 2 or (len(stopper.took) < STOPS and time.monotonic() < deadline):
                n += 1
                await person.converse(make_plan(plans, person.user.first_name, n), deadline)

        stopping = asyncio.create_task(stopper.run(), name="stopper")
        await asyncio.gather(*(report_repairs(person) for person in people))
        await stopping
        await wait_until(lambda: api.pending_updates == 0, 30, "every update to be fetched")
        probe = api.user(7199, "探针").send_text("/help")
        await wait_until(lambda: str(probe["update_id"]) in ledger.replied, 30, "the probe's answer")
    await houqin.stop()

    conversations = [c for person in people for c in person.conversations]
    sent = [int(u["update_id"]) for person in people for u in person.updates]
    tickets = await audit_tickets(db, conversations)
    deliveries = await audit_deliveries(db, [*sent, int(probe["update_id"])])
    report.append(
        Counts(
            "clean stop",
            {
                "stops": len(stopper.took),
                "slowest_stop_s": round(max(stopper.took), 2),
                "exit_codes": stopper.exit_codes,
                "left_half_done": stopper.half_done,
                "conversations": len(conversations),
                "finished": sum(c.done for c in conversations),
                "updates_sent": len(sent),
                "seconds": round(time.monotonic() - began, 1),
            },
        )
    )
    assert len(stopper.took) == STOPS
    assert max(stopper.took) <= WITHIN_SECONDS, stopper.took
    # Ended by the signal it was sent, after its shutdown ran (uvicorn re-raises it, as systemd expects).
    assert set(stopper.exit_codes) <= {0, -signal.SIGTERM}, houqin.logs()
    assert houqin.logs().count("Application shutdown complete.") >= STOPS, houqin.logs()
    assert stopper.half_done == [(0, 0)] * STOPS
    assert not tickets.problems, "\n".join(tickets.problems)
    assert not deliveries.unexpected and not deliveries.without_outcome, deliveries
    assert not deliveries.missing and not deliveries.unreplied, deliveries
    assert not houqin.tracebacks(), "\n".join(houqin.tracebacks())
