"""Helpers for the supplies tests: a person talking to the core directly, and the stock as stored."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from handlers.core.conversation import Inbound, Kind, Outcome, Sender
from handlers.core.engine import Houqin
from storage.db import Database
from storage.models import OutboxMessage, Person, Requisition, StockMovement, SupplyItem

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)  # Tuesday 10:00 in Shanghai
deliveries = itertools.count(1)


@dataclass
class Chat:
    """A demo person in the browser channel, talking to the core with no HTTP in between."""

    houqin: Houqin
    key: str
    heard: list[Outcome] = field(default_factory=list)

    @property
    def sender(self) -> Sender:
        return Sender("web", self.key, self.key, self.key, None)

    @property
    def last(self) -> Outcome:
        return self.heard[-1]

    async def says(self, text: str) -> Outcome:
        if text.startswith("/"):
            command, _, args = text[1:].partition(" ")
            inbound = Inbound(self.sender, Kind.COMMAND, self._key(), text=args.strip(), command=command)
        else:
            inbound = Inbound(self.sender, Kind.TEXT, self._key(), text=text)
        return await self._handle(inbound)

    async def presses(self, label: str) -> Outcome:
        """The newest button whose label starts with `label`, among what Houqin answered last."""
        for reply in reversed(self.last.replies):
            for row in reply.buttons:
                for button in row:
                    if button.label.startswith(label):
                        return await self.presses_payload(button.payload)
        shown = [b.label for r in self.last.replies for row in r.buttons for b in row]
        raise AssertionError(f"no button {label!r}; shown: {shown}")

    async def presses_payload(self, payload: str) -> Outcome:
        return await self._handle(Inbound(self.sender, Kind.BUTTON, self._key(), text=payload))

    def payload(self, label: str) -> str:
        for reply in reversed(self.last.replies):
            for row in reply.buttons:
                for button in row:
                    if button.label.startswith(label):
                        return button.payload
        raise AssertionError(f"no button {label!r}")

    async def _handle(self, inbound: Inbound) -> Outcome:
        outcome = await self.houqin.handle(inbound)
        self.heard.append(outcome)
        return outcome

    def _key(self) -> str:
        return f"{self.key}-{next(deliveries)}"


def text_of(outcome: Outcome) -> str:
    return "\n".join(reply.text for reply in outcome.replies)


async def stock_of(db: Database, code: str) -> tuple[int, int]:
    """(on hand, reserved) as stored."""
    async with db.unit_of_work() as session:
        item = await session.scalar(select(SupplyItem).where(SupplyItem.code == code))
        assert item is not None, code
        return item.on_hand, item.reserved


async def ledger_disagreements(db: Database) -> dict[str, tuple[int, int, int, int]]:
    """Items whose stored figures differ from what their ledger adds up to: code -> (on hand, ledger
    on hand, reserved, ledger reserved). Empty when the ledger explains every figure."""
    async with db.unit_of_work() as session:
        sums = {
            row.item_id: (int(row.on_hand), int(row.reserved))
            for row in await session.execute(
                select(
                    StockMovement.item_id,
                    func.sum(StockMovement.on_hand_delta).label("on_hand"),
                    func.sum(StockMovement.reserved_delta).label("reserved"),
                ).group_by(StockMovement.item_id)
            )
        }
        wrong = {}
        for item in await session.scalars(select(SupplyItem)):
            counted = sums.get(item.id, (0, 0))
            if counted != (item.on_hand, item.reserved):
                wrong[item.code] = (item.on_hand, counted[0], item.reserved, counted[1])
        return wrong


async def movements(db: Database, code: str) -> list[tuple[str, int, int]]:
    """(kind, on-hand delta, reserved delta) of an item's ledger rows, oldest first."""
    async with db.unit_of_work() as session:
        rows = await session.execute(
            select(StockMovement.kind, StockMovement.on_hand_delta, StockMovement.reserved_delta)
            .join(SupplyItem, SupplyItem.id == StockMovement.item_id)
            .where(SupplyItem.code == code)
            .order_by(StockMovement.id)
        )
        return [(kind, on_hand, reserved) for kind, on_hand, reserved in rows.all()]


async def requisition(db: Database, number: str) -> Requisition:
    async with db.unit_of_work() as session:
        found = await session.scalar(select(Requisition).where(Requisition.number == number))
        assert found is not None, number
        return found


async def person_id(db: Database, key: str) -> int:
    async with db.unit_of_work() as session:
        found = await session.scalar(select(Person.id).where(Person.demo_key == key))
        assert found is not None, key
        return found


async def notices_to(db: Database, key: str, containing: str = "") -> list[dict[str, object]]:
    """The outbox rows queued for a demo person (bodies), optionally only those naming a catalog key."""
    async with db.unit_of_work() as session:
        rows = await session.scalars(
            select(OutboxMessage)
            .join(Person, Person.id == OutboxMessage.person_id)
            .where(Person.demo_key == key)
            .order_by(OutboxMessage.id)
        )
        return [row.body for row in rows.all() if containing in str(row.body)]
