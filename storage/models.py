"""The tables Houqin keeps: people and their channel accounts, the organisation, repair tickets,
dialog state, processed deliveries, the audit log, and supplies (catalog, stock ledger, requisitions)."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every database (SQLite would otherwise hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
Id = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON}


class Department(Base):
    __tablename__ = "departments"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))


class Person(Base):
    __tablename__ = "people"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    display_name: Mapped[str] = mapped_column(String(100))
    # None means "follow the app's language"; /lang sets it explicitly.
    locale: Mapped[str | None] = mapped_column(String(8))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    demo_key: Mapped[str | None] = mapped_column(String(40), unique=True)
    # How admins address someone in chat (/role grant @wang.fang ...): unique, lower case, ASCII.
    handle: Mapped[str | None] = mapped_column(String(40), unique=True, index=True)
    # Optional, lower case; matches a single sign-on's `email` claim to the person (unique: one person each).
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set when they left the organisation (/org leave, or a directory saying so): their accounts are
    # turned away like a stranger's (handlers/core/membership.py) until /org rejoin clears it.
    left_at: Mapped[datetime | None] = mapped_column()

    # Loaded with every person (authorisation asks them); the department comes in the same query.
    # Accounts are not: every ticket and card loads people, and only identify() needs an account,
    # which it queries itself. Reading them unloaded raises rather than block the event loop.
    roles: Mapped[list[PersonRole]] = relationship(lazy="selectin", cascade="all, delete-orphan")
    accounts: Mapped[list[ChannelAccount]] = relationship(
        back_populates="person", lazy="raise_on_sql", cascade="all, delete-orphan"
    )
    department: Mapped[Department | None] = relationship(lazy="joined")

    def has_role(self, role: str) -> bool:
        return any(r.role == role for r in self.roles)

    @property
    def member(self) -> bool:
        return self.left_at is None


class PersonRole(Base):
    """staff, technician (with specialty), manager, logistics_staff, logistics_admin, admin."""

    __tablename__ = "person_roles"
    __table_args__ = (UniqueConstraint("person_id", "role", "scope"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    # A technician's specialty (a repair category) or a manager's department code; "" when unscoped.
    scope: Mapped[str] = mapped_column(String(32), default="")


class ChannelAccount(Base):
    """One identity of a person on one channel: a Telegram user, a Slack user, a browser session."""

    __tablename__ = "channel_accounts"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(64))
    # Where to reach them on that channel (a Telegram private chat id, a Slack DM channel).
    address: Mapped[str | None] = mapped_column(String(64))
    platform_locale: Mapped[str | None] = mapped_column(String(16))
    # Notices go to the account a person used last: that is where they are reading.
    last_seen_at: Mapped[datetime | None] = mapped_column()
    # Set when the platform says the person can no longer be reached (blocked the bot, left).
    unreachable_since: Mapped[datetime | None] = mapped_column()
    person: Mapped[Person] = relationship(back_populates="accounts", lazy="joined")


class Building(Base):
    __tablename__ = "buildings"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    # How many people work or live there, for energy per head (/meter headcount); None: not known.
    headcount: Mapped[int | None] = mapped_column(Integer)
    rooms: Mapped[list[Room]] = relationship(back_populates="building", order_by="Room.code")


class Room(Base):
    __tablename__ = "rooms"
    __table_args__ = (UniqueConstraint("building_id", "code"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    building_id: Mapped[int] = mapped_column(ForeignKey("buildings.id"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    building: Mapped[Building] = relationship(back_populates="rooms", lazy="joined")


class Ticket(Base):
    __tablename__ = "tickets"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    # R-2026-000123: the year it was opened and the row id, so numbers never collide between processes.
    number: Mapped[str | None] = mapped_column(String(20), unique=True)
    reporter_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    category: Mapped[str] = mapped_column(String(20))
    building_id: Mapped[int | None] = mapped_column(ForeignKey("buildings.id"))
    room_id: Mapped[int | None] = mapped_column(ForeignKey("rooms.id"))
    location_text: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    urgency: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    # When it was last given to its assignee: "who waited longest" reads one index entry per technician
    # (ix_tickets_assignee_assigned_at), not every ticket they ever held and its history.
    assigned_at: Mapped[datetime | None] = mapped_column()
    # When it must be resolved by, from its urgency (SLA); overdue when still open after this.
    due_at: Mapped[datetime | None] = mapped_column(index=True)
    resolved_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    rating: Mapped[int | None] = mapped_column(Integer)
    rating_comment: Mapped[str | None] = mapped_column(Text)
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    # Checked on every UPDATE: of two technicians accepting at once, the second write fails and retries.
    version: Mapped[int] = mapped_column(Integer, default=0)

    reporter: Mapped[Person] = relationship(lazy="joined", foreign_keys=[reporter_id])
    assignee: Mapped[Person | None] = relationship(lazy="joined", foreign_keys=[assignee_id])
    building: Mapped[Building | None] = relationship(lazy="joined")
    room: Mapped[Room | None] = relationship(lazy="joined")
    photos: Mapped[list[Photo]] = relationship(order_by="Photo.id", lazy="selectin")
    history: Mapped[list[TicketEvent]] = relationship(order_by="TicketEvent.id", lazy="selectin")

    __mapper_args__ = {"version_id_col": version}


class TicketFollower(Base):
    """Someone who reported the same problem and chose to follow this ticket instead."""

    __tablename__ = "ticket_followers"
    __table_args__ = (UniqueConstraint("ticket_id", "person_id"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class TicketComment(Base):
    """A comment relayed between reporter and technician through Houqin."""

    __tablename__ = "ticket_comments"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    body: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class TicketEvent(Base):
    """The ticket's status history: every change with who made it and when."""

    __tablename__ = "ticket_events"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Photo(Base):
    """A photo sent during a dialog; attached to its ticket on submit.

    Telegram and Slack keep the bytes and give us a file id; the browser chat uploads the bytes.
    """

    __tablename__ = "photos"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    file_id: Mapped[str | None] = mapped_column(String(200))
    content: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    content_type: Mapped[str | None] = mapped_column(String(50))
    size: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Attachment(Base):
    """A file Houqin sends to one person (an export, a chart): kept so a redelivered answer, a queued
    notice or the browser chat can fetch it again, and only by the person it was made for."""

    __tablename__ = "attachments"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class DialogState(Base):
    """Where a person is in a guided conversation on one channel.

    ``version`` grows with every accepted answer: updates are conditional on it, so two processes
    answering for the same person cannot both move the dialog, and buttons carry it so a button
    from an earlier step is recognised as stale.
    """

    __tablename__ = "dialog_states"
    __table_args__ = (UniqueConstraint("person_id", "channel"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    flow: Mapped[str | None] = mapped_column(String(32))
    step: Mapped[str | None] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The channel's reference to the message showing the current buttons (a Telegram message id), so
    # the next prompt can retire them. Written with a plain UPDATE that leaves ``version`` alone.
    prompt_ref: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __mapper_args__ = {"version_id_col": version}


class OutboxMessage(Base):
    """A message to someone other than the sender, written in the same transaction as its cause.

    The body holds catalog keys and parameters, not text: it is rendered in the recipient's language
    when it is sent. A channel sender claims unsent rows, sends them and stamps ``sent_at``.
    """

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    # None for an answer to someone who is not a member (a join request denied): the body says its language.
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(64))
    # Messages with a card key replace the earlier message of that key on the channel (edit in place).
    card_key: Mapped[str | None] = mapped_column(String(64))
    body: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    not_before: Mapped[datetime | None] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column(index=True)
    # A sender claims rows before sending (no lock is held over the network); a claim expires.
    claim: Mapped[str | None] = mapped_column(String(32))
    claimed_until: Mapped[datetime | None] = mapped_column()
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(200))


class CardRef(Base):
    """Where a card lives on a channel, so the next version of it edits that message."""

    __tablename__ = "card_refs"
    __table_args__ = (UniqueConstraint("card_key", "channel", "address"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    card_key: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    address: Mapped[str] = mapped_column(String(64))
    message_ref: Mapped[str] = mapped_column(String(64))


def random_id() -> int:
    """A row id that says nothing of when its row was written, nor next to which others."""
    return secrets.randbelow(2**62) + 1


class ProcessedDelivery(Base):
    """An inbound delivery already handled, recorded in the same transaction as its effect.

    Ids are random, not counted up: a discreet delivery (an anonymous answer) keeps neither its key
    nor its time (handlers/core/discreet.py), and a growing id would still place it between the
    person's other deliveries."""

    __tablename__ = "processed_deliveries"
    __table_args__ = (UniqueConstraint("channel", "key"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True, default=random_id)
    channel: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # What we answered, so a redelivery whose replies never went out can still get them.
    outcome: Mapped[dict[str, Any]] = mapped_column(default=dict)
    replied_at: Mapped[datetime | None] = mapped_column()


class AuditEntry(Base):
    """Append-only: who did what, to which record, from which channel."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    channel: Mapped[str | None] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64))
    record: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16), default="ok")
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class JobRun(Base):
    """One run of a scheduled job for one period; the unique key makes it happen once."""

    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("job", "period"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    job: Mapped[str] = mapped_column(String(64))
    period: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
    outcome: Mapped[str | None] = mapped_column(String(200))


# --- supplies ---


class SupplyItem(Base):
    """Something in the stores that staff may ask for: its names, unit, price and stock.

    ``on_hand`` is what is on the shelf, ``reserved`` what submitted requisitions have claimed; the
    difference is available. Both change only by conditional UPDATE (handlers/supplies/stock.py), each change
    with its row in the stock ledger, and the checks below hold even if code ever got it wrong.
    """

    __tablename__ = "supply_items"
    __table_args__ = (
        CheckConstraint("on_hand >= 0", name="on_hand_not_negative"),
        CheckConstraint("reserved >= 0", name="reserved_not_negative"),
        CheckConstraint("reserved <= on_hand", name="reserved_within_on_hand"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    # What admins type (/stock add PAPER-A4 50) and what an imported file is matched by.
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    category: Mapped[str] = mapped_column(String(20), index=True)
    unit: Mapped[str] = mapped_column(String(16))
    # In fen (1/100 yuan); None when unknown (it then adds nothing to a requisition's value).
    unit_price: Mapped[int | None] = mapped_column(Integer)
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    # Logistics admins are alerted when what is available falls to this or below; once per crossing.
    reorder_at: Mapped[int] = mapped_column(Integer, default=0)
    low_alerted: Mapped[bool] = mapped_column(default=False)
    # How many one person may ask for in a calendar month; None for no limit.
    monthly_limit: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class StockMovement(Base):
    """One change of stock: a receipt, reservation, release, hand-out or adjustment after a count.

    Summing the deltas of an item's rows gives its ``on_hand`` and ``reserved``; a test checks it.
    """

    __tablename__ = "stock_ledger"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("supply_items.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    on_hand_delta: Mapped[int] = mapped_column(Integer, default=0)
    reserved_delta: Mapped[int] = mapped_column(Integer, default=0)
    requisition_id: Mapped[int | None] = mapped_column(ForeignKey("requisitions.id"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Requisition(Base):
    """A request for supplies (物资申领): its lines, where it is in the approval chain, and its pickup."""

    __tablename__ = "requisitions"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    # S-2026-000123: the year it was submitted and the row id.
    number: Mapped[str | None] = mapped_column(String(20), unique=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    # The requester's department when they asked: its manager approves the first step.
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    purpose: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    total_quantity: Mapped[int] = mapped_column(Integer, default=0)
    total_value: Mapped[int] = mapped_column(Integer, default=0)  # fen
    # Above the organisation's thresholds: a logistics admin approves after the manager.
    needs_second: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    first_approver_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    second_approver_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    handler_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))  # logistics: ready / hand-out
    pickup_place: Mapped[str | None] = mapped_column(String(200))
    reject_reason: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column()
    # Checked on every UPDATE: of two approvers pressing at once, the second write fails and retries.
    version: Mapped[int] = mapped_column(Integer, default=0)

    requester: Mapped[Person] = relationship(lazy="joined", foreign_keys=[requester_id])
    department: Mapped[Department | None] = relationship(lazy="joined")
    first_approver: Mapped[Person | None] = relationship(lazy="joined", foreign_keys=[first_approver_id])
    second_approver: Mapped[Person | None] = relationship(lazy="joined", foreign_keys=[second_approver_id])
    handler: Mapped[Person | None] = relationship(lazy="joined", foreign_keys=[handler_id])
    lines: Mapped[list[RequisitionLine]] = relationship(order_by="RequisitionLine.id", lazy="selectin")
    history: Mapped[list[RequisitionEvent]] = relationship(order_by="RequisitionEvent.id", lazy="selectin")

    __mapper_args__ = {"version_id_col": version}


class RequisitionLine(Base):
    __tablename__ = "requisition_lines"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    requisition_id: Mapped[int] = mapped_column(ForeignKey("requisitions.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("supply_items.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    # What was actually handed out (a partial hand-out gives less); None until then.
    handed_out: Mapped[int | None] = mapped_column(Integer)
    unit_price: Mapped[int | None] = mapped_column(Integer)  # fen, as it was when asked
    item: Mapped[SupplyItem] = relationship(lazy="joined")


class RequisitionEvent(Base):
    """The requisition's history: every change of status, who made it, when, and why."""

    __tablename__ = "requisition_events"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    requisition_id: Mapped[int] = mapped_column(ForeignKey("requisitions.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class ApprovalDelegation(Base):
    """A manager's stand-in for approvals, from one day to another (both included, local dates)."""

    __tablename__ = "approval_delegations"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    manager_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    delegate_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    starts_on: Mapped[date] = mapped_column()
    ends_on: Mapped[date] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    manager: Mapped[Person] = relationship(lazy="joined", foreign_keys=[manager_id])
    delegate: Mapped[Person] = relationship(lazy="joined", foreign_keys=[delegate_id])


# --- Accounts: one person on several channels (Slack issue) ------------------------------------


class LinkCode(Base):
    """A one-time code a person asks for on one channel and types on another to join the two
    accounts. Only its hash is kept; it is spent by a conditional UPDATE, so it works once."""

    __tablename__ = "link_codes"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()


class WebSigninLink(Base):
    """A one-time link to sign in to the browser chat (`/web`), bound to the person who asked. Only
    its hash is kept; it is spent by a conditional UPDATE, so it works once, within its time."""

    __tablename__ = "web_signin_links"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()


class WebSession(Base):
    """A signed-in browser: the cookie holds a random id, this row only its hash. It lasts
    `expires_at`, pushed on by use (sliding); signing out deletes it."""

    __tablename__ = "web_sessions"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    session_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # How it began: "link" or "oidc".
    method: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column()
    last_used_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column(index=True)


class WebHistoryEntry(Base):
    """What a signed-in person's browser chat showed lately (their messages, replies, notices and cards,
    as rendered), so a new tab is not empty. The newest few per person are kept; a card is one entry,
    replaced by its newest version. Nothing of a discreet turn is written here."""

    __tablename__ = "web_history"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    card_key: Mapped[str | None] = mapped_column(String(64))
    entry: Mapped[dict[str, Any]] = mapped_column(default=dict)


# --- surveys and the suggestion box ---


class Survey(Base):
    """A satisfaction survey: its questions (the imported definition) and, once launched, its campaign.

    A survey is launched once: who it went to (``audience``), when answering opens and closes.
    ``token_key`` is a random per-survey key mixed into every respondent's count-once token; it is
    erased when the survey closes, so afterwards nobody, not even with the server secret, can tell
    whose token is whose (see handlers/surveys/campaigns.py).
    """

    __tablename__ = "surveys"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    title_zh: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str] = mapped_column(String(200))
    anonymous: Mapped[bool] = mapped_column(default=False)
    # The questions as validated from the file: [{id, type, text: {zh, en}, options, required}].
    definition: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(12), default="draft", index=True)  # draft, open, closed
    # {"kind": "everyone" | "departments" | "roles", "codes": [...]}
    audience: Mapped[dict[str, Any]] = mapped_column(default=dict)
    opens_at: Mapped[datetime | None] = mapped_column()
    closes_at: Mapped[datetime | None] = mapped_column(index=True)
    token_key: Mapped[str | None] = mapped_column(String(64))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    launched_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()


class SurveyInvitation(Base):
    """Someone the survey was addressed to when it was launched: the response rate's denominator.

    Whether they answered is not written here (that would name an anonymous respondent)."""

    __tablename__ = "survey_invitations"
    __table_args__ = (UniqueConstraint("survey_id", "person_id"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)


class SurveyResponse(Base):
    """One person's answers to one survey, counted once by ``token`` (a keyed one-way hash of the
    person and the survey). Answering again replaces the answers in place.

    Anonymous: ``person_id`` stays empty and only the day is kept (a time to the second could be
    matched against other records); the key is the token itself, not a growing number whose order
    would mirror the order people answered in. On SQLite the table has no hidden rowid either (one
    would count up in that order); closing an anonymous survey rewrites its rows in token order, so
    PostgreSQL's physical order and transaction ids say nothing of it afterwards (handlers/surveys/campaigns.py).
    """

    __tablename__ = "survey_responses"
    __table_args__ = {"sqlite_with_rowid": False}
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), primary_key=True)
    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"), index=True)
    answers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    answered_on: Mapped[date] = mapped_column(index=True)


class SurveyDraft(Base):
    """Answers given so far by someone who stopped midway, keyed like their response (by token, no
    person, no time), so they carry on where they stopped even after /cancel. Deleted on submitting
    and when the survey closes. Without a rowid on SQLite, like SurveyResponse."""

    __tablename__ = "survey_drafts"
    __table_args__ = {"sqlite_with_rowid": False}
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), primary_key=True)
    token: Mapped[str] = mapped_column(String(64), primary_key=True)
    answers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    question: Mapped[int] = mapped_column(Integer, default=0)


class Suggestion(Base):
    """A suggestion (建言献策): its words, topic, status and the thread with the logistics office.

    ``author_id`` is set only when the suggester chose to be named. An anonymous suggester is reached
    through ``route``: their person id sealed with the server's key (handlers/suggestions/box.py), which
    the service opens to send a reply and no view or export ever shows.
    """

    __tablename__ = "suggestions"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    topic: Mapped[str] = mapped_column(String(20), index=True)
    body: Mapped[str] = mapped_column(Text)
    named: Mapped[bool] = mapped_column(default=False)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"), index=True)
    route: Mapped[str | None] = mapped_column(String(200))
    # Public: colleagues may see it (never who wrote it) and upvote it.
    public: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(String(16), default="received", index=True)
    # What the office did about it, shown in "you said, we did".
    outcome: Mapped[str | None] = mapped_column(Text)
    upvotes: Mapped[int] = mapped_column(Integer, default=0)
    # The photo, moved here from the dialog: the platform's file id (valid on that channel) or the bytes.
    photo_channel: Mapped[str | None] = mapped_column(String(16))
    photo_file_id: Mapped[str | None] = mapped_column(String(200))
    photo_content: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    photo_content_type: Mapped[str | None] = mapped_column(String(50))
    # Anonymous suggestions keep the day only (see SurveyResponse).
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class SuggestionMessage(Base):
    """One message of a suggestion's thread: from the office (author named) or from the suggester
    (author set only when the suggestion is named)."""

    __tablename__ = "suggestion_messages"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    suggestion_id: Mapped[int] = mapped_column(ForeignKey("suggestions.id", ondelete="CASCADE"), index=True)
    from_office: Mapped[bool] = mapped_column(default=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class SuggestionVote(Base):
    """One colleague's upvote of a public suggestion; the unique key makes it count once."""

    __tablename__ = "suggestion_votes"
    __table_args__ = (UniqueConstraint("suggestion_id", "person_id"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    suggestion_id: Mapped[int] = mapped_column(ForeignKey("suggestions.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))


class ServiceSecret(Base):
    """Keys Houqin generates for itself on first use when the environment gives none (SURVEY_SECRET)."""

    __tablename__ = "service_secrets"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))


# --- scheduled jobs: reminders and digests ---


class Send(Base):
    """One reminder or digest that went to one person for one period (a day, a week, a ticket's due time).

    Written in the same transaction as its outbox row, so the unique key, not the scheduler, is what
    keeps a restart, a catch-up, a second process or a rerun after a crash from sending it twice.
    """

    __tablename__ = "sends"
    __table_args__ = (UniqueConstraint("kind", "subject", "person_id", "period"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # reminder.overdue, digest, ...
    subject: Mapped[str] = mapped_column(String(64))  # R-2026-000123, approvals, org, dept:finance
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    period: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Sender(Base):
    """A process sending notices on a channel, alive while it keeps touching its row: the channel's
    rate budget (TELEGRAM_SEND_RATE) is shared between the processes sending at the moment."""

    __tablename__ = "senders"
    __table_args__ = (UniqueConstraint("channel", "instance"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    instance: Mapped[str] = mapped_column(String(40))
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)


# What the weekly digest's GROUP BY queries filter on, so it stays fast at 100k+ tickets.
Index("ix_tickets_resolved_at", Ticket.resolved_at)
# Auto-assignment reads a technician's open load and their last assignment: both by index, however long
# their history (issue 17); the first also serves every lookup by assignee.
Index("ix_tickets_assignee_status", Ticket.assignee_id, Ticket.status)
Index("ix_tickets_assignee_assigned_at", Ticket.assignee_id, Ticket.assigned_at)
Index("ix_tickets_closed_at", Ticket.closed_at)
Index("ix_requisition_events_to_status_at", RequisitionEvent.to_status, RequisitionEvent.at)


# --- administration: settings changed from chat, invitations ---


class OrgSetting(Base):
    """An organisation setting changed from chat (/settings): it overrides the environment's value.

    Read through handlers/core/org_settings.py, whose typed getters fall back to the environment."""

    __tablename__ = "org_settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    changed_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)


class Invitation(Base):
    """A code sent to Houqin as /start join_<code> (or typed) from a chat account. With a person
    (/org invite @handle): once, joining the account to that person. Without (/org invite [dept CODE]):
    by anyone until it expires, each account making a new member of the department."""

    __tablename__ = "invitations"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()


class JoinRequest(Base):
    """Someone who is not a member asked to join (the "Request to join" button): the admins and
    logistics admins decide. Kept by account, since the asker has no person until approved."""

    __tablename__ = "join_requests"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(100))
    address: Mapped[str | None] = mapped_column(String(64))
    platform_locale: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # pending, approved or denied; decided once (a conditional UPDATE: two admins, one decision).
    status: Mapped[str] = mapped_column(String(10), default="pending")
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    decided_at: Mapped[datetime | None] = mapped_column()
    # Who the account became on approval.
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))

    __table_args__ = (Index("ix_join_requests_account", "channel", "external_id", "created_at"),)


# --- inspection rounds (巡检) -------------------------------------------------------------------------


class InspectionRoute(Base):
    """A route (行政楼消防巡检): checkpoints walked in order, each with its checklist. Its definition is
    versioned: a re-import makes a new version, and a round keeps the version it started with."""

    __tablename__ = "inspection_routes"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    # The version new rounds take (InspectionRouteVersion.version).
    version: Mapped[int] = mapped_column(Integer, default=1)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class InspectionRouteVersion(Base):
    """One version of a route's checkpoints and checklists, as imported (handlers/inspections/routes.py)."""

    __tablename__ = "inspection_route_versions"
    __table_args__ = (UniqueConstraint("route_id", "version"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    route_id: Mapped[int] = mapped_column(ForeignKey("inspection_routes.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict[str, Any]] = mapped_column()
    created_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class InspectionCheckpoint(Base):
    """A checkpoint's stable identity across versions: what its door code (/start ck_<id>) names."""

    __tablename__ = "inspection_checkpoints"
    __table_args__ = (UniqueConstraint("route_id", "code"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    route_id: Mapped[int] = mapped_column(ForeignKey("inspection_routes.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    room_id: Mapped[int | None] = mapped_column(ForeignKey("rooms.id"))
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))


class InspectionSchedule(Base):
    """When a route is walked: daily (working days), weekly on some weekdays, or monthly on a day;
    by one person or by whoever holds a technician specialty; due by a local time."""

    __tablename__ = "inspection_schedules"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    route_id: Mapped[int] = mapped_column(ForeignKey("inspection_routes.id", ondelete="CASCADE"), index=True)
    every: Mapped[str] = mapped_column(String(10))  # daily, weekly, monthly
    weekdays: Mapped[str | None] = mapped_column(String(20))  # "0,3" (Monday is 0)
    monthday: Mapped[int | None] = mapped_column(Integer)
    due: Mapped[str] = mapped_column(String(5))  # local "HH:MM"
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    specialty: Mapped[str | None] = mapped_column(String(20))
    active: Mapped[bool] = mapped_column(default=True)


class InspectionRound(Base):
    """One walk of a route on a day: due, then started by one inspector (a conditional UPDATE: of two
    starting at once one wins), then done with its number I-2026-000123."""

    __tablename__ = "inspection_rounds"
    __table_args__ = (UniqueConstraint("schedule_id", "day"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    number: Mapped[str | None] = mapped_column(String(20), unique=True)
    route_id: Mapped[int] = mapped_column(ForeignKey("inspection_routes.id", ondelete="CASCADE"), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("inspection_route_versions.id"))
    schedule_id: Mapped[int | None] = mapped_column(ForeignKey("inspection_schedules.id", ondelete="SET NULL"))
    day: Mapped[str] = mapped_column(String(10), index=True)  # local date, ISO
    due_at: Mapped[datetime] = mapped_column(index=True)
    # Who should walk it: a person, or anyone of a technician specialty.
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    specialty: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(12), default="due", index=True)  # due, in_progress, done
    inspector_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class InspectionResult(Base):
    """One checklist item answered on a round (item -1: the inspector scanned the checkpoint's code)."""

    __tablename__ = "inspection_results"
    __table_args__ = (UniqueConstraint("round_id", "checkpoint", "item"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("inspection_rounds.id", ondelete="CASCADE"), index=True)
    checkpoint: Mapped[str] = mapped_column(String(32))
    item: Mapped[int] = mapped_column(Integer)
    # ok, fail, or seen (a scan)
    outcome: Mapped[str] = mapped_column(String(8))
    value: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)
    photo_id: Mapped[int | None] = mapped_column(ForeignKey("photos.id", ondelete="SET NULL"))
    # The repair ticket a failure opened, or the open one it found already there (opened False).
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"), index=True)
    opened_ticket: Mapped[bool] = mapped_column(default=False)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Meter(Base):
    """An electricity, water or gas meter of a building (perhaps of one floor). Its consumption is the
    difference of its readings times its multiplier (a current transformer's ratio: 40 means the dial
    moves one kWh for every 40 used)."""

    __tablename__ = "meters"
    __table_args__ = (CheckConstraint("multiplier > 0", name="multiplier_positive"),)
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)  # E-A-01, upper case
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(16))  # electricity, water, gas
    unit: Mapped[str] = mapped_column(String(8))  # as people type it: kWh, m³
    multiplier: Mapped[int] = mapped_column(Integer, default=1)
    building_id: Mapped[int] = mapped_column(ForeignKey("buildings.id"), index=True)
    floor: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    building: Mapped[Building] = relationship(lazy="joined")


class MeterReading(Base):
    """What a meter's dial showed at a moment, in thousandths of its unit (exact sums on every
    database). `reset` marks a new baseline (the meter was replaced or went round): the reading
    before it is not subtracted from it (handlers/energy/readings.py has the rule)."""

    __tablename__ = "meter_readings"
    __table_args__ = (
        Index("ix_meter_readings_meter_id_read_at", "meter_id", "read_at"),
        CheckConstraint("thousandths >= 0", name="thousandths_not_negative"),
    )
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    meter_id: Mapped[int] = mapped_column(ForeignKey("meters.id", ondelete="CASCADE"))
    thousandths: Mapped[int] = mapped_column(BigInteger)
    read_at: Mapped[datetime] = mapped_column(index=True)
    reset: Mapped[bool] = mapped_column(default=False)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    channel: Mapped[str | None] = mapped_column(String(16))
    # The inspection round it was read on, if any (a reading outlives a round forgotten).
    round_id: Mapped[int | None] = mapped_column(ForeignKey("inspection_rounds.id", ondelete="SET NULL"))


# --- bookings: meeting rooms booked from chat (handlers/bookings/) ---


class BookingResource(Base):
    """Something people book by the half hour: a meeting room (one of the rooms table's), with its
    capacity, its equipment, who may book it and, when it is closed for maintenance, for how long."""

    __tablename__ = "booking_resources"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), default="room")
    room_id: Mapped[int | None] = mapped_column(ForeignKey("rooms.id"), unique=True)
    capacity: Mapped[int] = mapped_column(Integer)
    # Comma-separated words of handlers/bookings/resources.EQUIPMENT: "projector,video".
    equipment: Mapped[str] = mapped_column(String(100), default="")
    # Department codes whose people may book it, comma-separated; empty: everyone.
    departments: Mapped[str] = mapped_column(String(500), default="")
    # A room whose bookings a logistics admin approves first (pending until then, holding the slot).
    needs_approval: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    # A vehicle's plate, its type in words (商务车, minibus) and the handles of who may drive it.
    plate: Mapped[str | None] = mapped_column(String(20), unique=True)
    model: Mapped[str] = mapped_column(String(50), default="")
    drivers: Mapped[str] = mapped_column(String(500), default="")
    closed_from: Mapped[datetime | None] = mapped_column()
    closed_until: Mapped[datetime | None] = mapped_column()

    room: Mapped[Room | None] = relationship(lazy="joined")


class Booking(Base):
    """A resource held from `starts_at` to `ends_at` (会议室预订). Two confirmed bookings of one resource
    never overlap: on PostgreSQL an exclusion constraint says so (migration 0015_bookings), on SQLite
    the one conditional INSERT that makes a booking (handlers/bookings/ledger.py), under the write lock
    every transaction takes at BEGIN."""

    __tablename__ = "bookings"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    # B-2026-000123: the year it was made and the row id.
    number: Mapped[str | None] = mapped_column(String(20), unique=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("booking_resources.id"))
    booker_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime] = mapped_column()
    ends_at: Mapped[datetime] = mapped_column()
    # confirmed, cancelled, or released (nobody checked in).
    status: Mapped[str] = mapped_column(String(12), default="confirmed")
    channel: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    checked_in_at: Mapped[datetime | None] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()
    ended_by: Mapped[int | None] = mapped_column(ForeignKey("people.id"))

    resource: Mapped[BookingResource] = relationship(lazy="joined")
    booker: Mapped[Person] = relationship(lazy="joined", foreign_keys=[booker_id])

    __table_args__ = (
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        Index("ix_bookings_resource_time", "resource_id", "starts_at"),
        Index("ix_bookings_starts_at", "starts_at"),
    )


class Trip(Base):
    """A vehicle asked for (用车申请): where, who and why, from when to when; the department manager
    approves, a logistics admin assigns a vehicle and a driver, the driver finishes it with the
    mileage. An assigned vehicle or driver is never on two trips at once: on PostgreSQL two exclusion
    constraints say so (migration 0015_bookings), on SQLite the conditional UPDATE that assigns."""

    __tablename__ = "trips"
    id: Mapped[int] = mapped_column(Id, primary_key=True)
    # V-2026-000123: the year it was asked for and the row id.
    number: Mapped[str | None] = mapped_column(String(20), unique=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    destination: Mapped[str] = mapped_column(String(200))
    passengers: Mapped[int] = mapped_column(Integer)
    purpose: Mapped[str] = mapped_column(String(500))
    starts_at: Mapped[datetime] = mapped_column(index=True)
    ends_at: Mapped[datetime] = mapped_column()
    # pending_manager, pending_assignment, assigned, finished, rejected, cancelled.
    status: Mapped[str] = mapped_column(String(20), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    approver_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    vehicle_id: Mapped[int | None] = mapped_column(ForeignKey("booking_resources.id"))
    driver_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))
    mileage_km: Mapped[int | None] = mapped_column(Integer)
    closed_at: Mapped[datetime | None] = mapped_column()

    requester: Mapped[Person] = relationship(lazy="joined", foreign_keys=[requester_id])
    department: Mapped[Department | None] = relationship(lazy="joined")
    vehicle: Mapped[BookingResource | None] = relationship(lazy="joined")
    driver: Mapped[Person | None] = relationship(lazy="joined", foreign_keys=[driver_id])

    __table_args__ = (CheckConstraint("ends_at > starts_at", name="ends_after_start"),)
