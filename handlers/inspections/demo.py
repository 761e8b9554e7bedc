"""The inspection rounds' part of the demo's past (handlers/core/demo.py): the two shipped routes with
their schedules, their rounds walked on the working days of the past months — mostly in time, now and
then late, a fault found now and then — and yesterday's power-room round with a transformer running
hot, the repair ticket it opened still open."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core.demo import Past
from handlers.core.people import people_with_role
from handlers.inspections import rounds
from handlers.inspections.routes import TEMPLATES, RouteProblems, keep, parse, resolve, template_names, version_of
from storage.models import InspectionResult, InspectionRound, InspectionRoute, Person, Ticket, TicketEvent

# Rounds are walked over the weeks before yesterday; a longer past would only repeat itself.
WEEKS = 12


async def routes(session: AsyncSession) -> list[InspectionRoute]:
    kept = []
    for name in template_names():
        path = TEMPLATES / f"{name}.yml"
        try:
            kept.append((await keep(session, await resolve(session, parse(path.name, path.read_bytes())), None)).route)
        except RouteProblems:
            continue  # the organisation has not the template's rooms: no such route in its demo
    return kept


def reading(rng: Any, item: dict[str, Any], fault: bool) -> str:
    low, high = Decimal(item.get("min") or "0"), Decimal(item.get("max") or "100")
    if fault:
        return str((high * Decimal("1.12")).quantize(Decimal("0.1")))
    span = high - low
    return str((low + span * Decimal(rng.uniform(0.25, 0.75))).quantize(Decimal("0.01")))


async def walk(
    session: AsyncSession, past: Past, round_: InspectionRound, inspector: Person, fault: bool
) -> InspectionResult | None:
    """The round walked by `inspector`, every item answered; with `fault`, one item found wrong."""
    rng = past.rng
    late = rng.random() < 0.1
    started = round_.due_at - timedelta(minutes=rng.randint(20, 90)) + (timedelta(hours=3) if late else timedelta(0))
    round_.inspector_id, round_.started_at, round_.status = inspector.id, started, "done"
    checkpoints = await rounds.checkpoints_of(session, round_)
    items = [(c, i, item) for c in checkpoints for i, item in enumerate(c["items"])]
    wrong = rng.randrange(len(items)) if fault else None
    if wrong is not None:
        # A reading running out of range is the demo's fault, when the route has one.
        readings = [n for n, (_, _, item) in enumerate(items) if item["kind"] == "reading"]
        wrong = readings[-1] if readings else wrong
    failed: InspectionResult | None = None
    at = started
    for number, (checkpoint, index, item) in enumerate(items):
        at += timedelta(minutes=rng.randint(2, 6))
        bad = number == wrong
        result = InspectionResult(
            round_id=round_.id,
            checkpoint=checkpoint["code"],
            item=index,
            outcome="fail" if bad else "ok",
            value=reading(rng, item, bad) if item["kind"] == "reading" else None,
            person_id=inspector.id,
            at=at,
        )
        session.add(result)
        if bad:
            failed = result
    round_.finished_at = at
    round_.number = rounds.round_number(round_.id, round_.due_at.astimezone(past.zone).year)
    return failed


async def ticket_for(
    session: AsyncSession, past: Past, round_: InspectionRound, failed: InspectionResult, inspector: Person
) -> None:
    """The fault's repair ticket, reported by the inspector and taken by a technician of its category."""
    checkpoints = {c["code"]: c for c in await rounds.checkpoints_of(session, round_)}
    checkpoint = checkpoints[failed.checkpoint]
    item = checkpoint["items"][failed.item]
    category = checkpoint.get("category", "other")
    unit = item.get("unit") or ""
    technicians = await people_with_role(session, "technician", category)
    opened = failed.at
    ticket = Ticket(
        reporter_id=inspector.id,
        category=category,
        room_id=checkpoint.get("room_id"),
        location_text=None if checkpoint.get("room_id") else checkpoint["name"]["zh"],
        description=f"{checkpoint['name']['zh']} · {item['check']['zh']}：读数 {failed.value} {unit}，超出正常范围",
        urgency="high",
        status="assigned" if technicians else "new",
        channel="web",
        created_at=opened,
        assignee_id=technicians[0].id if technicians else None,
        assigned_at=opened if technicians else None,
        due_at=opened + timedelta(hours=8),
    )
    session.add(ticket)
    await session.flush()
    ticket.number = f"R-{opened.astimezone(past.zone).year}-{ticket.id:06d}"
    session.add(TicketEvent(ticket_id=ticket.id, to_status="new", actor_id=inspector.id, at=opened))
    failed.ticket_id, failed.opened_ticket, failed.note = ticket.id, True, "读数超出正常范围"


async def write(session: AsyncSession, past: Past) -> dict[str, int]:
    made = await routes(session)
    if not made:
        return {}
    first = max(past.first, past.last - timedelta(weeks=WEEKS))
    walked = faults = 0
    day: date = first
    while day <= past.last:
        await rounds.plan(session, past.schedule, day)
        day += timedelta(days=1)
    await session.flush()
    found = (await session.scalars(select(InspectionRound).order_by(InspectionRound.due_at))).all()
    yesterday = past.last.isoformat()
    for round_ in found:
        inspectors = await people_with_role(session, "technician", round_.specialty)
        if not inspectors:
            continue
        if round_.day == yesterday:
            continue  # yesterday's are walked below, one of them with its fault
        # One round in twenty-five is missed altogether; one in fifteen finds something.
        if past.rng.random() < 0.04:
            continue
        failed = await walk(session, past, round_, past.rng.choice(inspectors), past.rng.random() < 0.07)
        walked += 1
        if failed is not None:
            await session.flush()
            failed.ticket_id = None  # noted on the round; long since mended
            faults += 1
    await yesterdays_fault(session, past, made)
    await session.flush()
    return {"past inspection rounds": walked + 1, "past inspection faults": faults + 1}


async def yesterdays_fault(session: AsyncSession, past: Past, made: list[InspectionRoute]) -> None:
    """Yesterday's power-room round (or the first route's), walked, with a fault and its open ticket:
    made for yesterday even when the office did not work then, so the demo always has one to show."""
    route = next((r for r in made if r.code == "POWER-DAILY"), made[0])
    round_ = await session.scalar(
        select(InspectionRound).where(
            InspectionRound.route_id == route.id, InspectionRound.day == past.last.isoformat()
        )
    )
    if round_ is None:
        current = await version_of(session, route.id, route.version)
        assert current is not None
        round_ = InspectionRound(
            route_id=route.id,
            version_id=current.id,
            day=past.last.isoformat(),
            due_at=datetime.combine(past.last, datetime.min.time(), past.zone) + timedelta(hours=9, minutes=30),
            specialty="electrical",
        )
        session.add(round_)
        await session.flush()
    inspectors = await people_with_role(session, "technician", round_.specialty) or await people_with_role(
        session, "logistics_admin"
    )
    inspector = inspectors[0]
    failed = await walk(session, past, round_, inspector, fault=True)
    await session.flush()
    if failed is not None:
        await ticket_for(session, past, round_, failed, inspector)
