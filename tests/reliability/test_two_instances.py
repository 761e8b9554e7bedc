"""Two instances: two `houqin run` processes in webhook mode on one database, one fake Bot API.

Telegram has one poller per bot, so two instances mean webhooks behind a load balancer: each update
is POSTed to instance A or B in turn, and a random third of them to both at the same moment (as if a
delivery were retried while the first attempt still ran). Reporters file repairs; technicians, who
use Telegram too, accept and start the jobs from their cards while the reports still come in, each
press after the notices of the previous one went out (a person reads before pressing again).

Asserted:
- one complete ticket per conversation, as chosen; each went new → assigned → accepted → in_progress
  once, whichever instance handled which step and however often an update arrived;
- processed_deliveries: one row per distinct update, all replied;
- every outbox row was claimed once and sent once (attempts == 1, sent_at set, no error);
- each card: exactly one sendMessage created it, and exactly one editMessageText per later notice of
  that card (the edits that retire a pressed button, "…\\n\\n→ choice", are counted apart);
- every chat shows each recorded reply and each notice exactly once, except that an update POSTed to
  both instances may have its replies shown twice: the second instance finds the delivery recorded
  but not yet marked replied and re-sends its stored replies, by design.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from handlers.core.i18n import pick_locale
from handlers.core.outbox import render_body
from storage.db import Database
from storage.models import (
    ChannelAccount,
    OutboxMessage,
    Person,
    Ticket,
)
from tests.fakes.telegram_api import FakeMessage, FakeUser, JSONDict
from tests.reliability.audit import audit_deliveries, audit_tickets, notice_texts, stored_replies
from tests.reliability.conftest import Variant
from tests.reliability.harness import (
    POLL,
    Counts,
    Launch,
    ObservedBotAPI,
    WebhookTransport,
    make_technicians,
    reader_engine,
    start_webhook,
    wait_drained,
    webhook_env,
)
from tests.reliability.people import ACCEPT, NUMBER, RETIRED, START, ScriptedPerson, make_plan

pytestmark = pytest.mark.reliability

CATEGORIES = ("electrical", "plumbing")


@dataclass(frozen=True)
class Size:
    reporters: int
    conversations: int
    technicians: dict[str, int]
    both: float  # share of updates POSTed to both instances at once
    seconds: float


SHORT = Size(reporters=4, conversations=1, technicians={"electrical": 2, "plumbing": 1}, both=0.33, seconds=90)
LONG = Size(reporters=8, conversations=3, technicians={"electrical": 2, "plumbing": 2}, both=0.33, seconds=400)


@dataclass
class Technician:
    """Works the jobs on their cards: Accept, then Start, one press after the notices went out."""

    user: FakeUser
    api: ObservedBotAPI
    transport: WebhookTransport
    outbox: AsyncEngine
    jobs: dict[str, str] = field(default_factory=dict)  # number -> "assigned" | "accepted" | "started"
    updates: list[JSONDict] = field(default_factory=list)
    looked_up: int = 0  # /ticket sent because no card showed the button needed

    def _screen(self) -> list[FakeMessage]:
        return [m for m in self.api.messages(self.user.chat_id) if not m.deleted]

    def _next(self) -> tuple[str, str, Callable[[], JSONDict]] | None:
        for message in self._screen():
            text = message.text or ""
            if text.startswith("🔧 ") and (found := NUMBER.search(text)):
                self.jobs.setdefault(found.group(), "assigned")
        for message in reversed(self._screen()):
            found = NUMBER.search(message.text or "")
            if found is None or found.group() not in self.jobs:
                continue
            number, labels = found.group(), {str(b["text"]): str(b["callback_data"]) for b in message.buttons}
            wanted = {"assigned": ACCEPT, "accepted": START}.get(self.jobs[number])
            if wanted in labels:
                data = labels[wanted]
                return number, "accepted" if wanted == ACCEPT else "started", self._press(message.message_id, data)
        return None

    def _press(self, message_id: int, data: str) -> Callable[[], JSONDict]:
        return lambda: self.user.press(message_id, data)

    async def work(self, reporters_done: Callable[[], bool], deadline: float) -> None:
        while time.monotonic() < deadline:
            await wait_drained(self.outbox)
            step = self._next()
            if step is not None:
                number, state, press = step
                update = press()
                self.updates.append(update)
                if await self.transport.exchange(update):
                    self.jobs[number] = state
                continue
            behind = [number for number, state in self.jobs.items() if state != "started"]
            if behind:
                # No card shows the button needed (test_card_notices.py: the retire race): ask /ticket.
                self.looked_up += 1
                update = self.user.send_text(f"/ticket {behind[0]}")
                self.updates.append(update)
                await self.transport.exchange(update)
                continue
            if reporters_done():
                return
            await asyncio.sleep(POLL)


def original(message: FakeMessage) -> str:
    return (message.edits[0] if message.edits else message.text) or ""


async def test_two_webhook_instances_on_one_database_keep_every_guarantee(
    db: Database,
    observed_api: ObservedBotAPI,
    http: httpx.AsyncClient,
    launch: Launch,
    variant: Variant,
    report: list[Counts],
) -> None:
    api, size, began = observed_api, LONG if variant.long else SHORT, time.monotonic()
    rng = variant.rng("two-instances")
    a = launch("a", webhook_env(db.url, api))
    b = launch("b", webhook_env(db.url, api))
    await asyncio.gather(start_webhook(a, http), start_webhook(b, http))
    transport = WebhookTransport(http, api, [a, b], rng, both=size.both)
    outbox = reader_engine(db.url)
    deadline = time.monotonic() + size.seconds
    try:
        staff = {
            api.user(8100 + n * 10 + i, f"{scope}师傅{i + 1}"): scope
            for n, (scope, count) in enumerate(size.technicians.items())
            for i in range(count)
        }
        technicians = [Technician(user, api, transport, outbox) for user in staff]
        for technician in technicians:
            update = technician.user.send_text("/start")
            technician.updates.append(update)
            assert await transport.exchange(update)
        await make_technicians(db, staff, CATEGORIES)

        reporters = [
            ScriptedPerson(api, api.user(8001 + i, f"报修人{i + 1}"), transport) for i in range(size.reporters)
        ]
        finished: list[ScriptedPerson] = []

        async def report_repairs(person: ScriptedPerson) -> None:
            plans = variant.rng(f"plans-{person.user.user_id}")
            for n in range(1, size.conversations + 1):
                await person.converse(make_plan(plans, person.user.first_name, n, CATEGORIES), deadline)
            finished.append(person)

        def reporters_done() -> bool:
            return len(finished) == len(reporters)

        await asyncio.gather(
            *(report_repairs(person) for person in reporters),
            *(technician.work(reporters_done, deadline) for technician in technicians),
        )
        await wait_drained(outbox)
    finally:
        await asyncio.gather(a.stop(), b.stop())
        await outbox.dispose()

    conversations = [c for person in reporters for c in person.conversations]
    tickets = await audit_tickets(db, conversations)
    everyone: list[tuple[int, list[JSONDict]]] = [(p.user.chat_id, p.updates) for p in reporters]
    everyone += [(t.user.chat_id, t.updates) for t in technicians]
    sent = [int(u["update_id"]) for _, updates in everyone for u in updates]
    deliveries = await audit_deliveries(db, sent)
    recorded = await stored_replies(db, sent)
    notices = await notice_texts(db)
    problems: list[str] = []

    async with db.unit_of_work() as session:
        rows = list((await session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "telegram"))).all())
        all_tickets = {t.id: t for t in (await session.scalars(select(Ticket))).unique().all()}
        locales = {
            account.address: pick_locale(person.locale, account.platform_locale, "zh_CN")
            for account, person in (
                await session.execute(
                    select(ChannelAccount, Person)
                    .join(Person, Person.id == ChannelAccount.person_id)
                    .where(ChannelAccount.channel == "telegram")
                )
            ).all()
        }
    for row in rows:
        if row.sent_at is None or row.attempts != 1 or row.error is not None:
            problems.append(
                f"outbox {row.id} ({row.card_key}): sent_at={row.sent_at} attempts={row.attempts} {row.error}"
            )
    for ticket in all_tickets.values():
        steps = [event.to_status for event in ticket.history]
        if steps != ["new", "assigned", "accepted", "in_progress"]:
            problems.append(f"{ticket.number}: history {steps}")

    # Cards: one message each (created by the first notice), one edit per later notice of the card.
    cards: dict[tuple[str, str], list[OutboxMessage]] = {}
    for row in rows:
        if row.card_key is not None:
            cards.setdefault((row.card_key, row.address), []).append(row)
    card_texts: dict[str, set[str]] = {}  # chat -> every text a card in it was sent with
    stale_cards = card_edits = 0
    for (key, address), versions in cards.items():
        versions.sort(key=lambda row: row.id)
        texts = [render_body(row.body, locales.get(address, "zh_CN")).text for row in versions]
        card_texts.setdefault(address, set()).update(texts)
        made = [m for m in api.messages(int(address)) if original(m) in texts]
        if len(made) != 1 or original(made[0]) != texts[0]:
            problems.append(f"card {key}: sent as {len(made)} messages {[original(m)[:40] for m in made]}")
            continue
        card = made[0]
        edits = [
            params
            for name, params in api.calls
            if name == "editMessageText"
            and str(params.get("chat_id")) == address
            and str(params.get("message_id")) == str(card.message_id)
            and RETIRED not in str(params.get("text"))
        ]
        card_edits += len(edits)
        if [str(e.get("text")) for e in edits] != texts[1:]:
            problems.append(f"card {key}: {len(texts)} notices, {len(edits)} card edits (one per later notice)")
        if card.text != texts[-1]:
            stale_cards += 1  # an older version overwrote a newer one (test_card_notices.py pins both causes)

    # Every chat: recorded replies and notices once each; doubled updates may show their replies twice.
    doubled = transport.doubled
    resent = 0
    for chat, updates in everyone:
        wanted: Counter[str] = Counter()
        extra: Counter[str] = Counter()
        for update in updates:
            texts = recorded.get(int(update["update_id"]), [])
            wanted.update(texts)
            if int(update["update_id"]) in doubled:
                extra.update(texts)
        wanted.update(notices.get(str(chat), Counter()))
        shown = Counter(original(m) for m in api.messages(chat) if original(m) not in card_texts.get(str(chat), set()))
        missing, surplus = wanted - shown, shown - wanted
        resent += sum(surplus.values())
        if missing or surplus - extra:
            problems.append(f"chat {chat}: missing {dict(missing)}, unexplained extra {dict(surplus - extra)}")

    report.append(
        Counts(
            "two instances",
            {
                "reporters": len(reporters),
                "technicians": len(technicians),
                "conversations": len(conversations),
                "updates": len(set(sent)),
                "posts": sum(len(p.targets) for p in transport.log),
                "posted_to_both": len(doubled),
                "replies_resent_by_design": resent,
                "delivery_rows": deliveries.rows,
                "tickets_checked": tickets.checked,
                "outbox_rows": len(rows),
                "cards": len(cards),
                "card_edits": card_edits,
                "stale_cards": stale_cards,
                "ticket_lookups": sum(t.looked_up for t in technicians),
                "lost": len(tickets.lost) + len(deliveries.missing),
                "duplicated": len(tickets.duplicated),
                "seconds": round(time.monotonic() - began, 1),
            },
        )
    )
    assert not tickets.problems, "\n".join(tickets.problems)
    assert not problems, "\n".join(problems)
    assert not (deliveries.missing or deliveries.unexpected or deliveries.unreplied or deliveries.without_outcome), (
        deliveries
    )
    assert deliveries.rows == len(set(sent))
    acknowledged = {posted.update_id for posted in transport.log if 200 in posted.statuses}
    assert acknowledged == set(sent), f"never answered 200: {set(sent) - acknowledged}"
    for houqin in (a, b):
        assert not houqin.tracebacks(), "\n".join(houqin.tracebacks())
