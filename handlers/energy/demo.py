"""The energy part of the demo's past (handlers/core/demo.py): an electricity and a water meter for
each demo building, read every working morning for fourteen months (so `/energy` compares a month
with the one a year before, and its chart shows thirteen), with the rhythm buildings have — little at
weekends in the offices and classrooms, more in the dormitory; air-conditioning in summer and
heating in winter; the classrooms quiet in the winter and summer holidays — one meter read through a
current transformer (x40) and one water meter replaced half a year ago (a reset). Head counts for
the buildings that have none."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core.demo import Past, demo_people
from handlers.energy.readings import SCALE, UNIT_OF
from handlers.energy.report import months_before
from storage.models import Building, Meter, MeterReading

MONTHS = 14
# building code → head count, and each kind's use on a working day (kWh, m³) and at weekends (share).
BUILDINGS = {
    "A": (120, {"electricity": 850.0, "water": 9.0}, 0.3),
    "B": (900, {"electricity": 1300.0, "water": 30.0}, 0.2),
    "C": (60, {"electricity": 650.0, "water": 45.0}, 0.5),
    "D": (420, {"electricity": 900.0, "water": 70.0}, 1.15),
}
# Month → how much more than spring and autumn (air-conditioning, heating).
SEASON = {1: 1.35, 2: 1.25, 3: 1.05, 4: 0.95, 5: 1.0, 6: 1.3, 7: 1.5, 8: 1.45, 9: 1.15, 10: 0.95, 11: 1.05, 12: 1.3}
# The teaching building in the winter and summer holidays.
HOLIDAY = {1: 0.6, 2: 0.45, 7: 0.45, 8: 0.35}
THROUGH_TRANSFORMER = "E-B-01"  # its dial moves one for every 40 kWh
MULTIPLIER = 40
REPLACED = "W-D-01"  # a new water meter, starting again from zero, about six months ago
NAMES = {"electricity": "总电表", "water": "总水表"}


def code_of(kind: str, building: str) -> str:
    return f"{'E' if kind == 'electricity' else 'W'}-{building}-01"


def use_on(day: date, building: str, kind: str, past: Past) -> float:
    _, daily, weekend = BUILDINGS[building]
    use = daily[kind] * (SEASON[day.month] if kind == "electricity" else 0.9 + 0.1 * SEASON[day.month])
    if building == "B":
        use *= HOLIDAY.get(day.month, 1.0)
    if not past.works_on(day):
        use *= weekend
    return max(use * past.rng.gauss(1.0, 0.07), 0.0)


async def write(session: AsyncSession, past: Past) -> dict[str, int]:
    buildings = {b.code: b for b in await session.scalars(select(Building).where(Building.code.in_(BUILDINGS)))}
    if not buildings:
        return {}
    readers: list[int | None] = [
        person.id
        for person in await demo_people(session)
        if any(role.role in ("logistics_staff", "technician") for role in person.roles)
    ] or [None]
    meters: list[tuple[Meter, str]] = []
    for code, building in buildings.items():
        if building.headcount is None:
            building.headcount = BUILDINGS[code][0]
        for kind in ("electricity", "water"):
            meter_code = code_of(kind, code)
            meter = await session.scalar(select(Meter).where(Meter.code == meter_code))
            if meter is None:
                meter = Meter(
                    code=meter_code,
                    name=f"{building.name_zh}{NAMES[kind]}",
                    kind=kind,
                    unit=UNIT_OF[kind],
                    multiplier=MULTIPLIER if meter_code == THROUGH_TRANSFORMER else 1,
                    building_id=building.id,
                )
                session.add(meter)
            meters.append((meter, code))
    await session.flush()
    first = months_before(past.last.replace(day=1), MONTHS)
    replaced_on = past.last - timedelta(days=182)
    readings: list[dict[str, object]] = []
    replaced = False
    dial = {meter.id: past.rng.uniform(10_000, 90_000) for meter, _ in meters}
    day = first
    while day <= past.last:
        for meter, building_code in meters:
            dial[meter.id] += use_on(day, building_code, meter.kind, past) / meter.multiplier
        if past.works_on(day):
            for meter, _ in meters:
                reset = meter.code == REPLACED and day >= replaced_on and not replaced
                if reset:
                    replaced = True
                    dial[meter.id] = past.rng.uniform(0, 5)
                readings.append(
                    {
                        "meter_id": meter.id,
                        "thousandths": round(dial[meter.id] * SCALE),
                        "read_at": past.at(day, 8, 10),
                        "reset": reset,
                        "person_id": past.rng.choice(readers),
                        "channel": past.rng.choice(("telegram", "web", "telegram")),
                    }
                )
        day += timedelta(days=1)
    # In one executemany: added as objects, each would be an INSERT … RETURNING of its own on SQLite,
    # for an id nothing here needs (as the repairs' demo, NULLs written out to keep one batch).
    await session.execute(insert(MeterReading).execution_options(render_nulls=True), readings)
    return {"meters": len(meters), "meter readings": len(readings)}
