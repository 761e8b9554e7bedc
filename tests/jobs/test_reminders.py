"""Reminders on a fixed clock: each rule fires when it should, once per period, never in quiet hours
or on days off (it waits for the next working hour instead)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from handlers.reminders import send_reminders
from handlers.rules import RepairRules
from handlers.schedule import Schedule, parse_quiet_hours, parse_working_days
from handlers.sends import Tally
from storage.db import Database
from storage.models import ChannelAccount
from tests.jobs.org import SCHEDULE, SHANGHAI, buttons_sent_to, local, person_id, requisition, sent_to, ticket

RULES = RepairRules()  # resolved tickets close themselves after 72 h
TUESDAY_10 = local(24, 10)


async def remind(db: Database, now: object) -> Tally | str:
    return await send_reminders(db, SCHEDULE, RULES, now)  # type: ignore[arg-type]


async def test_an_overdue_ticket_nudges_its_technician_once_a_working_day(db: Database) -> None:
    number = await ticket(db, created=TUESDAY_10 - timedelta(hours=30), takes=timedelta(hours=24))  # 6 h late
    await ticket(db, created=TUESDAY_10 - timedelta(hours=2), takes=timedelta(hours=72))  # not due yet
    await ticket(db, created=TUESDAY_10 - timedelta(hours=30), status="resolved", resolved=TUESDAY_10)

    first = await remind(db, TUESDAY_10)
    assert isinstance(first, Tally) and first.sent == 1
    assert await sent_to(db, "zhao.lei") == [
        f"⏰ {number} is overdue by 6 h (Electrical, Administration Building 201 Meeting room 1; "
        "it was due 11-24 04:00). Please get it resolved, or say what is holding it up."
    ]
    await remind(db, TUESDAY_10 + timedelta(minutes=15))
    await remind(db, local(24, 17))
    assert len(await sent_to(db, "zhao.lei")) == 1, "the same reminder twice on one day"
    assert await sent_to(db, "lin.hua") == [], "not yet past the escalation grace"

    await remind(db, local(25, 9))  # the next working day: still overdue, so again, and now escalated
    assert len(await sent_to(db, "zhao.lei")) == 2
    [escalation] = await sent_to(db, "lin.hua")  # the technicians' (logistics) manager
    assert escalation.startswith(
        f"⚠️ {number} (Electrical, Administration Building 201 Meeting room 1) is still open 29 h"
    )
    assert escalation.endswith("Technician: 赵磊.")
    await remind(db, local(26, 9))
    assert len(await sent_to(db, "lin.hua")) == 1, "an escalation goes once per ticket"


async def test_an_unassigned_overdue_ticket_escalates_to_the_logistics_admins(db: Database) -> None:
    number = await ticket(db, assignee=None, status="new", created=TUESDAY_10 - timedelta(hours=60))
    await remind(db, TUESDAY_10)
    assert [text.split(" (")[0] for text in await sent_to(db, "lin.hua")] == [f"⚠️ {number}"]


@pytest.mark.parametrize(
    ("when", "why"),
    [
        (local(24, 21, 30), "deferred: quiet hours"),
        (local(25, 7, 59), "deferred: quiet hours"),
        (local(28, 11), "deferred: not a working day"),
        (local(29, 15), "deferred: not a working day"),
    ],
    ids=["evening", "early morning", "saturday", "sunday"],
)
async def test_nothing_goes_out_in_quiet_hours_or_on_days_off_and_it_waits_rather_than_drops(
    db: Database, when: object, why: str
) -> None:
    await ticket(db, created=local(20, 9), takes=timedelta(hours=4))
    await requisition(db, created=local(20, 9))
    assert await remind(db, when) == why
    assert await sent_to(db, "zhao.lei") == [] and await sent_to(db, "huang.li") == []
    await remind(db, local(30, 8))  # Monday 08:00: quiet hours are over
    assert len(await sent_to(db, "zhao.lei")) == 1
    assert len(await sent_to(db, "huang.li")) == 1


async def test_the_organisations_own_calendar_is_followed() -> None:
    weekend_shift = Schedule(SHANGHAI, working_days=parse_working_days("sat-sun"), quiet=parse_quiet_hours("none"))
    assert weekend_shift.may_nudge(local(28, 23)) and not weekend_shift.may_nudge(local(24, 10))
    assert SCHEDULE.is_quiet(local(24, 21)) and not SCHEDULE.is_quiet(local(24, 8))
    day_quiet = Schedule(SHANGHAI, quiet=parse_quiet_hours("12:00-13:30"))
    assert day_quiet.is_quiet(local(24, 13, 29)) and not day_quiet.is_quiet(local(24, 13, 30))


async def test_approvers_hear_once_a_working_day_about_everything_waiting_in_one_message(db: Database) -> None:
    first = await requisition(db, created=local(23, 15))
    second = await requisition(db, requester="li.na", created=local(23, 16))
    await requisition(db, created=TUESDAY_10 - timedelta(hours=1))  # submitted today: its card is fresh
    await requisition(db, requester="zhang.wei", created=local(23, 15), status="approved")
    big = await requisition(db, requester="zhang.wei", created=local(20, 9), status="pending_admin")

    await remind(db, TUESDAY_10)
    [grouped] = await sent_to(db, "huang.li")  # the finance manager
    assert grouped.startswith("📋 2 requisition(s) have been waiting for your approval since before today:")
    assert first in grouped and second in grouped
    assert await buttons_sent_to(db, "huang.li") == [[("Open the approval queue (2)", "jb:queue")]]
    assert await sent_to(db, "xu.ming") == [], "the HR requisition waits for a logistics admin, not its manager"
    [second_step] = await sent_to(db, "lin.hua")
    assert big in second_step
    assert [m[:4] for m in await sent_to(db, "admin")] == ["📋 1 "]

    await remind(db, local(24, 16))
    assert len(await sent_to(db, "huang.li")) == 1
    await remind(db, local(25, 9))
    assert len(await sent_to(db, "huang.li")) == 2, "still waiting the next working day: reminded again"


async def test_a_resolved_ticket_nobody_confirmed_gets_one_nudge_before_it_closes_itself(db: Database) -> None:
    resolved = TUESDAY_10 - timedelta(hours=49)  # closes itself 72 h after: in 23 h
    number = await ticket(db, status="resolved", created=resolved - timedelta(hours=3), resolved=resolved)
    await ticket(db, status="resolved", created=TUESDAY_10 - timedelta(hours=12), resolved=TUESDAY_10)

    await remind(db, TUESDAY_10)
    await remind(db, local(25, 9))
    assert await sent_to(db, "wang.fang") == [
        f"🔧 赵磊 marked {number} as repaired. Is it fixed? Rate it to close it; "
        "otherwise it closes itself at 11-25 09:00."
    ]
    [stars] = await buttons_sent_to(db, "wang.fang")
    assert [payload for _, payload in stars] == [f"tk:{int(number[-6:])}:rate{n}" for n in range(1, 6)]


async def test_nothing_waiting_means_nothing_said(db: Database) -> None:
    await ticket(db, created=TUESDAY_10 - timedelta(hours=1))
    outcome = await remind(db, TUESDAY_10)
    assert str(outcome) == "sent 0, already sent 0"


async def test_someone_who_blocked_the_bot_is_skipped_and_reminded_once_they_can_hear_again(db: Database) -> None:
    await ticket(db, created=TUESDAY_10 - timedelta(hours=30))
    zhao = await person_id(db, "zhao.lei")
    async with db.unit_of_work() as session:
        await session.execute(
            update(ChannelAccount).where(ChannelAccount.person_id == zhao).values(unreachable_since=TUESDAY_10)
        )
    skipped = await remind(db, TUESDAY_10)
    assert isinstance(skipped, Tally) and (skipped.sent, skipped.unreachable) == (0, [zhao])
    async with db.unit_of_work() as session:  # he writes to the bot again (handlers/people.identify)
        await session.execute(
            update(ChannelAccount).where(ChannelAccount.person_id == zhao).values(unreachable_since=None)
        )
    await remind(db, TUESDAY_10 + timedelta(minutes=15))
    assert len(await sent_to(db, "zhao.lei")) == 1
