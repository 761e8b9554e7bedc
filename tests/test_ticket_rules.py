"""Who may move a ticket, checked on the server whatever the button says; and the double Accept."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot.service import AREAS
from handlers.core.conversation import Inbound, Kind, Outcome, Sender
from handlers.core.engine import Houqin
from handlers.core.rules import RepairRules
from handlers.repairs.autoclose import auto_close
from handlers.repairs.tickets import is_overdue, overdue
from storage.db import Database
from storage.models import AuditEntry, PersonRole, Ticket
from tests.tickets import person_id, ticket_in_room_201

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)  # Tuesday 10:00 in Shanghai
keys = itertools.count()

# Who each demo person is to the ticket below (reported by 王芳, assigned to the electrician 赵磊).
PEOPLE = {
    "reporter": "wang.fang",
    "follower": "li.na",
    "stranger": "zhang.wei",
    "other_technician": "zhou.jun",  # furniture, not electrical
    "assignee": "zhao.lei",
    "reporters_manager": "huang.li",  # manages finance, not the technicians
    "logistics_staff": "guo.tao",
    "logistics_admin": "lin.hua",  # also the logistics (technicians') manager
    "admin": "admin",
}
SUPERVISORS = {"logistics_admin", "admin"}
ALLOWED = {
    "accept": {"assignee"},
    "decline": {"assignee"} | SUPERVISORS,
    "start": {"assignee"} | SUPERVISORS,
    "parts": {"assignee"} | SUPERVISORS,
    "resolve": {"assignee"} | SUPERVISORS,
    "rate5": {"reporter"},
    "cancel": {"reporter"} | SUPERVISORS,
    "assign": SUPERVISORS,
    # A follower hears the progress only (handlers/repairs/actions.relay_comment says why).
    "comment": {"reporter", "assignee"} | SUPERVISORS,
}
# The status from which each action is legal, so a refusal can only be about who asks.
FROM = {
    "accept": "assigned",
    "decline": "assigned",
    "start": "accepted",
    "parts": "in_progress",
    "resolve": "in_progress",
    "rate5": "resolved",
    "cancel": "assigned",
    "assign": "assigned",
    "comment": "assigned",
}


@pytest.fixture
async def houqin(db: Database) -> Houqin:
    return Houqin(db, AREAS, "zh_CN", SHANGHAI, clock=lambda: NOW)


async def a_ticket(db: Database, status: str, assignee: str | None = "zhao.lei", category: str = "electrical") -> int:
    stored = await ticket_in_room_201(
        db,
        status=status,
        assignee=assignee,
        category=category,
        followers=("li.na",),
        created=NOW - timedelta(hours=2),
        due=NOW + timedelta(hours=22),
    )
    return stored.id


async def press(houqin: Houqin, key: str, payload: str) -> Outcome:
    sender = Sender("web", key, key, key, None)
    return await houqin.handle(Inbound(sender, Kind.BUTTON, f"press-{next(keys)}", text=payload))


async def state_of(db: Database, ticket_id: int) -> tuple[str, int | None, int]:
    async with db.unit_of_work() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        return ticket.status, ticket.assignee_id, ticket.version


@pytest.mark.parametrize("action", sorted(ALLOWED))
async def test_everyone_who_may_not_is_refused_and_audited(db: Database, houqin: Houqin, action: str) -> None:
    ticket_id = await a_ticket(db, FROM[action])
    before = await state_of(db, ticket_id)
    refused_roles = sorted(set(PEOPLE) - ALLOWED[action])
    for role in refused_roles:
        outcome = await press(houqin, PEOPLE[role], f"tk:{ticket_id}:{action}")
        assert "你没有权限" in outcome.replies[0].text, (action, role, outcome.replies)
        assert await state_of(db, ticket_id) == before, (action, role)
    async with db.unit_of_work() as session:
        audited = await session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.outcome == "refused")
        )
    assert audited == len(refused_roles)


@pytest.mark.parametrize("action", sorted(ALLOWED))
async def test_everyone_who_may_is_let_through(db: Database, houqin: Houqin, action: str) -> None:
    for role in sorted(ALLOWED[action]):
        ticket_id = await a_ticket(db, FROM[action])
        outcome = await press(houqin, PEOPLE[role], f"tk:{ticket_id}:{action}")
        assert not any("你没有权限" in r.text for r in outcome.replies), (action, role, outcome.replies)
        await press(houqin, PEOPLE[role], "s999:_cancel")  # leave any flow the action opened


async def test_an_old_card_acts_on_the_ticket_as_it_is_now(db: Database, houqin: Houqin) -> None:
    ticket_id = await a_ticket(db, "in_progress")
    stale_accept = await press(houqin, "zhao.lei", f"tk:{ticket_id}:accept")
    assert "当前是「维修中」，不能进行这个操作" in stale_accept.replies[0].text
    assert (await state_of(db, ticket_id))[0] == "in_progress"


@pytest.fixture
def two_processes(separate_process: Callable[..., Houqin]) -> tuple[Houqin, Houqin]:
    return separate_process(clock=lambda: NOW), separate_process(clock=lambda: NOW)


async def test_two_technicians_accepting_a_queued_ticket_at_once_one_wins(
    db: Database, two_processes: tuple[Houqin, Houqin]
) -> None:
    tom_id = await person_id(db, "tom.baker")
    async with db.unit_of_work() as session:
        session.add(PersonRole(person_id=tom_id, role="technician", scope="electrical"))
    ticket_id = await a_ticket(db, "new", assignee=None)
    a, b = two_processes
    zhao, tom = await asyncio.gather(
        press(a, "zhao.lei", f"tk:{ticket_id}:accept"), press(b, "tom.baker", f"tk:{ticket_id}:accept")
    )
    status, assignee, _ = await state_of(db, ticket_id)
    winner = "zhao.lei" if assignee == await person_id(db, "zhao.lei") else "tom.baker"
    loser = tom if winner == "zhao.lei" else zhao
    assert status == "accepted"
    number = f"R-2026-{ticket_id:06d}"
    told = {  # the one who lost hears who won, in their own language
        "zhao.lei": f"{number} has already been taken by 赵磊.",
        "tom.baker": f"{number} 已经由 Tom Baker 接单了。",
    }[winner]
    assert loser.replies[0].text == told
    async with db.unit_of_work() as session:
        assert (
            await session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.outcome == "refused"))
            == 0
        )


async def test_due_times_follow_urgency_and_overdue_is_flagged(db: Database) -> None:
    rules = RepairRules()
    late = await a_ticket(db, "accepted")
    async with db.unit_of_work() as session:
        ticket = await session.get(Ticket, late)
        assert ticket is not None
        ticket.due_at = NOW - timedelta(minutes=1)
        assert is_overdue(ticket, NOW) and not is_overdue(ticket, NOW - timedelta(hours=1))
        assert [t.id for t in await overdue(session, NOW)] == [late]
    assert rules.sla["urgent"] == timedelta(hours=4) and rules.sla["low"] == timedelta(days=7)


async def test_resolved_tickets_nobody_confirms_close_themselves_once(db: Database) -> None:
    rules = RepairRules(auto_close_after=timedelta(days=3))
    waiting = await a_ticket(db, "resolved")
    fresh = await a_ticket(db, "resolved")
    async with db.unit_of_work() as session:
        for ticket_id, resolved in ((waiting, NOW - timedelta(days=4)), (fresh, NOW - timedelta(days=1))):
            ticket = await session.get(Ticket, ticket_id)
            assert ticket is not None
            ticket.resolved_at = resolved
    assert await auto_close(db, SHANGHAI, rules, NOW)
    assert not await auto_close(db, SHANGHAI, rules, NOW + timedelta(minutes=20))  # same hour: already done
    assert (await state_of(db, waiting))[0] == "closed"
    assert (await state_of(db, fresh))[0] == "resolved"
