"""Reminders on a fixed clock: each rule fires when it should, once per period, never in quiet hours
or on days off (it waits for the next working hour instead)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import update

from bot.areas import AREAS
from handlers.core.reminders import send_reminders
from handlers.core.rules import RepairRules
from handlers.core.schedule import Schedule, parse_quiet_hours, parse_working_days
from handlers.core.sends import Tally
from storage.db import Database
from storage.models import ChannelAccount, Survey, SurveyInvitation, SurveyResponse
from tests.jobs.org import SCHEDULE, SHANGHAI, buttons_sent_to, local, person_id, requisition, sends, sent_to, ticket

RULES = RepairRules()  # resolved tickets close themselves after 72 h
# Every area's reminder rules, as the reminders job runs them.
NUDGES = [rule for area in AREAS for rule in area.reminders]
TUESDAY_10 = local(24, 10)


async def remind(db: Database, now: object) -> Tally | str:
    return await send_reminders(db, SCHEDULE, RULES, now, NUDGES)  # type: ignore[arg-type]


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
    assert grouped.startswith("📋 2 requisitions have been waiting for your approval since before today:")
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
    async with db.unit_of_work() as session:  # he writes to the bot again (handlers/core/people.identify)
        await session.execute(
            update(ChannelAccount).where(ChannelAccount.person_id == zhao).values(unreachable_since=None)
        )
    await remind(db, TUESDAY_10 + timedelta(minutes=15))
    assert len(await sent_to(db, "zhao.lei")) == 1


async def a_survey(db: Database, *, anonymous: bool, closes: datetime, answered_by: str | None = None) -> int:
    """An open survey to three finance people (王芳, 李娜, 黄丽), opened a week before it closes."""
    invited = [await person_id(db, key) for key in ("wang.fang", "li.na", "huang.li")]
    who = await person_id(db, answered_by) if answered_by and not anonymous else None
    async with db.unit_of_work() as session:
        survey = Survey(
            title_zh="后勤满意度",
            title_en="Logistics satisfaction",
            anonymous=anonymous,
            status="open",
            audience={"kind": "departments", "codes": ["finance"]},
            opens_at=closes - timedelta(days=7),
            closes_at=closes,
            token_key="k" * 64,
        )
        session.add(survey)
        await session.flush()
        session.add_all(SurveyInvitation(survey_id=survey.id, person_id=pid) for pid in invited)
        if answered_by is not None:
            session.add(SurveyResponse(survey_id=survey.id, token="t" * 64, person_id=who, answered_on=closes.date()))
        return survey.id


async def test_an_unanswered_survey_gets_one_nudge_in_its_last_day(db: Database) -> None:
    survey = await a_survey(db, anonymous=False, closes=local(25, 18), answered_by="li.na")
    await remind(db, local(24, 10))  # 32 h before it closes: not yet
    assert await sent_to(db, "wang.fang") == []
    await remind(db, local(25, 9))
    await remind(db, local(25, 14))
    assert await sent_to(db, "wang.fang") == [
        "📝 The survey “Logistics satisfaction” closes at 11-25 18:00 and we have not had your answers yet. "
        "It takes a few minutes."
    ]
    assert await buttons_sent_to(db, "wang.fang") == [[("📝 Answer the survey", f"sv:{survey}:answer")]]
    assert len(await sent_to(db, "huang.li")) == 1
    assert await sent_to(db, "li.na") == [], "she has answered"


async def test_an_anonymous_surveys_nudge_goes_to_everyone_invited_so_it_tells_nothing(db: Database) -> None:
    await a_survey(db, anonymous=True, closes=local(25, 18), answered_by="li.na")
    await remind(db, local(25, 9))
    for key in ("wang.fang", "li.na", "huang.li"):
        [nudge] = await sent_to(db, key)
        assert nudge.startswith(
            "📝 The anonymous survey “Logistics satisfaction” closes at 11-25 18:00. If you have not"
        )
    assert [(kind, subject) for kind, subject, *_ in await sends(db, "reminder.survey")] == [
        ("reminder.survey", "survey:1")
    ] * 3


async def test_a_survey_closing_first_thing_monday_is_nudged_on_friday(db: Database) -> None:
    """Its last day is a Sunday and a quiet night: the nudge comes in the last working hours instead."""
    await a_survey(db, anonymous=False, closes=local(30, 8), answered_by="li.na")  # Monday 08:00
    await remind(db, local(26, 15))  # Thursday: more than a working day to go
    assert await sent_to(db, "wang.fang") == []
    await remind(db, local(27, 10))  # Friday
    assert await sent_to(db, "wang.fang") == [
        "📝 The survey “Logistics satisfaction” closes at 11-30 08:00 and we have not had your answers yet. "
        "It takes a few minutes."
    ]
    await remind(db, local(27, 16))
    assert len(await sent_to(db, "wang.fang")) == 1, "once"


async def test_a_ticket_that_would_close_itself_on_sunday_is_nudged_on_friday(db: Database) -> None:
    resolved = local(26, 20)  # Thursday evening: closes itself Sunday 20:00, 72 h later
    number = await ticket(db, status="resolved", created=resolved - timedelta(hours=5), resolved=resolved)
    await remind(db, local(27, 9))  # Friday: the working day before its last day
    [nudge] = await sent_to(db, "wang.fang")
    assert nudge.startswith(f"🔧 赵磊 marked {number} as repaired.") and nudge.endswith("at 11-29 20:00.")


def test_the_nudge_before_a_deadline_comes_in_the_last_working_hours_before_it() -> None:
    day = timedelta(hours=24)
    assert SCHEDULE.nudge_from(local(25, 18), day) == local(24, 18), "a Wednesday deadline: the day before"
    assert SCHEDULE.nudge_from(local(30, 8), day) == local(27, 8), "Monday 08:00: all of Friday"
    assert SCHEDULE.nudge_from(local(30, 8), timedelta(hours=2)) == local(27, 19), "...or its last two hours"
    assert SCHEDULE.nudge_from(local(30, 9), day) == local(29, 9), "an hour on Monday is in the window itself"
    night_owls = Schedule(SHANGHAI, quiet=None, working_days=parse_working_days("mon-sun"))
    assert night_owls.nudge_from(local(30, 8), day) == local(29, 8)
