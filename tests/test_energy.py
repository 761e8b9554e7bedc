"""Energy (节能降耗): what a typed reading is, when one is doubtful, and a month's figures checked
against ones worked out by hand from a small fixed set of readings — with a meter read through a
current transformer (x40) and a meter replaced mid-month — on SQLite and PostgreSQL; the chart's
Chinese labels; and the month in the first digest of a month only. Every date is fixed here."""

from __future__ import annotations

import io
import warnings
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core.charts import render
from handlers.core.digest import Said, Scope, Week
from handlers.core.flow import Invalid, StepContext
from handlers.core.meters import desk_among
from handlers.energy.digest import MonthOfEnergy, month_in_digest
from handlers.energy.meters import AREA
from handlers.energy.readings import Desk, parse
from handlers.energy.report import chart_of, figures, report_text
from storage.db import Database
from storage.models import (
    Building,
    Department,
    InspectionRound,
    InspectionRoute,
    InspectionRouteVersion,
    Meter,
    MeterReading,
    Person,
)
from tests.test_charts import needs_a_chinese_font

ZONE = ZoneInfo("Asia/Shanghai")
# The desk the energy area declares: the one /meter and the inspection rounds go through.
assert isinstance(AREA.meters, Desk)
DESK: Desk = AREA.meters


def local(year: int, month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ZONE).astimezone(UTC)


# --- what a reading is -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "unit", "value"),
    [
        ("12345.6", "kWh", "12345.6"),
        ("12,345.6 kWh", "kWh", "12345.6"),
        ("１２３４５.６度", "kWh", "12345.6"),
        ("330.5 m³", "m³", "330.5"),
        ("330.5立方米", "m³", "330.5"),
        ("0", "m³", "0"),
        ("9999999999.999", "kWh", "9999999999.999"),
    ],
)
def test_a_reading_is_a_number_in_the_meters_unit(typed: str, unit: str, value: str) -> None:
    assert DESK.parse(typed, unit) == Decimal(value)


@pytest.mark.parametrize(
    ("typed", "unit", "says"),
    [
        ("twelve", "kWh", "That is not a reading: type a number"),
        ("12345.6 m³", "kWh", "This meter counts kWh, not m³"),
        ("12345.6 kWh", "m³", "This meter counts m³, not kWh"),
        ("-5", "kWh", "A reading cannot be negative."),
        ("12345678901", "kWh", "That number is too big"),
        ("1.23456", "kWh", "at most 3 decimal places"),
        ("12 apples", "kWh", "That is not a reading"),
    ],
)
def test_what_cannot_be_a_reading_is_said_why(typed: str, unit: str, says: str) -> None:
    with pytest.raises(Invalid) as refused:
        parse(typed, unit)
    assert says in refused.value.reason.render("en")


def test_the_desk_is_found_among_the_running_areas() -> None:
    from bot.areas import AREAS

    assert desk_among(AREAS) is DESK


# --- a small fixed set of readings -------------------------------------------------------------


async def building(session: AsyncSession, code: str, headcount: int | None) -> Building:
    found = await session.scalar(select(Building).where(Building.code == code))
    assert found is not None
    found.headcount = headcount
    return found


async def meter(session: AsyncSession, code: str, kind: str, where: Building, multiplier: int = 1) -> Meter:
    made = Meter(
        code=code,
        name=code,
        kind=kind,
        unit="kWh" if kind == "electricity" else "m³",
        multiplier=multiplier,
        building_id=where.id,
        created_at=local(2025, 1, 1),
    )
    session.add(made)
    await session.flush()
    return made


def read(session: AsyncSession, of: Meter, at: datetime, value: str, reset: bool = False) -> None:
    session.add(MeterReading(meter_id=of.id, thousandths=int(Decimal(value) * 1000), read_at=at, reset=reset))


async def a_year_of_readings(db: Database) -> None:
    """March 2026 is the month asked about; the hand-worked figures are beside each meter."""
    async with db.unit_of_work() as session:
        a, b = await building(session, "A", 50), await building(session, "B", 50)
        # A's electricity: March 2025 400.0; February 2026 600.0; March 2026 400.0 + 300.5 = 700.5
        # (a reading at 23:30 on 31 March is March's; one at 00:30 on 1 April is April's).
        e_a = await meter(session, "E-A-01", "electricity", a)
        for at, value in (
            (local(2025, 2, 28), "1000"),
            (local(2025, 3, 31), "1400"),
            (local(2026, 1, 31), "5000"),
            (local(2026, 2, 28), "5600"),
            (local(2026, 3, 15), "6000"),
            (local(2026, 3, 31, 23, 30), "6300.5"),
            (local(2026, 4, 1, 0, 30), "6400"),
        ):
            read(session, e_a, at, value)
        # B's electricity through a x40 transformer: February 10 x 40 = 400; March 5 (to 115), then the
        # meter replaced (2.0: nothing), then 6.5: 11.5 x 40 = 460. No figure a year before.
        e_b = await meter(session, "E-B-01", "electricity", b, multiplier=40)
        read(session, e_b, local(2026, 2, 1), "100")
        read(session, e_b, local(2026, 2, 28), "110")
        read(session, e_b, local(2026, 3, 10), "115")
        read(session, e_b, local(2026, 3, 20), "2", reset=True)
        read(session, e_b, local(2026, 3, 31), "8.5")
        # A's water: first read late in February (nothing before it), 30.5 m³ in March.
        w_a = await meter(session, "W-A-01", "water", a)
        read(session, w_a, local(2026, 2, 27), "300")
        read(session, w_a, local(2026, 3, 31), "330.5")


async def test_a_months_figures_are_those_worked_out_by_hand(db: Database) -> None:
    await a_year_of_readings(db)
    async with db.unit_of_work() as session:
        found = await figures(session, date(2026, 3, 1), ZONE)
        uses = {(use.building.code, use.kind): (use.now, use.before, use.year_ago) for use in found.uses}
        totals = {total.kind: (total.now, total.before, total.year_ago, total.people) for total in found.totals}
        flagged = [(use.building.code, use.kind) for use in found.flagged]
        text = report_text(found).render("en")
        chinese = report_text(found).render("zh_CN")
    assert uses == {
        ("A", "electricity"): (700_500, 600_000, 400_000),
        ("A", "water"): (30_500, None, None),
        ("B", "electricity"): (460_000, 400_000, None),
    }
    assert totals == {"electricity": (1_160_500, 1_000_000, 400_000, 100), "water": (30_500, None, None, 50)}
    # A rose 16.75% on the month (beyond 15%); B exactly 15% (not beyond).
    assert flagged == [("A", "electricity")]
    assert "⚡ Energy use, 2026-03" in text
    assert "Electricity 700.5 kWh · 14.0 per head · +17% on the month · +75% on the year" in text
    assert "Electricity 460.0 kWh · 9.20 per head · +15% on the month · — on the year" in text
    assert "Water 30.5 m³ · 0.61 per head · — on the month · — on the year" in text
    # In all: 1,160.5 kWh for 100 people, +16% on the month, +190% on the year (A alone then).
    assert "Electricity 1,160.5 kWh · 11.6 per head · +16% on the month · +190% on the year" in text
    assert "Administration Building Electricity +17% (600.0 → 700.5 kWh)" in text
    assert "🏢 行政楼（50 人）" in chinese
    assert "电 700.5 kWh · 人均 14.0 · 环比 +17% · 同比 +75%" in chinese


async def test_the_energy_chart_is_thirteen_months_with_chinese_labels(db: Database) -> None:
    await a_year_of_readings(db)
    async with db.unit_of_work() as session:
        found = await figures(session, date(2026, 3, 1), ZONE)
    chart = chart_of(found, "zh_CN")
    assert list(chart.categories) == [f"{2025 + (m + 2) // 12}-{(m + 2) % 12 + 1:02d}" for m in range(13)]
    assert {series.label: series.values[-1] for series in chart.series} == {"行政楼": 700.5, "教学楼": 460.0}
    assert chart.title == "电：近 13 个月（至 2026-03）"
    png = render(chart)
    assert Image.open(io.BytesIO(png)).format == "PNG"
    needs_a_chinese_font()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        render(chart)
    assert [str(w.message) for w in caught if "Glyph" in str(w.message)] == []


# --- doubtful readings ------------------------------------------------------------------------------


async def context(session: AsyncSession, now: datetime) -> StepContext:
    person = await session.scalar(select(Person).where(Person.demo_key == "guo.tao"))
    assert person is not None
    return StepContext(session, person, "en", "web", now, ZONE, {})


async def test_a_reading_below_the_last_or_far_beyond_the_usual_is_doubted_and_a_kept_low_one_resets(
    db: Database,
) -> None:
    await a_year_of_readings(db)
    async with db.unit_of_work() as session:
        ctx = await context(session, local(2026, 4, 2, 10))
        # The last is 6,400.0 on 1 April; the 90 days before moved 1,400 kWh in 60 days (~23 a day).
        assert await DESK.doubt(ctx, "E-A-01", Decimal("6420")) is None
        lower = await DESK.doubt(ctx, "e-a-01", Decimal("6399.9"))
        assert lower is not None
        assert lower.render("en") == (
            "6,399.9 kWh is lower than the last reading (6,400.0 kWh on 2026-04-01): was the meter replaced? "
            "If kept, it starts a new baseline."
        )
        jump = await DESK.doubt(ctx, "E-A-01", Decimal("6600"))
        assert jump is not None
        assert jump.render("en") == (
            "That is 200.0 kWh since the last reading (2026-04-01), about 6× the usual (about 23.5 kWh a day)."
        )
        with pytest.raises(Invalid):
            await DESK.doubt(ctx, "E-A-01", Decimal("-1"))
        with pytest.raises(Invalid):
            await DESK.doubt(ctx, "NOPE", Decimal("1"))
        # Kept on an inspection round (a monthly 抄表 route): the reading names it.
        route = InspectionRoute(code="METERS", name_zh="抄表", name_en="Meter round")
        session.add(route)
        await session.flush()
        version = InspectionRouteVersion(route_id=route.id, version=1, definition={})
        session.add(version)
        await session.flush()
        walked = InspectionRound(route_id=route.id, version_id=version.id, day="2026-04-02", due_at=ctx.now)
        session.add(walked)
        await session.flush()
        await DESK.keep(ctx, "E-A-01", Decimal("10"), round_id=walked.id)
    async with db.unit_of_work() as session:
        kept = await session.scalar(select(MeterReading).order_by(MeterReading.id.desc()).limit(1))
        assert kept is not None
        assert (kept.thousandths, kept.reset, kept.round_id) == (10_000, True, walked.id)
        # April: the reading of 1 April counts (99.5); the reset after it counts nothing.
        found = await figures(session, date(2026, 4, 1), ZONE)
    assert {(u.building.code, u.kind): u.now for u in found.uses}[("A", "electricity")] == 99_500


# --- the digest ---------------------------------------------------------------------------------------


async def test_the_first_digest_of_a_month_tells_the_month_before_and_no_other_does(db: Database) -> None:
    await a_year_of_readings(db)
    # The week of 30 March to 5 April ends on 6 April (its sixth day): the first digest of April.
    first = Week(local(2026, 3, 30, 0), local(2026, 4, 6, 0), local(2026, 4, 6, 9))
    later = Week(local(2026, 4, 6, 0), local(2026, 4, 13, 0), local(2026, 4, 13, 9))
    async with db.unit_of_work() as session:
        told = await month_in_digest(session, Scope(), first)
        not_told = await month_in_digest(session, Scope(), later)
        finance = await session.scalar(select(Department).where(Department.code == "finance"))
        department = await month_in_digest(session, Scope(finance), first)
    assert isinstance(told, MonthOfEnergy)
    said = "\n".join(line.render("en") for line in told.lines(ZONE))
    assert "⚡ Last month's energy, 2026-03" in said
    assert "Electricity 1,160.5 kWh · 11.6 per head · +16% on the month · +190% on the year" in said
    assert "Administration Building Electricity +17%" in said
    assert isinstance(not_told, Said) and list(not_told.lines(ZONE)) == []
    assert isinstance(department, Said) and list(department.lines(ZONE)) == []


async def test_the_org_digest_of_the_first_week_of_a_month_carries_the_month_and_the_next_does_not(
    db: Database,
) -> None:
    from bot.areas import AREAS
    from handlers.digest.send import dry_run
    from tests.jobs.org import SCHEDULE

    async with db.unit_of_work() as session:
        a = await building(session, "A", 40)
        power = await meter(session, "E-A-01", "electricity", a)
        for at, value in ((local(2026, 10, 31), "100"), (local(2026, 11, 30), "1100")):
            read(session, power, at, value)
    first_monday, second_monday = local(2026, 12, 7, 9), local(2026, 12, 14, 9)
    digests = await dry_run(db, SCHEDULE, first_monday, "zh_CN", None, areas=AREAS)
    [whole] = [d for d in digests if d.heading.startswith("系统管理员 Admin")]
    assert "⚡ 上月能耗 2026-11" in whole.text
    assert "电 1,000.0 kWh · 人均 25.0 · 环比 — · 同比 —" in whole.text
    assert all("上月能耗" not in d.text for d in digests if "dept:" in d.heading)
    later = await dry_run(db, SCHEDULE, second_monday, "zh_CN", None, areas=AREAS)
    assert later and all("上月能耗" not in d.text for d in later)
