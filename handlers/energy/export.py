"""/export readings [csv|xlsx] [FROM TO]: every reading with its meter, as it was typed (the value on
the dial, before the multiplier), whether it began a new baseline, who read it and on which round."""

from __future__ import annotations

from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core.adminkit import MAX_ROWS, Period, when
from handlers.core.area import Export
from handlers.core.i18n import translate
from handlers.core.sheets import Cell
from storage.models import Building, Meter, MeterReading, Person


async def reading_rows(session: AsyncSession, period: Period | None, zone: ZoneInfo, locale: str) -> list[list[Cell]]:
    query = (
        select(MeterReading, Meter, Building, Person.display_name)
        .join(Meter, Meter.id == MeterReading.meter_id)
        .join(Building, Building.id == Meter.building_id)
        .outerjoin(Person, Person.id == MeterReading.person_id)
        # The newest MAX_ROWS, written oldest first.
        .order_by(MeterReading.read_at.desc(), MeterReading.id.desc())
        .limit(MAX_ROWS)
    )
    if period is not None:
        start, end = period.bounds(zone)
        query = query.where(MeterReading.read_at >= start, MeterReading.read_at < end)
    rows: list[list[Cell]] = []
    for reading, meter, building, who in reversed((await session.execute(query)).all()):
        rows.append(
            [
                when(reading.read_at, zone),
                meter.code,
                meter.name,
                translate(locale, f"meter.kind.{meter.kind}"),
                building.name_zh if locale == "zh_CN" else building.name_en,
                meter.floor or "",
                float(Decimal(reading.thousandths) / 1000),
                meter.unit,
                meter.multiplier,
                "✓" if reading.reset else "",
                who or "",
                reading.channel or "",
                reading.round_id,
            ]
        )
    return rows


READINGS = Export(
    (
        "at",
        "code",
        "meter",
        "meter_kind",
        "building",
        "floor",
        "reading",
        "unit",
        "multiplier",
        "reset",
        "who",
        "channel",
        "round",
    ),
    reading_rows,
)
