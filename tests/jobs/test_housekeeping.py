"""Housekeeping on a fixed clock: what is forgotten, and that a day is tidied only once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from bot.areas import AREAS
from handlers.core.conversation import Inbound, Kind, PhotoIn, Sender
from handlers.core.engine import Houqin
from handlers.repairs.intake import AREA
from jobs.runs import last_runs
from jobs.scheduler import HOUSEKEEPING, housekeeping
from storage.db import Database
from storage.models import Attachment, DialogState, OutboxMessage, Person, Photo, ProcessedDelivery, Send
from tests.jobs.org import sends, ticket

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY_9AM = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def count(db: Database, model: type[object]) -> int:
    async with db.unit_of_work() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_old_keys_stray_photos_and_idle_dialogs_are_forgotten_recent_ones_kept(db: Database) -> None:
    clock = Clock(MONDAY_9AM)
    houqin = Houqin(db, [AREA], "zh_CN", SHANGHAI, clock=clock)
    sender = Sender("telegram", "5001", "5001", "褚", "zh")

    async def say(key: str, kind: Kind, **what: object) -> None:
        await houqin.handle(Inbound(sender, kind, key, **what))  # type: ignore[arg-type]

    await say("1", Kind.COMMAND, command="repair")
    async with db.unit_of_work() as session:
        state = await session.scalar(select(DialogState))
        assert state is not None
        # The person walked up to the photo step three weeks ago and never came back.
        state.step, state.data, state.updated_at = "photos", {"_trail": []}, MONDAY_9AM
        session.add(Photo(person_id=state.person_id, channel="telegram", file_id="old", created_at=MONDAY_9AM))

    clock.now = MONDAY_9AM + timedelta(days=20)
    await say("2", Kind.PHOTO, photo=PhotoIn(file_id="recent"))  # a fresh message: keeps its key and photo
    async with db.unit_of_work() as session:
        state = await session.scalar(select(DialogState))
        assert state is not None
        state.updated_at = MONDAY_9AM  # ...but the dialog itself counts as idle for this test
        # An export made five weeks ago and a chart made today.
        for name, made in (("old.csv", clock.now - timedelta(days=35)), ("today.png", clock.now)):
            session.add(
                Attachment(
                    person_id=state.person_id, name=name, content_type="text/csv", size=1, content=b"x", created_at=made
                )
            )

    assert await housekeeping(db, SHANGHAI, clock.now, AREAS)
    assert await count(db, ProcessedDelivery) == 1
    async with db.unit_of_work() as session:
        assert (await session.scalars(select(Photo.file_id))).all() == ["recent"]
        assert (await session.scalars(select(Attachment.name))).all() == ["today.png"]
        state = await session.scalar(select(DialogState))
        assert state is not None and state.flow is None and state.step is None


async def test_a_day_is_tidied_once_however_many_times_it_is_tried(db: Database) -> None:
    first = await housekeeping(db, SHANGHAI, MONDAY_9AM)
    again = await housekeeping(db, SHANGHAI, MONDAY_9AM + timedelta(hours=3))
    next_day = await housekeeping(db, SHANGHAI, MONDAY_9AM + timedelta(hours=16))  # 01:00 Tuesday in Shanghai
    assert (first, again, next_day) == (True, False, True)
    runs = await last_runs(db, HOUSEKEEPING)
    assert [r.period for r in runs] == ["2026-11-24", "2026-11-23"]
    assert runs[0].outcome == (
        "0 delivery keys, 0 unsubmitted photos, 0 idle dialogs, 0 old files, 0 old sends, 0 old notices"
    )


async def test_the_send_log_forgets_old_periods_but_not_an_escalation_of_a_ticket_still_open(db: Database) -> None:
    long_ago = MONDAY_9AM - timedelta(days=120)
    still_overdue = await ticket(db, created=long_ago)
    fixed_since = await ticket(db, created=long_ago, status="closed", closed=long_ago + timedelta(days=3))
    async with db.unit_of_work() as session:
        manager = await session.scalar(select(Person.id).where(Person.demo_key == "huang.li"))
        assert manager is not None
        for kind, subject, period, at in (
            ("digest", "org", "2026-W30", long_ago),
            ("reminder.escalate", still_overdue, "once", long_ago + timedelta(days=2)),
            ("reminder.escalate", fixed_since, "once", long_ago + timedelta(days=2)),
            ("digest", "org", "2026-W47", MONDAY_9AM - timedelta(days=7)),
        ):
            session.add(Send(kind=kind, subject=subject, person_id=manager, period=period, at=at))

    assert await housekeeping(db, SHANGHAI, MONDAY_9AM, AREAS)
    kept = [(kind, subject, period) for kind, subject, _, period in await sends(db)]
    assert sorted(kept) == [("digest", "org", "2026-W47"), ("reminder.escalate", still_overdue, "once")]
    [run] = await last_runs(db, HOUSEKEEPING)
    assert run.outcome is not None and run.outcome.endswith("2 old sends, 0 old notices")


async def test_notices_are_forgotten_once_sent_a_while_and_a_reply_to_an_anonymous_suggester_even_unsent(
    db: Database,
) -> None:
    """A notice is needed until it is sent; one to an anonymous suggester names them, so it is not
    kept waiting for days for someone who cannot be reached."""
    day = timedelta(days=1)
    async with db.unit_of_work() as session:
        someone = await session.scalar(select(Person.id).where(Person.demo_key == "wang.fang"))
        assert someone is not None
        for note, created, sent, attempts, discreet in (
            ("sent last month", MONDAY_9AM - 40 * day, MONDAY_9AM - 40 * day, 1, False),
            ("sent last week", MONDAY_9AM - 7 * day, MONDAY_9AM - 7 * day, 1, False),
            ("given up last month", MONDAY_9AM - 40 * day, None, 8, False),
            ("still tried", MONDAY_9AM - 40 * day, None, 2, False),
            ("anonymous, unsent for days", MONDAY_9AM - 4 * day, None, 3, True),
            ("anonymous, queued today", MONDAY_9AM - day / 3, None, 0, True),
        ):
            body = {"text": note, "buttons": [], **({"discreet": True} if discreet else {})}
            session.add(
                OutboxMessage(
                    person_id=someone,
                    channel="web",
                    address="wang.fang",
                    body=body,
                    created_at=created,
                    sent_at=sent,
                    attempts=attempts,
                )
            )

    assert await housekeeping(db, SHANGHAI, MONDAY_9AM, AREAS)
    async with db.unit_of_work() as session:
        kept = sorted(str(body["text"]) for body in (await session.scalars(select(OutboxMessage.body))).all())
    assert kept == ["anonymous, queued today", "sent last week", "still tried"]
    [run] = await last_runs(db, HOUSEKEEPING)
    assert run.outcome is not None and run.outcome.endswith("3 old notices")
