"""`houqin demo` gives the energy report a year at once: a meter of electricity and one of water in
each building, read every working morning for fourteen months (none on days off), with the seasons in
them, one meter through a x40 transformer and one replaced (a reset) — so the last complete month
has a figure for the month before and for the same month a year before, and the chart thirteen. Only
energy's own past is written here: tests/test_demo_past.py writes every area's together."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import func, select

from handlers.core.demo import write_past
from handlers.energy.meters import AREA as ENERGY
from handlers.energy.report import chart_of, figures, report_text
from storage.models import Meter, MeterReading
from tests.clock import SHANGHAI
from tests.jobs.org import SCHEDULE
from tests.test_demo_past import NOW, demo_database


async def test_the_demo_gives_energy_a_year_with_seasons_and_no_readings_on_days_off(
    sqlite_template: Path, tmp_path: Path
) -> None:
    db = await demo_database(sqlite_template, tmp_path)
    added = await write_past(db, [ENERGY], NOW, SCHEDULE)
    assert added is not None and added["meters"] == 8 and added["meter readings"] > 8 * 250
    async with db.unit_of_work() as session:
        meters = {meter.code: meter for meter in await session.scalars(select(Meter))}
        assert sorted(meters) == sorted(f"{k}-{b}-01" for k in "EW" for b in "ABCD")
        assert meters["E-B-01"].multiplier == 40
        resets = await session.scalar(select(func.count()).select_from(MeterReading).where(MeterReading.reset))
        assert resets == 1
        days = {at.astimezone(SHANGHAI).date() for at in await session.scalars(select(MeterReading.read_at))}
        assert all(SCHEDULE.works_on(day) for day in days)
        october = await figures(session, date(2026, 10, 1), SHANGHAI)
        july = await figures(session, date(2026, 7, 1), SHANGHAI)
        april = await figures(session, date(2026, 4, 1), SHANGHAI)
    assert len(october.uses) == 8
    assert all(None not in (use.now, use.before, use.year_ago) for use in october.uses), october.uses
    assert all(use.per_head() is not None for use in october.uses)
    # Air-conditioning: the administration building uses more electricity in July than in April.
    summer = {(u.building.code, u.kind): u.now or 0 for u in july.uses}
    spring = {(u.building.code, u.kind): u.now or 0 for u in april.uses}
    assert summer["A", "electricity"] > spring["A", "electricity"] * 1.3
    chart = chart_of(october, "zh_CN")
    assert len(chart.categories) == 13 and len(chart.series) == 4
    assert all(None not in series.values for series in chart.series)
    assert "🏢 宿舍楼（420 人）" in report_text(october).render("zh_CN")
    await db.dispose()
