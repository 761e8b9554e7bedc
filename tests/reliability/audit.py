"""The checks every scenario ends with, read from the database after the services stopped."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

from sqlalchemy import select

from handlers.core.conversation import Outcome
from handlers.core.i18n import pick_locale
from handlers.core.outbox import render_body
from handlers.repairs.intake import ticket_number
from handlers.repairs.tickets import room_label
from storage.db import Database
from storage.models import (
    AuditEntry,
    ChannelAccount,
    DialogState,
    OutboxMessage,
    Person,
    ProcessedDelivery,
    Ticket,
)
from tests.reliability.people import Conversation


@dataclass
class TicketAudit:
    checked: int = 0
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    partial: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)
    open_dialogs: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        return [
            *(f"lost: {p}" for p in self.lost),
            *(f"duplicated: {p}" for p in self.duplicated),
            *(f"partial: {p}" for p in self.partial),
            *(f"mismatched: {p}" for p in self.mismatched),
            *(f"unfinished: {p}" for p in self.unfinished),
            *(f"dialog left open: {p}" for p in self.open_dialogs),
        ]


async def audit_tickets(db: Database, conversations: Sequence[Conversation]) -> TicketAudit:
    """Every conversation has exactly one complete ticket that says what the person chose.

    Complete: a number that is R-<year>-<id>, a first history event "new" and a history whose steps
    chain up to the current status, one ticket.create audit entry, and (when assigned) the card notice
    for its assignee, all written in the one transaction that created the ticket.
    """
    audit = TicketAudit()
    async with db.unit_of_work() as session:
        tickets = list((await session.scalars(select(Ticket).order_by(Ticket.id))).unique().all())
        creates = Counter(
            (await session.scalars(select(AuditEntry.record).where(AuditEntry.action == "ticket.create"))).all()
        )
        cards = Counter(
            (await session.scalars(select(OutboxMessage.card_key).where(OutboxMessage.card_key.is_not(None)))).all()
        )
        accounts = {
            account.external_id: account.person_id
            for account in (
                await session.scalars(select(ChannelAccount).where(ChannelAccount.channel == "telegram"))
            ).all()
        }
        states = (await session.execute(select(DialogState, Person.display_name).join(Person))).all()
    audit.checked = len(tickets)

    for ticket in tickets:
        name = ticket.number or f"ticket id {ticket.id}"
        year = int((ticket.number or "R-0-0").split("-")[1])
        if ticket.number is None or ticket.number != ticket_number(ticket.id, year):
            audit.partial.append(f"{name}: number {ticket.number!r} is not R-<year>-{ticket.id:06d}")
        history = ticket.history
        if not history or history[0].to_status != "new" or history[0].from_status is not None:
            audit.partial.append(f"{name}: does not start with its 'new' event: {[e.to_status for e in history]}")
        elif any(later.from_status != earlier.to_status for earlier, later in pairwise(history)):
            chain = [(e.from_status, e.to_status) for e in history]
            audit.partial.append(f"{name}: history does not chain: {chain}")
        elif history[-1].to_status != ticket.status:
            audit.partial.append(f"{name}: status {ticket.status} but history ends at {history[-1].to_status}")
        if creates[ticket.number] != 1:
            audit.partial.append(f"{name}: {creates[ticket.number]} ticket.create audit entries")
        if ticket.assignee_id is not None and not cards[f"ticket:{ticket.id}:{ticket.assignee_id}"]:
            audit.partial.append(f"{name}: assigned to person {ticket.assignee_id} without a card notice")

    ids = {ticket.id for ticket in tickets}
    for key in cards:
        if key is not None and key.startswith("ticket:") and int(key.split(":")[1]) not in ids:
            audit.partial.append(f"card notice {key} for a ticket that does not exist")

    by_description: dict[str, list[Ticket]] = {}
    for ticket in tickets:
        by_description.setdefault(ticket.description, []).append(ticket)
    numbers = {ticket.number for ticket in tickets}
    planned = {conversation.plan.description for conversation in conversations}
    for conversation in conversations:
        plan, who = conversation.plan, f"person {conversation.user_id} «{conversation.plan.description}»"
        found = by_description.get(plan.description, [])
        if not conversation.done:
            audit.unfinished.append(f"{who}: never saw a ticket number after {conversation.actions} actions")
        if conversation.number is not None and conversation.number not in numbers:
            audit.lost.append(f"{who}: saw {conversation.number}, which is not in the database")
        if conversation.done and not found:
            audit.lost.append(f"{who}: finished, but no ticket has its description")
        if len(found) > 1:
            audit.duplicated.append(f"{who}: {len(found)} tickets {[t.number for t in found]}")
        if not found:
            continue
        ticket = found[0]
        if conversation.number is not None and ticket.number != conversation.number:
            audit.mismatched.append(f"{who}: saw {conversation.number}, its ticket is {ticket.number}")
        if ticket.reporter_id != accounts.get(str(conversation.user_id)):
            audit.mismatched.append(f"{who}: {ticket.number} reported by person {ticket.reporter_id}")
        chosen = (
            ticket.category,
            ticket.room.building.name_zh if ticket.room else None,
            room_label(ticket.room).zh if ticket.room else None,
            ticket.urgency,
        )
        wanted = (plan.category, plan.building, plan.room, plan.urgency)
        if chosen != wanted:
            audit.mismatched.append(f"{who}: {ticket.number} has {chosen}, the person chose {wanted}")
    for description, found in by_description.items():
        if description not in planned:
            audit.duplicated.append(f"unexpected tickets {[t.number for t in found]} «{description}»")

    for state, person_name in states:
        if state.channel == "telegram" and state.flow is not None:
            audit.open_dialogs.append(f"{person_name}: still in {state.flow}/{state.step}")
    return audit


@dataclass
class DeliveryAudit:
    rows: int
    missing: list[int]  # updates sent that have no row
    unexpected: list[str]  # rows for keys nobody sent
    unreplied: list[str]  # rows whose replies were never marked sent
    without_outcome: list[str]  # rows without the recorded answer a redelivery needs


async def audit_deliveries(db: Database, sent: Iterable[int]) -> DeliveryAudit:
    """processed_deliveries has one row per update (the unique key forbids more) for exactly the
    updates that were sent."""
    async with db.unit_of_work() as session:
        rows = (
            await session.execute(
                select(ProcessedDelivery.key, ProcessedDelivery.replied_at, ProcessedDelivery.outcome).where(
                    ProcessedDelivery.channel == "telegram"
                )
            )
        ).all()
    keys = {key for key, _, _ in rows}
    wanted = {str(update_id) for update_id in sent}
    return DeliveryAudit(
        rows=len(rows),
        missing=sorted(int(k) for k in wanted - keys),
        unexpected=sorted(keys - wanted),
        unreplied=sorted(key for key, replied, _ in rows if replied is None),
        without_outcome=sorted(key for key, _, outcome in rows if "replies" not in (outcome or {})),
    )


async def stored_replies(db: Database, keys: Iterable[int]) -> dict[int, list[str]]:
    """The reply texts Houqin recorded for each delivery (what a redelivery would send again)."""
    wanted = [str(key) for key in keys]
    async with db.unit_of_work() as session:
        rows = (
            await session.execute(
                select(ProcessedDelivery.key, ProcessedDelivery.outcome, ProcessedDelivery.id).where(
                    ProcessedDelivery.channel == "telegram", ProcessedDelivery.key.in_(wanted)
                )
            )
        ).all()
    return {
        int(key): [reply.text for reply in Outcome.from_record(outcome, replied=True, delivery_id=row_id).replies]
        for key, outcome, row_id in rows
    }


async def notice_texts(db: Database, default_locale: str = "zh_CN") -> dict[str, Counter[str]]:
    """Telegram outbox rows without a card key, rendered as they were sent, per chat."""
    async with db.unit_of_work() as session:
        rows = (
            await session.execute(
                select(OutboxMessage, Person.locale, ChannelAccount.platform_locale)
                .join(Person, Person.id == OutboxMessage.person_id)
                .outerjoin(
                    ChannelAccount,
                    (ChannelAccount.channel == OutboxMessage.channel)
                    & (ChannelAccount.address == OutboxMessage.address),
                )
                .where(OutboxMessage.channel == "telegram", OutboxMessage.card_key.is_(None))
            )
        ).all()
    texts: dict[str, Counter[str]] = {}
    for message, chosen, hint in rows:
        rendered = render_body(message.body, pick_locale(chosen, hint, default_locale)).text
        texts.setdefault(message.address, Counter())[rendered] += 1
    return texts
