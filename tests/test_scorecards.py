"""Scorecards (考核与奖惩) against figures worked out by hand, and the monthly job that sends them.

October 2026, Asia/Shanghai. 赵磊 (electrician) resolved three tickets in the month and one just after:
  E1  on time, rated 5, never reopened          → +1 resolved, +2 rated 5            = +3
  E2  late (SLA breach), rated 2, reopened once → +1, −3 breach, −2 low rating, −2 reopened = −6
  E3  on time, not rated                        → +1                                 = +1
  E4  resolved on 1 November (local)            → another month
so: volume 3, on time 2 of 3 (67%), average rating (5+2)/2 = 3.5, reopened 1 of 3 (33%), points −2.
郭涛 handed out two requisitions: 6 h and 2 h after they were submitted → average 4.0 h.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from bot.areas import AREAS
from handlers.admin.monthly import NOTHING_NOW, SCORECARDS, SENT, monthly_scorecards
from handlers.admin.scorecards import department_card, person_card, score
from handlers.core.adminkit import month_period
from handlers.core.schedule import Schedule, parse_dates
from handlers.inspections.routes import keep, parse, resolve, version_of
from storage.db import Database
from storage.models import (
    Department,
    InspectionRound,
    JobRun,
    OrgSetting,
    OutboxMessage,
    Person,
    PersonRole,
    Requisition,
    Ticket,
)
from tests.dialog.inspection_routes import FIRE_ROUND

ZONE = ZoneInfo("Asia/Shanghai")
OCTOBER = month_period(datetime(2026, 10, 1).date())


def at(day: int, hour: int, month: int = 10) -> datetime:
    """A local (Shanghai) time in 2026, as UTC."""
    return datetime(2026, month, day, hour, tzinfo=ZONE).astimezone(UTC)


async def handle(db: Database, name: str) -> Person:
    async with db.unit_of_work() as session:
        person = await session.scalar(select(Person).where(Person.handle == name))
        assert person is not None
        return person


async def october(db: Database) -> tuple[int, int]:
    zhao, guo, wang = await handle(db, "zhao.lei"), await handle(db, "guo.tao"), await handle(db, "wang.fang")
    async with db.unit_of_work() as session:
        for number, resolved, due, rating, reopened in [
            ("R-2026-900001", at(3, 10), at(3, 12), 5, 0),
            ("R-2026-900002", at(10, 18), at(10, 9), 2, 1),
            ("R-2026-900003", at(20, 9), at(21, 9), None, 0),
            ("R-2026-900004", at(1, 8, month=11), at(2, 9, month=11), 5, 0),
        ]:
            session.add(
                Ticket(
                    number=number,
                    reporter_id=wang.id,
                    category="electrical",
                    description="灯不亮",
                    urgency="normal",
                    status="closed",
                    channel="web",
                    created_at=resolved - timedelta(hours=30),
                    assignee_id=zhao.id,
                    due_at=due,
                    resolved_at=resolved,
                    closed_at=resolved + timedelta(hours=1),
                    rating=rating,
                    reopen_count=reopened,
                )
            )
        for number, submitted, hours in [("S-2026-900001", at(10, 9), 6), ("S-2026-900002", at(12, 14), 2)]:
            session.add(
                Requisition(
                    number=number,
                    requester_id=wang.id,
                    purpose="办公",
                    status="handed_out",
                    channel="web",
                    created_at=submitted,
                    closed_at=submitted + timedelta(hours=hours),
                    handler_id=guo.id,
                )
            )
    return zhao.id, guo.id


async def test_a_technicians_month_matches_the_hand_computed_figures(db: Database) -> None:
    zhao, guo = await october(db)
    async with db.unit_of_work() as session:
        scores = await score(session, [zhao, guo], OCTOBER, ZONE)
        assert scores[zhao].figures() == {
            "volume": 3,
            "sla": "67%",
            "rating": "3.5",
            "reopen": "33%",
            "turnaround": "—",
            "handed_out": 0,
            "points": "-2",
            "rounds": "",
            "rounds_line": "",
        }
        assert (scores[guo].handed_out, scores[guo].figures()["turnaround"]) == (2, "4.0")
        person = await session.get(Person, zhao)
        assert person is not None
        assert (await person_card(session, person, OCTOBER, ZONE)).render("en") == (
            "📊 Scorecard of 赵磊 (2026-10-01 – 2026-10-31)\n"
            "Repairs resolved: 3 · on time 67% · average rating 3.5 · reopened 33%\n"
            "Requisitions handed out: 0 · average turnaround — h\n"
            "Points: -2"
        )


async def test_inspection_rounds_done_and_done_on_time_are_on_the_card(db: Database) -> None:
    zhao, _ = await october(db)
    async with db.unit_of_work() as session:
        route = (await keep(session, await resolve(session, parse("fire.yml", FIRE_ROUND.encode())), None)).route
        version = await version_of(session, route.id, route.version)
        assert version is not None
        # Two rounds finished in October (one by its due time, one after), one in November.
        for day, due, finished in [(5, at(5, 10), at(5, 9)), (6, at(6, 10), at(6, 15)), (31, at(31, 10), at(1, 9, 11))]:
            session.add(
                InspectionRound(
                    route_id=route.id,
                    version_id=version.id,
                    day=f"2026-10-{day:02d}",
                    due_at=due,
                    status="done",
                    inspector_id=zhao,
                    finished_at=finished,
                )
            )
    async with db.unit_of_work() as session:
        person = await session.get(Person, zhao)
        assert person is not None
        assert (
            (await person_card(session, person, OCTOBER, ZONE))
            .render("en")
            .endswith("Points: -2\nInspection rounds done: 2 · on time 1")
        )
        logistics = await session.scalar(select(Department).where(Department.code == "logistics"))
        assert logistics is not None
        card = (await department_card(session, logistics, OCTOBER, ZONE)).render("zh_CN")
        assert "\n完成巡检：2 次 · 按时 1 次\n" in card and "赵磊：3 单" in card and "巡检 2 次（按时 1）" in card


async def test_a_department_adds_up_its_people_and_the_rules_can_change(db: Database) -> None:
    await october(db)
    async with db.unit_of_work() as session:
        logistics = await session.scalar(select(Department).where(Department.code == "logistics"))
        assert logistics is not None
        card = (await department_card(session, logistics, OCTOBER, ZONE)).render("zh_CN")
        assert card.splitlines()[:3] == [
            "📊 后勤保障处 考核（2026-10-01 – 2026-10-31）",
            "完成维修：3 单 · 按时率 67% · 平均评分 3.5 · 返修率 33%",
            "发放物资：2 单 · 平均用时 4.0 小时 · 积分 -2",
        ]
        assert "• 赵磊：3 单 · 按时 67% · 评分 3.5 · 返修 33% · 发放 0 · 积分 -2" in card
        # A rated 5 worth +5 instead of +2: 赵磊 gains 3 → +1.
        session.add(
            OrgSetting(key="scorecard_points", value="resolved=+1,rated_5=+5,low_rating=-2,sla_breach=-3,reopened=-2")
        )
        await session.flush()
        zhao = await session.scalar(select(Person.id).where(Person.handle == "zhao.lei"))
        assert zhao is not None
        assert (await score(session, [zhao], OCTOBER, ZONE))[zhao].points == 1


async def managers(db: Database) -> int:
    async with db.unit_of_work() as session:
        found = await session.scalar(select(func.count()).select_from(PersonRole).where(PersonRole.role == "manager"))
        return int(found or 0)


async def test_the_monthly_job_sends_last_months_cards_once_on_the_first_working_day(db: Database) -> None:
    await october(db)
    # 1 November 2026 is a Sunday: the first working day is Monday the 2nd.
    assert not await monthly_scorecards(db, Schedule(ZONE), at(1, 10, month=11))
    assert not await monthly_scorecards(db, Schedule(ZONE), at(2, 7, month=11))  # too early in the morning
    assert await monthly_scorecards(db, Schedule(ZONE), at(2, 10, month=11))
    assert not await monthly_scorecards(db, Schedule(ZONE), at(2, 11, month=11))  # once
    async with db.unit_of_work() as session:
        notices = (await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
        [run] = (await session.scalars(select(JobRun).where(JobRun.job == SCORECARDS))).all()
        lin = await session.scalar(select(Person.id).where(Person.handle == "lin.hua"))
    assert run.period == "2026-10"
    assert len(notices) == await managers(db)
    [to_lin] = [n for n in notices if n.person_id == lin]
    assert "2026-10-01 – 2026-10-31" in str(to_lin.body) and "-2" in str(to_lin.body)


async def test_the_scheduler_sends_them_through_its_table_once(db: Database) -> None:
    """The admin area's job: tried on the month's first days, sent on the first working one."""
    from handlers.core.rules import RepairRules
    from jobs.scheduler import JOBS, Jobs

    await october(db)
    clock = [at(1, 10, month=11)]  # a Sunday: not a working day
    jobs = Jobs(db, Schedule(ZONE), RepairRules(), areas=AREAS, clock=lambda: clock[0], table=list(JOBS))
    job = jobs.job(SCORECARDS)
    assert await jobs.fire(job) == NOTHING_NOW
    clock[0] = at(2, 9, month=11) + timedelta(minutes=45)  # Monday, after 09:30
    assert await jobs.fire(job) == SENT
    assert await jobs.fire(job) is None  # done for October
    async with db.unit_of_work() as session:
        [run] = (await session.scalars(select(JobRun).where(JobRun.job == SCORECARDS))).all()
    assert run.period == "2026-10"


async def scorecards_through_the_table(db: Database, calendar: Schedule, days: list[datetime]) -> list[object]:
    """The admin area's scorecards job fired at each of `days` in turn (a fixed clock)."""
    from handlers.core.rules import RepairRules
    from jobs.scheduler import JOBS, Jobs

    clock = [days[0]]
    jobs = Jobs(db, calendar, RepairRules(), areas=AREAS, clock=lambda: clock[0], table=list(JOBS))
    outcomes = []
    for day in days:
        clock[0] = day
        outcomes.append(await jobs.fire(jobs.job(SCORECARDS)))
    return outcomes


async def test_a_holiday_on_the_first_working_day_moves_the_cards_to_the_next_one(db: Database) -> None:
    await october(db)
    async with db.unit_of_work() as session:
        session.add(OrgSetting(key="holidays", value="2026-11-02"))  # as /settings holidays 2026-11-02 stores it
    # Sunday the 1st, Monday the 2nd (a holiday now), Tuesday the 3rd, after 09:30 each time.
    sunday, monday, tuesday = (at(day, 10, month=11) for day in (1, 2, 3))
    assert await scorecards_through_the_table(db, Schedule(ZONE), [sunday, monday, tuesday, tuesday]) == [
        NOTHING_NOW,
        NOTHING_NOW,
        SENT,
        None,  # done for October
    ]
    async with db.unit_of_work() as session:
        [run] = (await session.scalars(select(JobRun).where(JobRun.job == SCORECARDS))).all()
        notices = await session.scalar(select(func.count()).select_from(OutboxMessage))
    assert (run.period, run.started_at.astimezone(ZONE).date().isoformat()) == ("2026-10", "2026-11-03")
    assert notices == await managers(db)


async def test_a_long_national_day_holiday_sends_septembers_cards_in_the_second_week(db: Database) -> None:
    # As in 2025: 10-01..10-08 closed (with the weekend inside it), so the first working day is Friday the 9th.
    calendar = Schedule(ZONE, holidays=parse_dates("2026-10-01..2026-10-08"))
    outcomes = await scorecards_through_the_table(db, calendar, [at(8, 10), at(9, 10)])
    assert outcomes == [NOTHING_NOW, SENT]
    async with db.unit_of_work() as session:
        [run] = (await session.scalars(select(JobRun).where(JobRun.job == SCORECARDS))).all()
    assert run.period == "2026-09"


async def test_a_make_up_sunday_on_the_first_is_the_first_working_day(db: Database) -> None:
    await october(db)
    calendar = Schedule(ZONE, makeup_days=parse_dates("2026-11-01"))
    assert await monthly_scorecards(db, calendar, at(1, 10, month=11))
    assert not await monthly_scorecards(db, calendar, at(2, 10, month=11))  # sent already
