"""Messages to people other than the sender: queued with their cause, sent by the channel.

A use case calls ``notify`` inside its unit of work, so the message exists exactly when the change
that caused it does. Each channel drains its rows: claim a batch (a short transaction), send them
with no lock held, then mark them sent. A sender that dies mid-batch leaves claims that expire, and
the rows are sent again (at least once; a card update sent twice just edits the same message).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import undefer

from handlers.core import org_settings
from handlers.core.conversation import Button, FileOut, Reply
from handlers.core.discreet import day_of
from handlers.core.files import load
from handlers.core.i18n import Renderable, freeze, pick_locale, thaw
from handlers.core.metrics import NOTICES, Reading
from storage.db import Database, log_failure
from storage.models import Attachment, CardRef, ChannelAccount, OutboxMessage, Person, Photo

log = logging.getLogger(__name__)
CLAIM_FOR = timedelta(minutes=2)
GIVE_UP_AFTER = 8


@dataclass(frozen=True)
class Notice:
    person_id: int
    text: Renderable
    buttons: tuple[tuple[tuple[Renderable, str], ...], ...] = ()
    # Notices sharing a card key update one message (a ticket card) instead of adding another.
    card_key: str | None = None
    # Photos to show with it (a ticket's photos on the technician's card), by Photo id.
    photos: tuple[int, ...] = ()
    # Files sent after it (a digest's chart), kept with handlers/core/files.keep for this person.
    files: tuple[FileOut, ...] = ()
    # Neither it nor when it was written may outlive its sending (a reply to an anonymous suggester:
    # the row names them, and the office's reply has the same moment). Kept with the day only, and
    # deleted once sent (handlers/core/discreet.py).
    discreet: bool = False
    # Not sent before then (a manager's low-rating notice waits a little for the reporter's comment).
    not_before: datetime | None = None


def due_by(now: datetime) -> ColumnElement[bool]:
    """An outbox row that may go out at `now`: not held back (Notice.not_before) past it."""
    return or_(OutboxMessage.not_before.is_(None), OutboxMessage.not_before <= now)


# Where a person hears us: the two columns of the account they used last, built once (issue 17).
REACHABLE_AT = (
    select(ChannelAccount.channel, ChannelAccount.address)
    .join(Person, Person.id == ChannelAccount.person_id)
    .where(
        ChannelAccount.person_id == bindparam("person_id"),
        ChannelAccount.unreachable_since.is_(None),
        Person.left_at.is_(None),
    )
    .order_by(ChannelAccount.last_seen_at.desc().nulls_last(), ChannelAccount.id)
    .limit(1)
)


async def notify(session: AsyncSession, notice: Notice, now: datetime) -> bool:
    """Queue a notice for the account the person used last; False when they cannot be reached."""
    # Someone who left hears nothing more (handlers/core/membership.py): no card, reminder or broadcast.
    # The two columns, not the account: loading it would load its person and their roles too, on
    # every notice (issue 17).
    account = (await session.execute(REACHABLE_AT, {"person_id": notice.person_id})).first()
    if account is None or account.address is None:
        # Not for a discreet one: the line and its time would name the anonymous suggester.
        if not notice.discreet:
            log.info("person %s has no reachable account; notice %s dropped", notice.person_id, notice.card_key)
        return False
    session.add(
        OutboxMessage(
            person_id=notice.person_id,
            channel=account.channel,
            address=account.address,
            card_key=notice.card_key,
            body=body_of(notice),
            created_at=day_of(now) if notice.discreet else now,
            not_before=notice.not_before,
        )
    )
    return True


def body_of(notice: Notice) -> dict[str, Any]:
    """What an outbox row keeps of a notice: catalog keys and parameters, not text."""
    return {
        "text": freeze(notice.text),
        "buttons": [[{"label": freeze(label), "payload": payload} for label, payload in row] for row in notice.buttons],
        "photos": list(notice.photos),
        "files": [f.to_record() for f in notice.files],
        **({"discreet": True} if notice.discreet else {}),
    }


async def notify_many(session: AsyncSession, notices: Sequence[Notice], now: datetime, chunk: int = 500) -> int:
    """`notify` for many people at once (a survey's invitations to a whole organisation): the same
    rows, the account each person used last, but one query per chunk and one bulk insert instead of
    two round trips a person. Returns how many were queued."""
    queued = 0
    for start in range(0, len(notices), chunk):
        part = notices[start : start + chunk]
        accounts = (
            await session.execute(
                select(ChannelAccount.person_id, ChannelAccount.channel, ChannelAccount.address)
                .join(Person, Person.id == ChannelAccount.person_id)
                .where(
                    ChannelAccount.person_id.in_({n.person_id for n in part}),
                    ChannelAccount.unreachable_since.is_(None),
                    Person.left_at.is_(None),
                )
                .order_by(ChannelAccount.last_seen_at.desc().nulls_last(), ChannelAccount.id)
            )
        ).all()
        last_used: dict[int, tuple[str, str | None]] = {}
        for person_id, channel, address in accounts:
            last_used.setdefault(person_id, (channel, address))
        rows = [
            {
                "person_id": notice.person_id,
                "channel": last_used[notice.person_id][0],
                "address": last_used[notice.person_id][1],
                "card_key": notice.card_key,
                "body": body_of(notice),
                "created_at": now,
            }
            for notice in part
            if last_used.get(notice.person_id, ("", None))[1] is not None
        ]
        if rows:
            await session.execute(insert(OutboxMessage), rows)
        queued += len(rows)
    return queued


@dataclass(frozen=True)
class Pending:
    """An outbox row ready to send: rendered in its recipient's language, with the card it replaces."""

    id: int
    address: str
    reply: Reply
    card_key: str | None
    card_ref: str | None
    photos: tuple[int, ...] = ()
    discreet: bool = False
    # The language it was rendered in, for a channel's own words around it.
    locale: str = ""


def render_body(body: dict[str, Any], locale: str) -> Reply:
    text = thaw(body["text"]).render(locale)
    rows = tuple(
        tuple(Button(thaw(button["label"]).render(locale), button["payload"]) for button in row)
        for row in body.get("buttons", [])
    )
    return Reply(text, rows, tuple(FileOut.from_record(f) for f in body.get("files", [])))


class Outbox:
    def __init__(self, db: Database, default_locale: str, clock: Callable[[], datetime]) -> None:
        self.db, self.default_locale, self.clock = db, default_locale, clock

    async def claim(self, channel: str, limit: int = 20) -> list[Pending]:
        """Take a batch of unsent rows for a sender process; nobody else takes them until the claim expires.

        Of a card's unsent versions for one chat only the newest is taken (older ones are superseded
        and never sent), and none while another version of it is in flight: a card sent late must
        not overwrite the truth with an older state.
        """
        now, token = self.clock(), secrets.token_hex(8)
        async with self.db.unit_of_work(brief=True) as session:
            free = or_(OutboxMessage.claimed_until.is_(None), OutboxMessage.claimed_until < now)
            # A row held back until later (not_before) still counts as its card's newest version, so an
            # older one due now is superseded rather than sent after it.
            due = due_by(now)
            unsent = (
                await session.execute(
                    select(
                        OutboxMessage.id,
                        OutboxMessage.card_key,
                        OutboxMessage.address,
                        free.label("free"),
                        due.label("due"),
                    )
                    .where(OutboxMessage.channel == channel, OutboxMessage.sent_at.is_(None))
                    .where(OutboxMessage.attempts < GIVE_UP_AFTER)
                    .order_by(OutboxMessage.id)
                    .limit(limit * 5)
                )
            ).all()
            newest: dict[tuple[str, str], int] = {}
            in_flight: set[tuple[str, str]] = set()
            for row in unsent:
                if row.card_key is not None:
                    newest[(row.card_key, row.address)] = row.id
                    if not row.free:
                        in_flight.add((row.card_key, row.address))
            superseded = [
                row.id
                for row in unsent
                if row.card_key is not None and row.free and newest[(row.card_key, row.address)] != row.id
            ]
            if superseded:
                await session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id.in_(superseded), OutboxMessage.sent_at.is_(None), free)
                    .values(sent_at=now, error="superseded")
                    .execution_options(synchronize_session=False)
                )
            ids = [
                row.id
                for row in unsent
                if row.free
                and row.due
                and row.id not in superseded
                and (row.card_key is None or (row.card_key, row.address) not in in_flight)
            ][:limit]
            if not ids:
                return []
            # Conditional on still being free: of two senders racing for a row, one claim wins.
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(ids), OutboxMessage.sent_at.is_(None), free)
                .values(claim=token, claimed_until=now + CLAIM_FOR, attempts=OutboxMessage.attempts + 1)
                .execution_options(synchronize_session=False)
            )
            return await self._load(session, OutboxMessage.claim == token)

    async def waiting_for(self, channel: str, address: str, limit: int = 50) -> list[Pending]:
        """Everything not yet acknowledged for one address, for a reader that fetches (the browser):
        handed out again until acknowledged, so a lost response loses nothing."""
        async with self.db.unit_of_work(brief=True) as session:
            mine = (OutboxMessage.channel == channel) & (OutboxMessage.address == address)
            due = due_by(self.clock())
            return (await self._load(session, mine & OutboxMessage.sent_at.is_(None) & due))[:limit]

    async def acknowledge(self, channel: str, address: str, ids: Sequence[int]) -> None:
        """The reader has these: mark them sent (only its own; discreet ones are deleted), remembering
        where cards now live."""
        if not ids:
            return
        async with self.db.unit_of_work(brief=True) as session:
            rows = (
                await session.scalars(
                    select(OutboxMessage).where(
                        OutboxMessage.id.in_(ids),
                        OutboxMessage.channel == channel,
                        OutboxMessage.address == address,
                        OutboxMessage.sent_at.is_(None),
                    )
                )
            ).all()
            for row in rows:
                if row.body.get("discreet"):
                    await session.delete(row)
                    continue
                # Stamped with its own time, not the reading's: when someone's page was open is
                # nobody's record (it would place them beside what they did meanwhile, anonymously).
                row.sent_at = row.created_at
                if row.card_key:
                    await self._remember_card(session, row.card_key, channel, address, row.card_key)

    async def _load(self, session: AsyncSession, which: Any) -> list[Pending]:
        rows = (
            await session.execute(
                select(OutboxMessage, Person.locale, ChannelAccount.platform_locale, CardRef.message_ref)
                # An answer to someone with no person (a join request denied) says its language itself.
                .outerjoin(Person, Person.id == OutboxMessage.person_id)
                .outerjoin(
                    ChannelAccount,
                    (ChannelAccount.channel == OutboxMessage.channel)
                    & (ChannelAccount.address == OutboxMessage.address)
                    & (ChannelAccount.person_id == OutboxMessage.person_id),
                )
                .outerjoin(
                    CardRef,
                    (CardRef.card_key == OutboxMessage.card_key)
                    & (CardRef.channel == OutboxMessage.channel)
                    & (CardRef.address == OutboxMessage.address),
                )
                .where(which)
                .order_by(OutboxMessage.id)
            )
        ).all()
        # The organisation's default language may have been changed from chat (/settings).
        default = await org_settings.default_locale(session, self.default_locale) if rows else self.default_locale
        pending = []
        for message, chosen, hint, ref in rows:
            locale = pick_locale(chosen, hint or message.body.get("locale"), default)
            pending.append(
                Pending(
                    message.id,
                    message.address,
                    render_body(message.body, locale),
                    message.card_key,
                    ref,
                    tuple(message.body.get("photos", ())),
                    bool(message.body.get("discreet")),
                    locale,
                )
            )
        return pending

    async def _remember_card(self, session: AsyncSession, key: str, channel: str, address: str, ref: str) -> None:
        where = (CardRef.card_key == key) & (CardRef.channel == channel) & (CardRef.address == address)
        changed = await session.execute(
            update(CardRef).where(where).values(message_ref=ref).execution_options(synchronize_session=False)
        )
        if changed.rowcount:  # type: ignore[attr-defined]
            return
        try:
            # Two processes may remember the same card at once: whoever inserts second just updates.
            async with session.begin_nested():
                session.add(CardRef(card_key=key, channel=channel, address=address, message_ref=ref))
        except IntegrityError:
            await session.execute(
                update(CardRef).where(where).values(message_ref=ref).execution_options(synchronize_session=False)
            )

    async def sent(self, pending: Pending, channel: str, message_ref: str | None) -> None:
        async with self.db.unit_of_work(brief=True) as session:
            if pending.discreet:
                # Sent: forgotten, with who it was for and when (handlers/core/discreet.py).
                await session.execute(delete(OutboxMessage).where(OutboxMessage.id == pending.id))
                return
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == pending.id)
                .values(sent_at=self.clock(), claim=None, error=None)
                .execution_options(synchronize_session=False)
            )
            if pending.card_key and message_ref and message_ref != pending.card_ref:
                await self._remember_card(session, pending.card_key, channel, pending.address, message_ref)

    async def failed(self, pending: Pending, error: str, retry_in: timedelta, *, tried: bool = True) -> None:
        """Leave it for a later try (after `retry_in`), noting why. Not `tried`: it was never sent
        (held back by the channel's own pacing), so the claim's attempt does not count."""
        values: dict[str, Any] = {"claim": None, "claimed_until": self.clock() + retry_in, "error": error[:200]}
        if not tried:
            values["attempts"] = OutboxMessage.attempts - 1
        async with self.db.unit_of_work(brief=True) as session:
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == pending.id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )

    async def file(self, file_id: int) -> Attachment | None:
        """A file to send with a reply or notice, bytes included."""
        async with self.db.unit_of_work() as session:
            return await load(session, file_id)

    async def photo(self, photo_id: int) -> Photo | None:
        """A photo to send with a notice, bytes included."""
        async with self.db.unit_of_work() as session:
            return await session.scalar(select(Photo).where(Photo.id == photo_id).options(undefer(Photo.content)))

    async def unreachable(self, channel: str, address: str) -> None:
        """The platform says this account cannot be reached: stop queueing for it."""
        async with self.db.unit_of_work() as session:
            await session.execute(
                update(ChannelAccount)
                .where(ChannelAccount.channel == channel, ChannelAccount.address == address)
                .values(unreachable_since=self.clock())
                .execution_options(synchronize_session=False)
            )
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.channel == channel, OutboxMessage.address == address)
                .where(OutboxMessage.sent_at.is_(None))
                .values(error="unreachable", attempts=GIVE_UP_AFTER, claim=None)
                .execution_options(synchronize_session=False)
            )


Send = Callable[[Pending], Awaitable[str | None]]


async def drain(
    outbox: Outbox, channel: str, send: Send, batch: Sequence[Pending] | None = None, limit: int = 20
) -> int:
    """Send one claimed batch through `send`; returns how many went out.

    Each address's messages go in order, different addresses at the same time: one that has to wait
    (a chat told to slow down) holds up only itself.
    """
    pending = list(batch) if batch is not None else await outbox.claim(channel, limit)
    by_address: dict[str, list[Pending]] = {}
    for item in pending:
        by_address.setdefault(item.address, []).append(item)
    sent = await asyncio.gather(*(_send_in_order(outbox, channel, send, items) for items in by_address.values()))
    return sum(sent)


async def _send_in_order(outbox: Outbox, channel: str, send: Send, pending: list[Pending]) -> int:
    done = 0
    for item in pending:
        try:
            ref = await send(item)
            await outbox.sent(item, channel, ref)
        except Unreachable:
            NOTICES.labels(channel, "unreachable").inc()
            await outbox.unreachable(channel, item.address)
            continue
        except RetryLater as later:
            NOTICES.labels(channel, "retry_later" if later.tried else "held").inc()
            await outbox.failed(item, str(later), later.after, tried=later.tried)
            continue
        except Exception as exc:
            NOTICES.labels(channel, "failed").inc()
            log.exception("sending outbox message %s failed", item.id)
            await outbox.failed(item, f"{type(exc).__name__}: {exc}", timedelta(seconds=30))
            continue
        NOTICES.labels(channel, "sent").inc()
        done += 1
    return done


async def keep_draining(
    step: Callable[[], Awaitable[int]],
    wake: asyncio.Event,
    what: str,
    poll: float,
    stopping: asyncio.Event | None = None,
) -> None:
    """A channel's sender: run `step` (send or hand out a batch; how many rows it took) until
    `stopping` is set; when it took nothing, wait until woken (something was queued here) or `poll`
    seconds pass (something may have been queued by another process)."""
    while stopping is None or not stopping.is_set():
        try:
            took = await step()
        except Exception as exc:
            log_failure(log, exc, what)
            took = 0
        if not took:
            wake.clear()
            if stopping is not None and stopping.is_set():
                break  # set while the step ran: its wake-up was just cleared with the rest
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation that
            # arrives as the event is set, and stop() would then wait forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(poll):
                    await wake.wait()


# How long a stopping channel lets the notice in hand go out (its send and its "sent" mark) before
# cutting it off; within the 10 s a service manager allows for the whole stop.
STOP_GRACE_SECONDS = 4.0


async def finish(task: asyncio.Task[Any] | None, stopping: asyncio.Event, wake: asyncio.Event) -> None:
    """Stop a sender after the batch in hand: it takes no new one, and the one being sent is let
    finish (within STOP_GRACE_SECONDS), so nothing it sent goes out again after a restart."""
    if task is None or task.done():
        return
    stopping.set()
    wake.set()
    done, _ = await asyncio.wait({task}, timeout=STOP_GRACE_SECONDS)
    if not done:
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


# What /metrics reads of the outbox (handlers/core/metrics.py): how much waits, and for how long.
async def waiting(session: AsyncSession, now: datetime) -> list[Reading]:
    unsent = OutboxMessage.sent_at.is_(None) & (OutboxMessage.attempts < GIVE_UP_AFTER)
    rows = await session.execute(
        select(OutboxMessage.channel, func.count(), func.min(OutboxMessage.created_at))
        .where(unsent)
        .group_by(OutboxMessage.channel)
    )
    readings: list[Reading] = []
    for channel, count, oldest in rows:
        labels = {"channel": channel}
        readings.append(Reading("houqin_outbox_pending", "Notices waiting to be sent, by channel", count, labels))
        age = (now - oldest.replace(tzinfo=now.tzinfo)).total_seconds() if oldest is not None else 0.0
        readings.append(
            Reading("houqin_outbox_oldest_seconds", "Age of the oldest notice waiting", max(0.0, age), labels)
        )
    return readings


class Unreachable(Exception):
    """The recipient blocked the bot or left: no point trying again."""


class RetryLater(Exception):
    """Not now: try again after `after`. `tried=False` when nothing was sent (the channel's own pace
    held it back), so waiting costs none of the row's attempts."""

    def __init__(self, reason: str, after: timedelta, *, tried: bool = True) -> None:
        super().__init__(reason)
        self.after = after
        self.tried = tried
