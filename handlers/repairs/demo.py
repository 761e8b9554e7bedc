"""The repairs' part of the demo's past (handlers/core/demo.py): six months of reports with the rhythm a
real office has — more on Mondays, few at weekends, heating and air-conditioning in winter and summer —
each taken by a technician of its specialty, most resolved in time and rated well, a few late, a few
rated low and reopened, the last days' still open."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core.demo import Past, demo_people
from handlers.core.rules import RepairRules
from handlers.repairs.intake import ticket_number
from storage.models import PersonRole, Room, Ticket, TicketEvent

CATEGORIES = {
    "electrical": 5.0,
    "plumbing": 4.0,
    "hvac": 3.0,
    "it": 3.0,
    "furniture": 2.0,
    "cleaning": 2.0,
    "other": 1.0,
}
URGENCIES = {"urgent": 1.0, "high": 3.0, "normal": 6.0, "low": 2.0}
RATINGS = {"5": 52.0, "4": 28.0, "3": 10.0, "2": 6.0, "1": 4.0}
# What people wrote: their own words, in the language they use (the demo's people are mostly Chinese).
SAID = {
    "electrical": ("走廊的灯不亮了", "插座没电", "会议室的灯一直闪", "办公室跳闸了"),
    "plumbing": ("洗手池水龙头关不紧", "卫生间下水道堵了", "饮水机漏水", "马桶一直流水"),
    "hvac": ("空调不制热", "空调滴水", "暖气片不热", "空调遥控器失灵"),
    "it": ("打印机卡纸", "投影仪连不上电脑", "网口没有网络", "The projector in the meeting room has no signal"),
    "furniture": ("椅子扶手坏了", "柜门合页松了", "桌子腿不稳", "门锁打不开"),
    "cleaning": ("走廊地面有积水需要清理", "垃圾桶满了", "卫生间需要保洁"),
    "other": ("窗户关不严", "门禁卡刷不开", "楼道有异味"),
}
WORK = ("已修好", "更换了配件", "调整后恢复正常", "清理完成", "Replaced the part")
LOW_SAID = ("修完第二天又坏了", "等了太久", "还是有问题")
SEASONAL = {12: 3.0, 1: 3.0, 2: 2.5, 6: 2.0, 7: 3.0, 8: 3.0}  # hvac reports by month
Event = dict[str, object]  # a row of ticket_events, written in one batch (write)


def per_day(day: date, past: Past) -> int:
    """How many reports a day brings: Mondays most; days off (weekends, holidays) few."""
    mean = {0: 9.0, 1: 6.5, 2: 6.0, 3: 6.0, 4: 5.0, 5: 1.0, 6: 0.6}[day.weekday()] if past.works_on(day) else 0.8
    return max(0, round(past.rng.gauss(mean, mean / 3)))


async def write(session: AsyncSession, past: Past) -> dict[str, int]:
    rules = RepairRules()
    technicians: dict[str, list[int]] = {}
    for role in await session.scalars(select(PersonRole).where(PersonRole.role == "technician")):
        technicians.setdefault(role.scope, []).append(role.person_id)
    working = {pid for ids in technicians.values() for pid in ids}
    reporters = [p.id for p in await demo_people(session) if p.id not in working]
    rooms = list(await session.scalars(select(Room).order_by(Room.id)))
    if not (technicians and reporters and rooms):
        return {}
    tickets = 0
    for day in past.days():
        made: list[tuple[Ticket, list[Event]]] = []
        for _ in range(per_day(day, past)):
            weights = dict(CATEGORIES, hvac=CATEGORIES["hvac"] * SEASONAL.get(day.month, 0.6))
            category = past.weighted(weights)
            assignee = past.rng.choice(technicians.get(category) or technicians[past.rng.choice(list(technicians))])
            made.append(life(past, day, category, assignee, past.rng.choice(reporters), past.rng.choice(rooms), rules))
        session.add_all(ticket for ticket, _ in made)
        await session.flush()
        history: list[Event] = []
        for ticket, events in made:
            ticket.number = ticket_number(ticket.id, ticket.created_at.astimezone(past.zone).year)
            history.extend(event | {"ticket_id": ticket.id} for event in events)
        if history:
            # In one executemany: added as objects, each would be an INSERT … RETURNING of its own on
            # SQLite, for an id nothing here needs; NULLs written out, or each pattern of missing
            # values (no note, no actor) would start another batch.
            await session.execute(insert(TicketEvent).execution_options(render_nulls=True), history)
        tickets += len(made)
    await session.flush()
    return {"past tickets": tickets}


def life(
    past: Past, day: date, category: str, assignee: int, reporter: int, room: Room, rules: RepairRules
) -> tuple[Ticket, list[Event]]:
    """One report and what became of it, as its history records."""
    rng = past.rng
    opened = past.at(day)
    urgency = past.weighted(URGENCIES)
    due = opened + rules.sla[urgency]
    ticket = Ticket(
        reporter_id=reporter,
        category=category,
        building_id=room.building_id,
        room_id=room.id,
        description=rng.choice(SAID[category]),
        urgency=urgency,
        status="assigned",
        channel=rng.choice(("web", "telegram", "telegram", "slack")),
        created_at=opened,
        assignee_id=assignee,
        assigned_at=opened,
        due_at=due,
    )
    events: list[Event] = []

    def event(before: str | None, after: str, at: datetime, who: int | None, note: str | None = None) -> None:
        events.append({"from_status": before, "to_status": after, "actor_id": who, "note": note, "at": at})
        ticket.status = after

    event(None, "new", opened, reporter)
    event("new", "assigned", opened, None)
    accepted = opened + timedelta(minutes=rng.randint(5, 90))
    end_of_past = past.at(past.last, 18, 19)
    if accepted >= end_of_past:
        return ticket, events
    event("assigned", "accepted", accepted, assignee)
    if past.last - day < timedelta(days=10) and due < end_of_past and rng.random() < 0.15:
        # Stuck waiting for parts, and past its time by now (what the reminders chase).
        event("accepted", "in_progress", accepted + timedelta(minutes=30), assignee)
        event(
            "in_progress",
            "waiting_parts",
            accepted + timedelta(hours=1),
            assignee,
            rng.choice(("等配件", "配件已订购")),
        )
        return ticket, events
    # Most in time; one in eight late, by up to a day and a half.
    late = rng.random() < 0.12
    took = rules.sla[urgency] * rng.uniform(1.05, 1.5) if late else rules.sla[urgency] * rng.uniform(0.1, 0.9)
    resolved = accepted + max(took, timedelta(minutes=30))
    started = accepted + (resolved - accepted) / 4
    if started < end_of_past:
        event("accepted", "in_progress", started, assignee)
    if resolved >= end_of_past:
        return ticket, events  # still being worked on today (and perhaps overdue)
    event("in_progress", "resolved", resolved, assignee, rng.choice(WORK))
    ticket.resolved_at = resolved
    rated = resolved + timedelta(hours=rng.uniform(1, 30))
    if rated >= end_of_past:
        return ticket, events
    if rng.random() < 0.25:  # never rated: closed by itself once the wait was over
        ticket.closed_at = resolved + rules.auto_close_after
        if ticket.closed_at < end_of_past:
            event("resolved", "closed", ticket.closed_at, None)
        return ticket, events
    stars = int(past.weighted(RATINGS))
    if stars <= 2:  # disputed: reopened, mended again, then rated
        ticket.rating, ticket.rating_comment, ticket.reopen_count = stars, rng.choice(LOW_SAID), 1
        event("resolved", "reopened", rated, reporter, f"★{stars}")
        again = rated + timedelta(hours=rng.uniform(2, 20))
        if again >= end_of_past:
            return ticket, events
        event("reopened", "in_progress", rated + (again - rated) / 3, assignee)
        event("in_progress", "resolved", again, assignee, rng.choice(WORK))
        ticket.resolved_at = again
        rated = again + timedelta(hours=rng.uniform(1, 20))
        if rated >= end_of_past:
            return ticket, events
        stars = rng.choice((3, 4, 4, 5))
    ticket.rating = stars
    ticket.closed_at = rated
    event("resolved", "closed", rated, reporter, f"★{stars}")
    return ticket, events
