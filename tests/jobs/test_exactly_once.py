"""Exactly once: two schedulers on one database, a restart after a missed run, a crash halfway through
a fan-out. Each recipient gets each period's digest and each reminder once."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from bot.areas import AREAS
from handlers.core import sends
from handlers.core.rules import RepairRules
from handlers.digest.send import DIGEST
from jobs.runs import last_runs
from jobs.scheduler import REMINDERS, Jobs
from storage.db import Database
from storage.models import JobRun, OutboxMessage
from tests.jobs.org import SCHEDULE, Clock, local, requisition, ticket

DUE = local(23, 8)  # Monday 08:00
DIGEST_RECIPIENTS = 7  # five department managers; the logistics admin and the admin for the organisation


@pytest.fixture
async def processes(db: Database) -> AsyncIterator[Callable[..., Jobs]]:
    """Jobs as separate Houqin processes would run them: each with its own connection pool and clock."""
    opened: list[Database] = []

    def start(clock: Clock) -> Jobs:
        database = Database(db.url)
        opened.append(database)
        return Jobs(database, SCHEDULE, RepairRules(), areas=AREAS, clock=clock)

    yield start
    for database in opened:
        await database.dispose()


async def digests_per_person(db: Database) -> Counter[int]:
    async with db.unit_of_work() as session:
        rows = await session.scalars(select(OutboxMessage))
        digests = [row for row in rows.all() if row.body["text"]["lines"][0]["msg"] == "digest.title"]
        return Counter(row.person_id for row in digests if row.person_id is not None)


async def runs(db: Database, job: str) -> list[tuple[str, str | None]]:
    return [(run.period, run.outcome) for run in await last_runs(db, job)]


async def test_two_schedulers_on_one_database_send_each_digest_once(
    db: Database, processes: Callable[..., Jobs]
) -> None:
    clock = Clock(DUE + timedelta(seconds=2))
    first, second = processes(clock), processes(clock)
    await asyncio.gather(first.fire(first.job(DIGEST)), second.fire(second.job(DIGEST)))
    per_person = await digests_per_person(db)
    assert sum(per_person.values()) == DIGEST_RECIPIENTS and len(per_person) == DIGEST_RECIPIENTS - 1
    [(period, _)] = await runs(db, DIGEST)  # whichever process finished first recorded it
    assert period == "2026-W48"


async def test_two_schedulers_send_each_reminder_once(db: Database, processes: Callable[..., Jobs]) -> None:
    for hours_late in range(1, 6):
        await ticket(db, created=local(24, 10) - timedelta(hours=24 + hours_late))
    await requisition(db, created=local(23, 9))
    clock = Clock(local(24, 10))
    first, second = processes(clock), processes(clock)
    await asyncio.gather(first.fire(first.job(REMINDERS)), second.fire(second.job(REMINDERS)))
    async with db.unit_of_work() as session:
        queued = await session.scalar(select(func.count()).select_from(OutboxMessage))
    assert queued == 5 + 1  # five tickets to 赵磊, one grouped approval reminder to 黄丽


async def test_a_missed_digest_is_caught_up_on_start_once_and_an_older_one_is_skipped_and_logged(
    db: Database, processes: Callable[..., Jobs], caplog: pytest.LogCaptureFixture
) -> None:
    # Down from Sunday until Monday 19:59: the 08:00 digest is 11 h 59 late, inside CATCH_UP_HOURS (12).
    started = processes(Clock(local(23, 19, 59)))
    await started.catch_up()
    assert sum((await digests_per_person(db)).values()) == DIGEST_RECIPIENTS
    restarted = processes(Clock(local(23, 20, 30)))
    await restarted.catch_up()
    assert sum((await digests_per_person(db)).values()) == DIGEST_RECIPIENTS, "a second start sends nothing again"

    # The next Monday the service is down until 20:01: 12 h 01 late, too late to be news. Skipped.
    late = processes(Clock(local(30, 20, 1)))
    await late.catch_up()
    assert sum((await digests_per_person(db)).values()) == DIGEST_RECIPIENTS
    assert (await runs(db, DIGEST))[0] == ("2026-W49", "skipped: missed by 12.0 h, beyond the catch-up window")
    assert "weekly_digest for 2026-W49 skipped: missed by 12.0 h" in caplog.text


async def test_a_new_database_has_missed_nothing_and_says_so_plainly(
    db: Database, processes: Callable[..., Jobs], caplog: pytest.LogCaptureFixture
) -> None:
    # Installed on Wednesday evening: Monday's digest came 2½ days before this database first ran it.
    first_start = processes(Clock(local(25, 20, 12)))
    await first_start.catch_up()
    assert await digests_per_person(db) == {}
    assert (await runs(db, DIGEST))[0] == ("2026-W48", "not run: its last time came before this database first ran it")
    assert "missed by" not in caplog.text and not [r for r in caplog.records if r.levelname == "WARNING"]
    assert ": False" not in caplog.text

    # Once it has run, a period missed beyond the catch-up window is a real miss again, and said so.
    await processes(Clock(local(30, 8, 1))).catch_up()
    assert sum((await digests_per_person(db)).values()) == DIGEST_RECIPIENTS
    await processes(Clock(local(7, 20, 1, month=12))).catch_up()
    assert (await runs(db, DIGEST))[0][1] == "skipped: missed by 12.0 h, beyond the catch-up window"


class Crash(BaseException):
    """The process dying mid-way (not an error a job would catch and go on from)."""


async def test_a_crash_halfway_through_the_fan_out_resumes_with_those_not_yet_served(
    db: Database, processes: Callable[..., Jobs], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_notify = sends.notify  # type: ignore[attr-defined]
    calls = 0

    async def dies_after_three(*args: Any, **kwargs: Any) -> bool:
        nonlocal calls
        calls += 1
        if calls > 3:
            raise Crash
        return await real_notify(*args, **kwargs)

    monkeypatch.setattr(sends, "notify", dies_after_three)
    clock = Clock(DUE + timedelta(minutes=1))
    with pytest.raises(Crash):
        await processes(clock).fire(processes(clock).job(DIGEST))
    assert sum((await digests_per_person(db)).values()) == 3
    async with db.unit_of_work() as session:
        assert await session.scalar(select(func.count()).select_from(JobRun).where(JobRun.job == DIGEST)) == 0

    monkeypatch.setattr(sends, "notify", real_notify)
    clock.now = DUE + timedelta(minutes=5)  # restarted: the catch-up finishes the fan-out
    await processes(clock).catch_up()
    per_person = await digests_per_person(db)
    assert sum(per_person.values()) == DIGEST_RECIPIENTS and max(per_person.values()) == 2  # 林华: two scopes
    assert (await runs(db, DIGEST))[0] == ("2026-W48", "sent 4, already sent 3")


async def test_one_recipient_failing_never_stops_the_rest(
    db: Database, processes: Callable[..., Jobs], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_notify = sends.notify  # type: ignore[attr-defined]
    calls = 0

    async def second_one_breaks(*args: Any, **kwargs: Any) -> bool:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("this person's notice could not be built")
        return await real_notify(*args, **kwargs)

    monkeypatch.setattr(sends, "notify", second_one_breaks)
    jobs = processes(Clock(DUE))
    assert str(await jobs.fire(jobs.job(DIGEST))) == "sent 6, already sent 0, failed 1"
    assert sum((await digests_per_person(db)).values()) == DIGEST_RECIPIENTS - 1
    assert await runs(db, DIGEST) == [], "not done while someone is left: the next start tries them again"
    await processes(Clock(DUE + timedelta(hours=2))).catch_up()
    assert sum((await digests_per_person(db)).values()) == DIGEST_RECIPIENTS
    assert await runs(db, DIGEST) == [("2026-W48", "sent 1, already sent 6")]
