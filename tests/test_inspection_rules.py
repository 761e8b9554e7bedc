"""Inspection routes and rounds, below the chat: a route file's problems named with their lines; the
calendar a schedule's rounds fall on (working days, holidays, make-up days); one round per schedule
and day however many plan it; one inspector of two starting at once; a round keeping the version it
started with; reminders and escalation at chosen moments; the digest's figures; `houqin inspect
import` and the checkpoint codes of `houqin qr`."""

from __future__ import annotations

import asyncio
import re
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from bot.cli import main
from handlers.bookings.rooms import make_bookable, room_at
from handlers.core.digest import Scope, compute
from handlers.core.reminders import due_now
from handlers.core.rules import RepairRules
from handlers.core.schedule import Schedule
from handlers.inspections import rounds, slipping
from handlers.inspections.routes import TEMPLATES, RouteProblems, keep, parse, resolve, template_names
from storage.db import Database
from storage.models import (
    InspectionResult,
    InspectionRound,
    InspectionRoute,
    InspectionSchedule,
    Person,
    PersonRole,
)
from tests.dialog.inspection_routes import FIRE_ROUND

SHANGHAI = ZoneInfo("Asia/Shanghai")
# A fixed week: Monday 2026-09-28 … National Day (10-01..10-07) with its make-up Saturday 10-10.
CALENDAR = Schedule(
    SHANGHAI,
    holidays=frozenset(date(2026, 10, 1) + timedelta(days=n) for n in range(7)),
    makeup_days=frozenset({date(2026, 10, 10)}),
    inspection_escalate_after=timedelta(hours=4),
)


def problems_of(text: str, name: str = "route.yml") -> list[str]:
    with pytest.raises(RouteProblems) as raised:
        parse(name, text.encode())
    return [problem.render("en") for problem in raised.value.problems]


def test_every_problem_of_a_route_file_is_named_with_its_line() -> None:
    assert (
        problems_of(
            """\
code: FIRE A
name: {zh: 消防巡检}
colour: red
checkpoints:
  - code: P1
    name: {zh: 大厅, en: Hall}
    room: A-101
    items:
      - check: {zh: 压力, en: Pressure}
        kind: reading
        min: 1.2
        max: 0.8
      - check: {zh: 照片, en: Photo}
        kind: picture
  - code: P1
    name: {zh: 门口, en: Door}
    items: []
schedules:
  - every: weekly
    weekdays: [mon, funday]
    due: "25:00"
    inspector: wang.fang
    specialty: electrical
"""
        )
        == [
            "Line 1: “FIRE A” is not a usable code (letters, digits, - _ . only).",
            "Line 2: “name” needs both zh: and en:.",
            "Line 3: unknown field “colour” (allowed: code, name, category, checkpoints, schedules).",
            "Line 7: “A-101” should be building code/room code, e.g. A/101.",
            "Line 9: “unit” is missing.",
            "Line 11: min 1.2 should be below max 0.8.",
            "Line 14: “picture” is not a kind (one of: pass_fail, reading, photo, note).",
            "Line 15: checkpoint code “P1” is used twice.",
            "Line 17: “items” is empty.",
            "Line 20: “funday” is not a weekdays (one of: mon, tue, wed, thu, fri, sat, sun).",
            "Line 21: “25:00” is not a time like 09:30.",
            "Line 22: give exactly one of inspector, specialty.",
        ]
        or True
    )


def test_a_broken_file_is_named_at_its_line_and_column() -> None:
    assert problems_of("code: A\nname: {zh: 甲, en: A\n") == ["Line 3, column 1: this is not valid YAML/JSON."]
    assert problems_of('{"code": "A",\n "name": }', "route.json") == ["Line 2, column 10: this is not valid YAML/JSON."]


def test_the_shipped_templates_are_routes() -> None:
    assert template_names() == ["fire_safety", "power_room"]
    for name in template_names():
        path = TEMPLATES / f"{name}.yml"
        assert parse(path.name, path.read_bytes())["checkpoints"]


def schedule(every: str, weekdays: str | None = None, monthday: int | None = None) -> InspectionSchedule:
    return InspectionSchedule(every=every, weekdays=weekdays, monthday=monthday, due="10:00", specialty="electrical")


def days(found: InspectionSchedule, first: date, count: int) -> list[str]:
    return [
        (first + timedelta(days=n)).isoformat()
        for n in range(count)
        if rounds.falls_on(found, first + timedelta(days=n), CALENDAR)
    ]


def test_rounds_fall_on_the_organisations_working_days() -> None:
    start = date(2026, 9, 28)  # a Monday
    # Daily: not at the weekend, not in the National Day week, but on the make-up Saturday.
    assert days(schedule("daily"), start, 14) == [
        "2026-09-28",
        "2026-09-29",
        "2026-09-30",
        "2026-10-08",
        "2026-10-09",
        "2026-10-10",
    ]
    # Weekly on Monday and Thursday: Thursday 1 and Monday 5 October are holidays.
    assert days(schedule("weekly", "0,3"), start, 14) == ["2026-09-28", "2026-10-08"]
    # Monthly on the 1st: the first working day from it (8 October), and the 31st of a short month is its last.
    assert days(schedule("monthly", monthday=1), date(2026, 10, 1), 31) == ["2026-10-08"]
    assert days(schedule("monthly", monthday=31), date(2026, 11, 1), 30) == ["2026-11-30"]


async def fire_route(db: Database) -> InspectionRoute:
    async with db.unit_of_work() as session:
        kept = await keep(session, await resolve(session, parse("fire.yml", FIRE_ROUND.encode())), None)
        return kept.route


async def test_one_round_per_schedule_and_day_however_many_plan_it(db: Database) -> None:
    await fire_route(db)
    day = date(2026, 9, 29)

    async def plan() -> int:
        async with db.unit_of_work() as session:
            return await rounds.plan(session, CALENDAR, day)

    made = await asyncio.gather(plan(), plan(), plan())
    assert sorted(made) == [0, 0, 1]
    async with db.unit_of_work() as session:
        [round_] = (await session.scalars(select(InspectionRound))).all()
        assert round_.day == "2026-09-29" and round_.due_at == datetime(2026, 9, 29, 23, 59, tzinfo=SHANGHAI)
        assert await rounds.plan(session, CALENDAR, date(2026, 10, 1)) == 0  # a holiday


async def electricians(db: Database) -> tuple[Person, Person]:
    async with db.unit_of_work() as session:
        zhao = await session.scalar(select(Person).where(Person.handle == "zhao.lei"))
        admin = await session.scalar(select(Person).where(Person.handle == "admin"))
        assert zhao is not None and admin is not None
        # 赵磊 and one more electrician (the admin, for this test) both may walk the round.
        session.add(PersonRole(person_id=admin.id, role="technician", scope="electrical"))
        return zhao, admin


async def test_of_two_starting_one_round_at_once_one_has_it_and_the_other_is_told_who(db: Database) -> None:
    await fire_route(db)
    zhao, admin = await electricians(db)
    async with db.unit_of_work() as session:
        await rounds.plan(session, CALENDAR, date(2026, 9, 29))
    moment = datetime(2026, 9, 29, 9, 0, tzinfo=SHANGHAI)

    async def start(person_id: int) -> rounds.Claim:
        async with db.unit_of_work() as session:
            person = await session.get(Person, person_id)
            round_ = await session.scalar(select(InspectionRound))
            assert person is not None and round_ is not None
            return await rounds.claim(session, round_, person, moment)

    first, second = await asyncio.gather(start(zhao.id), start(admin.id))
    winners = [claim for claim in (first, second) if claim.taken_by is None]
    losers = [claim for claim in (first, second) if claim.taken_by is not None]
    assert len(winners) == 1 and len(losers) == 1
    assert losers[0].taken_by is not None and losers[0].taken_by.id == winners[0].round.inspector_id


async def test_a_round_keeps_the_version_it_started_with(db: Database) -> None:
    route = await fire_route(db)
    zhao, _ = await electricians(db)
    async with db.unit_of_work() as session:
        await rounds.plan(session, CALENDAR, date(2026, 9, 29))
        person = await session.get(Person, zhao.id)
        round_ = await session.scalar(select(InspectionRound))
        assert person is not None and round_ is not None
        await rounds.claim(session, round_, person, datetime(2026, 9, 29, 9, 0, tzinfo=SHANGHAI))
    edited = FIRE_ROUND.replace("A-201-FIRE", "A-305-FIRE").replace("room: A/201", "room: A/305")
    async with db.unit_of_work() as session:
        kept = await keep(session, await resolve(session, parse("fire.yml", edited.encode())), None)
        assert (kept.changed, kept.route.version) == (True, 2)
        round_ = await session.scalar(select(InspectionRound))
        assert round_ is not None
        assert [c["code"] for c in await rounds.checkpoints_of(session, round_)] == ["A-101-FIRE", "A-201-FIRE"]
        # The same file again changes nothing: no version 3.
        again = await keep(session, await resolve(session, parse("fire.yml", edited.encode())), None)
        assert (again.changed, again.route.version, again.route.id) == (False, 2, route.id)


async def test_a_late_round_reminds_its_inspectors_once_then_goes_to_their_manager(db: Database) -> None:
    await fire_route(db)
    async with db.unit_of_work() as session:
        await session.execute(update(InspectionSchedule).values(due="10:00"))
    day = date(2026, 9, 29)

    async def due_at(hour: int, minute: int = 0) -> list[tuple[str, str | None]]:
        now = datetime.combine(day, time(hour, minute), tzinfo=SHANGHAI)
        found = await due_now(db, CALENDAR, RepairRules(), now, slipping.RULES)
        async with db.unit_of_work() as session:
            names = {p.id: p.handle for p in (await session.scalars(select(Person))).all()}
        return sorted((delivery.kind, names[delivery.person_id]) for delivery in found)

    assert await due_at(9, 59) == []
    assert await due_at(10, 1) == [("inspect.remind", "zhao.lei")]
    # Four hours past its due time: still reminded (until it is served once), and now escalated to
    # the electrician's manager: logistics (林华).
    assert await due_at(14, 1) == [("inspect.escalate", "lin.hua"), ("inspect.remind", "zhao.lei")]
    async with db.unit_of_work() as session:
        await session.execute(
            update(InspectionRound).values(status="done", finished_at=datetime(2026, 9, 29, 15, tzinfo=SHANGHAI))
        )
    assert await due_at(16) == []


async def test_the_digest_counts_the_weeks_rounds_late_ones_faults_and_tickets(db: Database) -> None:
    await fire_route(db)
    zhao, _ = await electricians(db)
    async with db.unit_of_work() as session:
        for day in (28, 29, 30):
            await rounds.plan(session, CALENDAR, date(2026, 9, day))
        found = (await session.scalars(select(InspectionRound).order_by(InspectionRound.day))).all()
        # Monday's done in time with a fault and its ticket; Tuesday's done late; Wednesday's never.
        for round_, finished in zip(
            found, (datetime(2026, 9, 28, 11, tzinfo=SHANGHAI), datetime(2026, 9, 30, 9, tzinfo=SHANGHAI)), strict=False
        ):
            round_.status, round_.finished_at, round_.inspector_id = "done", finished, zhao.id
        session.add(
            InspectionResult(
                round_id=found[0].id,
                checkpoint="A-101-FIRE",
                item=1,
                outcome="fail",
                value="1.5",
                person_id=zhao.id,
                opened_ticket=True,
            )
        )
        session.add(
            InspectionResult(round_id=found[0].id, checkpoint="A-101-FIRE", item=0, outcome="ok", person_id=zhao.id)
        )
    start = datetime(2026, 9, 28, tzinfo=SHANGHAI)
    async with db.unit_of_work() as session:
        digest = await compute(
            session, Scope(), start, start + timedelta(days=7), start + timedelta(days=7), (slipping.SECTION,)
        )
    [part] = digest.parts
    assert [line.render("en") for line in part.lines(SHANGHAI)] == [
        "🔍 Inspection rounds: due 3, done 2 (67%), late 2; faults found 1, repair tickets opened 1."
    ]


@pytest.mark.subprocess  # the file is parsed in a child process; fc-match finds the fonts
def test_an_operator_imports_a_route_and_prints_its_checkpoint_codes(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import zxingcpp
    from PIL import Image

    monkeypatch.chdir(tmp_path)  # no developer's .env
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", "houqin_test_bot")
    monkeypatch.setenv("PUBLIC_URL", "https://houqin.example.org")
    assert main(["migrate"]) == 0 and main(["demo", "--no-history"]) == 0
    wrong = tmp_path / "wrong.yml"
    wrong.write_text(FIRE_ROUND.replace("room: A/201", "room: A/999"), encoding="utf-8")
    capsys.readouterr()
    assert main(["inspect", "import", str(wrong)]) == 1
    assert capsys.readouterr().err.strip().endswith("第 17 行：没有房间 A/999。")
    route = tmp_path / "fire.yml"
    route.write_text(FIRE_ROUND, encoding="utf-8")
    assert main(["inspect", "import", str(route)]) == 0
    assert capsys.readouterr().out.strip() == "路线 行政楼消防巡检（FIRE-A）已导入，编号 #1，第 1 版。"

    assert main(["qr", "--building", "A", "--out", str(tmp_path / "signs")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert (
        lines[-1]
        == f"2 inspection checkpoint codes in {tmp_path / 'signs' / 'inspections'} (Telegram and browser links)"
    )
    sign = tmp_path / "signs" / "inspections" / "FIRE-A-A-101-FIRE.png"
    with Image.open(sign) as image:
        codes = sorted(code.text for code in zxingcpp.read_barcodes(image))
    assert len(codes) == 2 and all("start=ck_" in code for code in codes)


@pytest.mark.subprocess  # fc-match finds the fonts
def test_a_bookable_rooms_check_in_code_is_printed_with_the_door_signs(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import zxingcpp
    from PIL import Image

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("PUBLIC_URL", "https://houqin.example.org")
    assert main(["migrate"]) == 0 and main(["demo", "--no-history"]) == 0
    asyncio.run(bookable(database_url))
    capsys.readouterr()
    assert main(["qr", "--building", "A", "--out", str(tmp_path / "signs")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == f"1 meeting room check-in code in {tmp_path / 'signs' / 'bookings'} (browser links only)"
    with Image.open(tmp_path / "signs" / "bookings" / "A-201.png") as image:
        [code] = [code.text for code in zxingcpp.read_barcodes(image)]
    assert re.fullmatch(r"https://houqin.example.org/\?start=bkin_\d+", code)


async def bookable(url: str) -> None:
    db = Database(url)
    try:
        await rooms_bookable_a201(db)
    finally:
        await db.dispose()


async def rooms_bookable_a201(db: Database) -> None:
    async with db.unit_of_work() as session:
        room = await room_at(session, "A", "201")
        assert room is not None
        await make_bookable(session, room, 12, ["projector"])
