"""Rounds: each schedule's round of a day, on the organisation's calendar; who may walk it; the one
inspector who starts it (of two at once, one wins); what is left of it; its end and number."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core.schedule import Schedule
from handlers.core.specialties import specialties_of
from handlers.inspections.routes import version_of
from storage.models import (
    InspectionResult,
    InspectionRound,
    InspectionRoute,
    InspectionRouteVersion,
    InspectionSchedule,
    Person,
)

SEEN = -1  # the result "item" of a checkpoint's code scanned


def falls_on(schedule: InspectionSchedule, day: date, calendar: Schedule) -> bool:
    """Whether the schedule has a round on `day`: daily and weekly on working days only; monthly on
    the first working day from its day of the month (the 31st of a short month is its last day)."""
    if not calendar.works_on(day):
        return False
    if schedule.every == "daily":
        return True
    if schedule.every == "weekly":
        return str(day.weekday()) in (schedule.weekdays or "").split(",")
    if schedule.every == "monthly" and schedule.monthday is not None:
        first = day.replace(day=1)
        last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        wanted = day.replace(day=min(schedule.monthday, last.day))
        while wanted <= last and not calendar.works_on(wanted):
            wanted += timedelta(days=1)
        return wanted == day
    return False


async def plan(session: AsyncSession, calendar: Schedule, day: date) -> int:
    """The day's rounds of every active schedule, made once (unique per schedule and day, so two
    processes planning together make each once). Returns how many were made now."""
    schedules = (
        await session.execute(
            select(InspectionSchedule, InspectionRoute)
            .join(InspectionRoute, InspectionRoute.id == InspectionSchedule.route_id)
            .where(InspectionSchedule.active.is_(True), InspectionRoute.active.is_(True))
        )
    ).all()
    key = day.isoformat()
    made_already = set(
        (await session.scalars(select(InspectionRound.schedule_id).where(InspectionRound.day == key))).all()
    )
    made = 0
    for schedule, route in schedules:
        if schedule.id in made_already or not falls_on(schedule, day, calendar):
            continue
        version = await version_of(session, route.id, route.version)
        assert version is not None, f"route {route.code} has no version {route.version}"
        hour, minute = (int(part) for part in schedule.due.split(":"))
        due = datetime.combine(day, time(hour, minute), tzinfo=calendar.zone)
        try:
            async with session.begin_nested():
                session.add(
                    InspectionRound(
                        route_id=route.id,
                        version_id=version.id,
                        schedule_id=schedule.id,
                        day=key,
                        due_at=due,
                        person_id=schedule.person_id,
                        specialty=schedule.specialty,
                    )
                )
            made += 1
        except IntegrityError:
            pass  # another process made it first
    return made


def is_theirs(round_: InspectionRound, person: Person) -> bool:
    """Whom the round waits for: its person, or anyone of its specialty."""
    if round_.person_id is not None:
        return round_.person_id == person.id
    return round_.specialty in specialties_of(person)


def for_person(person: Person) -> Any:
    """Rounds someone may walk: assigned to them, or to a specialty of theirs; or already theirs."""
    return or_(
        InspectionRound.person_id == person.id,
        InspectionRound.inspector_id == person.id,
        InspectionRound.specialty.in_(specialties_of(person) or {""}),
    )


async def waiting_for(session: AsyncSession, person: Person, day: str) -> list[tuple[InspectionRound, InspectionRoute]]:
    """Today's rounds for this person, and any of theirs still under way from an earlier day."""
    found = await session.execute(
        select(InspectionRound, InspectionRoute)
        .join(InspectionRoute, InspectionRoute.id == InspectionRound.route_id)
        .where(
            for_person(person),
            or_(InspectionRound.day == day, InspectionRound.status == "in_progress"),
        )
        .order_by(InspectionRound.due_at, InspectionRound.id)
    )
    return [
        (round_, route)
        for round_, route in found.all()
        if is_theirs(round_, person) or round_.inspector_id == person.id
    ]


@dataclass(frozen=True)
class Claim:
    round: InspectionRound
    # Who has it when it was not ours to start (another inspector got there first).
    taken_by: Person | None = None


async def claim(session: AsyncSession, round_: InspectionRound, person: Person, now: datetime) -> Claim:
    """Start the round as `person`: by a conditional UPDATE, so of two pressing Start at once one
    wins and the other is told who. A due round takes its route's current version at this moment."""
    if round_.inspector_id == person.id:
        return Claim(round_)
    current = await session.scalar(
        select(InspectionRouteVersion.id)
        .join(InspectionRoute, InspectionRoute.id == InspectionRouteVersion.route_id)
        .where(InspectionRoute.id == round_.route_id, InspectionRouteVersion.version == InspectionRoute.version)
    )
    won = await session.execute(
        update(InspectionRound)
        .where(InspectionRound.id == round_.id, InspectionRound.inspector_id.is_(None))
        .values(inspector_id=person.id, started_at=now, status="in_progress", version_id=current or round_.version_id)
        .execution_options(synchronize_session=False)
    )
    await session.refresh(round_)
    if won.rowcount == 1:  # type: ignore[attr-defined]
        return Claim(round_)
    holder = await session.get(Person, round_.inspector_id) if round_.inspector_id is not None else None
    return Claim(round_, taken_by=holder)


def round_number(round_id: int, year: int) -> str:
    return f"I-{year}-{round_id:06d}"


async def checkpoints_of(session: AsyncSession, round_: InspectionRound) -> list[dict[str, Any]]:
    version = await session.get(InspectionRouteVersion, round_.version_id)
    assert version is not None
    return list(version.definition["checkpoints"])


async def results_of(session: AsyncSession, round_id: int) -> dict[tuple[str, int], InspectionResult]:
    found = await session.scalars(select(InspectionResult).where(InspectionResult.round_id == round_id))
    return {(result.checkpoint, result.item): result for result in found.all()}


@dataclass(frozen=True)
class Place:
    """Where in its round the walk stands: a checkpoint (by index) and one of its items."""

    checkpoint: int
    item: int


def next_item(
    checkpoints: Sequence[dict[str, Any]], answered: set[tuple[str, int]], at: int | None = None
) -> Place | None:
    """The first unanswered item: of checkpoint `at` first (one scanned), else in the route's order."""
    order = list(range(len(checkpoints)))
    if at is not None and 0 <= at < len(checkpoints):
        order = [at, *[index for index in order if index != at]]
    for index in order:
        for item, _ in enumerate(checkpoints[index]["items"]):
            if (checkpoints[index]["code"], item) not in answered:
                return Place(index, item)
    return None


def counts(checkpoints: Sequence[dict[str, Any]], answered: set[tuple[str, int]]) -> tuple[int, int]:
    total = sum(len(checkpoint["items"]) for checkpoint in checkpoints)
    done = sum(
        1
        for checkpoint in checkpoints
        for item, _ in enumerate(checkpoint["items"])
        if (checkpoint["code"], item) in answered
    )
    return done, total
