"""A supply requisition's life after the cart: reservation, the approval chain (with delegates),
fulfilment, and who hears about each step.

Every action re-reads the requisition and re-checks the actor here, on the server: a button only
says which action someone asked for, never that they may. Refusals change nothing and are audited.
Stock moves with the status in the same transaction (handlers/supplies/stock.py): submitting reserves,
rejecting or cancelling releases, handing out deducts.

The chain: the requester's department manager (or the manager's delegate for today) approves or
rejects; a requisition above the organisation's quantity or value threshold then goes to a logistics
admin. Approved ones reach the logistics staff, who mark them ready for pickup and hand them out.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime, time, timedelta
from typing import NoReturn
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from handlers.core import audit, authz, ids, refusals
from handlers.core.actor import Actor, SupplyActor, supply_actor
from handlers.core.adminkit import MAX_ROWS, Period, when
from handlers.core.area import Area, Export
from handlers.core.flow import (
    Action,
    ChoiceStep,
    ConfirmStep,
    Flow,
    Goto,
    Invalid,
    NumberStep,
    Option,
    Rows,
    StepContext,
    Submitted,
    TextStep,
    said,
)
from handlers.core.i18n import Label, Lines, Msg, Renderable, msg, translate
from handlers.core.outbox import Notice, notify
from handlers.core.people import find_person, managed_departments, people_with_role
from handlers.core.refusals import Refused, refused
from handlers.core.reminders import Context as ReminderContext
from handlers.core.sends import Delivery, fixed
from handlers.core.sheets import Cell
from handlers.core.text import visible_length
from handlers.supplies import stock
from storage.models import (
    ApprovalDelegation,
    Department,
    OutboxMessage,
    Person,
    PersonRole,
    Requisition,
    RequisitionEvent,
    RequisitionLine,
    SupplyItem,
)

STATUSES = ("pending_manager", "pending_admin", "approved", "ready", "handed_out", "rejected", "cancelled")
PENDING = ("pending_manager", "pending_admin")
OPEN = (*PENDING, "approved", "ready")
CLOSED = ("handed_out", "rejected", "cancelled")
# action -> the statuses it may be taken from
FROM: dict[str, tuple[str, ...]] = {
    "approve": PENDING,
    "reject": PENDING,
    "cancel": OPEN,
    "ready": ("approved",),
    "handout": ("approved", "ready"),
    "partial": ("approved", "ready"),
}
NUMBER = re.compile(r"^S-\d{4}-\d{6}$")
# Who fulfils and who gives the second approval (declared below, judged by handlers/core/authz.py).
FULFIL = authz.rule("logistics_staff", "logistics_admin")
SECOND_APPROVAL = authz.rule(*authz.STORES)
LOGISTICS = authz.holders(FULFIL)
SECOND_STEP = authz.holders(SECOND_APPROVAL)


def requisition_number(requisition_id: int, year: int) -> str:
    return f"S-{year}-{requisition_id:06d}"


# --- submitting: reservation and routing ----------------------------------------------------------


class Shortage(Exception):
    """Fewer are available than the cart asks for; nothing was reserved."""

    def __init__(self, item: SupplyItem, available: int) -> None:
        super().__init__(item.code)
        self.item, self.available = item, available


class OverLimit(Exception):
    def __init__(self, item: SupplyItem, used: int) -> None:
        super().__init__(item.code)
        self.item, self.used = item, used


class Unavailable(Exception):
    """An item in the cart is no longer in the catalog (removed or withdrawn since it was chosen)."""

    def __init__(self, item_id: int, item: SupplyItem | None) -> None:
        super().__init__(item_id)
        self.item_id, self.item = item_id, item


def month_start(actor: SupplyActor) -> datetime:
    local = actor.now.astimezone(actor.zone)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


async def used_this_month(session: AsyncSession, person_id: int, item_id: int, since: datetime) -> int:
    """How many of an item a person has asked for this month, in requisitions still standing
    (what was handed out, for those already handed out)."""
    counted = case(
        (Requisition.status == "handed_out", func.coalesce(RequisitionLine.handed_out, RequisitionLine.quantity)),
        else_=RequisitionLine.quantity,
    )
    used = await session.scalar(
        select(func.coalesce(func.sum(counted), 0))
        .join(Requisition, Requisition.id == RequisitionLine.requisition_id)
        .where(
            Requisition.requester_id == person_id,
            RequisitionLine.item_id == item_id,
            Requisition.created_at >= since,
            Requisition.status.not_in(("rejected", "cancelled")),
        )
    )
    return int(used or 0)


async def submit(actor: SupplyActor, cart: Sequence[tuple[int, int]], purpose: str) -> Requisition:
    """Reserve every line and file the requisition, or raise (Shortage, OverLimit, Unavailable)
    having reserved nothing: the caller runs this in a savepoint (the engine does for a flow)."""
    session, now = actor.session, actor.now
    # One person's submissions one at a time, so two at once cannot both fit under a monthly limit.
    # (SQLite serialises whole write transactions anyway; this is PostgreSQL's row lock.)
    await session.execute(select(Person.id).where(Person.id == actor.person.id).with_for_update())
    wanted: dict[int, int] = {}
    for item_id, quantity in cart:
        wanted[item_id] = wanted.get(item_id, 0) + quantity
    found = await session.scalars(
        select(SupplyItem).where(SupplyItem.id.in_(wanted)).execution_options(populate_existing=True)
    )
    items = {item.id: item for item in found}
    since = month_start(actor)
    for item_id in wanted:
        item = items.get(item_id)
        if item is None or not item.active:
            raise Unavailable(item_id, item)
        if item.monthly_limit is not None:
            used = await used_this_month(session, actor.person.id, item_id, since)
            if used + wanted[item_id] > item.monthly_limit:
                raise OverLimit(item, used)
    requisition = Requisition(
        requester_id=actor.person.id,
        department_id=actor.person.department_id,
        purpose=purpose,
        status="pending_manager",
        channel=actor.channel,
        created_at=now,
        total_quantity=sum(wanted.values()),
        total_value=sum((items[i].unit_price or 0) * q for i, q in wanted.items()),
    )
    session.add(requisition)
    await session.flush()
    requisition.number = requisition_number(requisition.id, now.astimezone(actor.zone).year)
    change = stock.Change(session, actor.person.id, now, requisition.id)
    # In item order, so two carts holding the same items never wait on each other's rows in turn.
    for item_id in sorted(wanted):
        if not await stock.reserve(change, item_id, wanted[item_id]):
            raise Shortage(items[item_id], (await stock.fresh(session, item_id)).available)
    for item_id, quantity in wanted.items():
        session.add(
            RequisitionLine(
                requisition_id=requisition.id, item_id=item_id, quantity=quantity, unit_price=items[item_id].unit_price
            )
        )
    rules = actor.rules
    requisition.needs_second = (
        requisition.total_quantity > rules.second_step_quantity or requisition.total_value > rules.second_step_value
    )
    await session.flush()
    await session.refresh(requisition, ["lines", "department", "requester"])
    if not await first_step_approvers(session, requisition, actor.today):
        # Nobody in the department may approve it (no manager, or the manager asks for themselves).
        requisition.status = "pending_admin"
    session.add(
        RequisitionEvent(requisition_id=requisition.id, to_status=requisition.status, actor_id=actor.person.id, at=now)
    )
    audit.done(
        actor,
        action="requisition.submit",
        record=requisition.number,
        lines=[[i, q] for i, q in wanted.items()],
        status=requisition.status,
    )
    await session.flush()
    await tell_everyone(actor, requisition, "submit")
    return requisition


# --- who may do what ------------------------------------------------------------------------------


async def managers_of(session: AsyncSession, department_code: str | None, requester_id: int) -> list[Person]:
    if department_code is None:
        return []
    managers = await people_with_role(session, "manager", department_code)
    return [m for m in managers if m.id != requester_id]


async def department_managers(session: AsyncSession, requisition: Requisition) -> list[Person]:
    code = requisition.department.code if requisition.department is not None else None
    return await managers_of(session, code, requisition.requester_id)


async def approvers_for(
    session: AsyncSession, department_code: str | None, requester_id: int, today: date
) -> list[Person]:
    """The department's managers (not the requester), and whoever stands in for one of them today."""
    managers = await managers_of(session, department_code, requester_id)
    if not managers:
        return []
    delegates = await session.scalars(
        select(Person)
        .join(ApprovalDelegation, ApprovalDelegation.delegate_id == Person.id)
        .where(
            ApprovalDelegation.manager_id.in_([m.id for m in managers]),
            ApprovalDelegation.starts_on <= today,
            ApprovalDelegation.ends_on >= today,
            Person.id != requester_id,
            Person.left_at.is_(None),
        )
        .order_by(Person.id)
    )
    approvers = list(managers)
    for delegate in delegates.unique():
        if delegate.id not in {p.id for p in approvers}:
            approvers.append(delegate)
    return approvers


async def first_step_approvers(session: AsyncSession, requisition: Requisition, today: date) -> list[Person]:
    code = requisition.department.code if requisition.department is not None else None
    return await approvers_for(session, code, requisition.requester_id, today)


async def route(actor: SupplyActor, quantity: int, value: int) -> Msg:
    """Who will decide on a cart like this, said before it is submitted."""
    department = actor.person.department.code if actor.person.department is not None else None
    approvers = await approvers_for(actor.session, department, actor.person.id, actor.today)
    over_quantity = quantity > actor.rules.second_step_quantity
    over_value = value > actor.rules.second_step_value
    if not approvers:
        return msg("requisition.route.admin_only")
    names = " / ".join(p.display_name for p in approvers)
    if not (over_quantity or over_value):
        return msg("requisition.route.manager", names=names)
    # Say which threshold it is above, with the figures, rather than hedging "quantity or value".
    if over_quantity and over_value:
        key = "requisition.route.manager_then_admin_both"
    elif over_quantity:
        key = "requisition.route.manager_then_admin_quantity"
    else:
        key = "requisition.route.manager_then_admin_value"
    return msg(
        key,
        names=names,
        quantity=quantity,
        quantity_limit=actor.rules.second_step_quantity,
        value=stock.yuan(value),
        value_limit=stock.yuan(actor.rules.second_step_value),
    )


def second_step(person: Person) -> bool:
    return authz.allowed(person, "requisition.second_approval")


def logistics(person: Person) -> bool:
    return authz.allowed(person, "requisition.fulfil")


async def decides_now(actor: SupplyActor, requisition: Requisition) -> bool:
    """Whether the actor may approve or reject at the step the requisition is at."""
    if actor.person.id == requisition.requester_id:
        return False
    if requisition.status == "pending_manager":
        approvers = await first_step_approvers(actor.session, requisition, actor.today)
        return actor.person.id in {p.id for p in approvers}
    return requisition.status == "pending_admin" and second_step(actor.person)


async def passed_by(actor: SupplyActor, requisition: Requisition) -> bool:
    """An approver whose step is behind the requisition (their own decision, or a colleague's):
    pressing an old card again is not an intrusion, just late."""
    person = actor.person
    if person.id in (requisition.first_approver_id, requisition.second_approver_id):
        return True
    if requisition.status != "pending_manager" and person.id in {
        p.id for p in await first_step_approvers(actor.session, requisition, actor.today)
    }:
        return True
    return second_step(person) and requisition.status not in PENDING and person.id != requisition.requester_id


async def may(actor: SupplyActor, action: str, requisition: Requisition) -> bool:
    person = actor.person
    if action == "cancel":
        return person.id == requisition.requester_id or person.has_role("logistics_admin")
    if action in ("ready", "handout", "partial"):
        return logistics(person)
    if action == "view":
        return (
            person.id in (requisition.requester_id, requisition.first_approver_id, requisition.second_approver_id)
            or logistics(person)
            or second_step(person)
            or person.id in {p.id for p in await first_step_approvers(actor.session, requisition, actor.today)}
            or person.id in {p.id for p in await department_managers(actor.session, requisition)}
        )
    return False


async def find(session: AsyncSession, ref: str | int) -> Requisition | None:
    requisition_id = ref if isinstance(ref, int) else ids.parse_id(ref.strip())
    if requisition_id is not None:
        return await session.get(Requisition, requisition_id, populate_existing=True)
    return await session.scalar(
        select(Requisition)
        .where(Requisition.number == str(ref).strip().upper())
        .execution_options(populate_existing=True)
    )


async def load(actor: SupplyActor, ref: str | int, action: str) -> Requisition:
    """The requisition, if it exists and the actor may do `action` to it now; else Refused (audited
    when they may not do it at all, not when the requisition merely moved on)."""
    requisition = await find(actor.session, ref)
    if requisition is None:
        raise Refused(msg("requisition.error.not_found", ref=str(ref)[:24]), audit=False)
    if action in ("approve", "reject"):
        if requisition.status in PENDING and await decides_now(actor, requisition):
            return requisition
        if await passed_by(actor, requisition):
            raise not_now(requisition)
        refuse(actor, action, requisition)
    if not await may(actor, action, requisition):
        refuse(actor, action, requisition)
    if action in FROM and requisition.status not in FROM[action]:
        raise not_now(requisition)
    return requisition


def not_now(requisition: Requisition) -> Refused:
    return Refused(
        msg("requisition.error.not_now", number=requisition.number, status=status_text(requisition)), audit=False
    )


def refuse(actor: SupplyActor, action: str, requisition: Requisition) -> NoReturn:
    reason = msg("requisition.error.not_allowed", number=requisition.number)
    refusals.refuse(actor, f"requisition.{action}", requisition.number, reason)


# --- moving a requisition -------------------------------------------------------------------------


async def move(
    actor: SupplyActor,
    requisition: Requisition,
    to: str,
    action: str,
    note: str | None = None,
    stock_change: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """The requisition moves to `to`, and then what goes with the move (`stock_change`) happens.

    The move is written first, as the requisition's versioned UPDATE: that is the claim. Of two
    people deciding it at once (the requester and an admin both cancelling, a cancel and a rejection),
    on PostgreSQL the second one's UPDATE waits for the first to commit, then finds the version gone
    (StaleDataError) and the engine handles that delivery again from the start, which tells them it
    is no longer possible. Were stock released first, the second would find it already given back.
    """
    before = requisition.status
    requisition.status = to
    if to in CLOSED:
        requisition.closed_at = actor.now
    await actor.session.flush()
    if stock_change is not None:
        await stock_change()
    actor.session.add(
        RequisitionEvent(
            requisition_id=requisition.id,
            from_status=before,
            to_status=to,
            actor_id=actor.person.id,
            note=note,
            at=actor.now,
        )
    )
    audit.done(actor, f"requisition.{action}", requisition.number, **{"from": before, "to": to})
    await actor.session.flush()
    await tell_everyone(actor, requisition, action, note)


def change_of(actor: SupplyActor, requisition: Requisition, note: str | None = None) -> stock.Change:
    return stock.Change(actor.session, actor.person.id, actor.now, requisition.id, note)


async def release_all(actor: SupplyActor, requisition: Requisition) -> None:
    change = change_of(actor, requisition)
    for line in sorted(requisition.lines, key=lambda line: line.item_id):
        await stock.release(change, line.item_id, line.quantity)


async def approve(actor: SupplyActor, ref: str | int) -> Requisition:
    requisition = await load(actor, ref, "approve")
    if requisition.status == "pending_manager":
        requisition.first_approver = actor.person
        # An approver who also approves the second step does not need to be asked twice.
        if requisition.needs_second and not second_step(actor.person):
            await move(actor, requisition, "pending_admin", "approve", note=on_behalf(actor, requisition))
            return requisition
        if requisition.needs_second:
            requisition.second_approver = actor.person
    else:
        requisition.second_approver = actor.person
    await move(actor, requisition, "approved", "approve", note=on_behalf(actor, requisition))
    return requisition


def on_behalf(actor: SupplyActor, requisition: Requisition) -> str | None:
    if requisition.status != "pending_manager" or requisition.department is None:
        return None
    manages = any(r.role == "manager" and r.scope == requisition.department.code for r in actor.person.roles)
    return None if manages else "delegate"


async def reject(actor: SupplyActor, ref: str | int, reason: str) -> Requisition:
    requisition = await load(actor, ref, "reject")
    if requisition.status == "pending_manager":
        requisition.first_approver = actor.person
    else:
        requisition.second_approver = actor.person
    requisition.reject_reason = reason
    await move(
        actor, requisition, "rejected", "reject", note=reason, stock_change=lambda: release_all(actor, requisition)
    )
    return requisition


async def cancel(actor: SupplyActor, ref: str | int) -> Requisition:
    requisition = await load(actor, ref, "cancel")
    await move(actor, requisition, "cancelled", "cancel", stock_change=lambda: release_all(actor, requisition))
    return requisition


async def ready(actor: SupplyActor, ref: str | int, place: str) -> Requisition:
    requisition = await load(actor, ref, "ready")
    requisition.pickup_place = place
    requisition.handler = actor.person
    await move(actor, requisition, "ready", "ready", note=place)
    return requisition


async def hand_out(actor: SupplyActor, ref: str | int, given: dict[int, int] | None = None) -> Requisition:
    """Everything asked for leaves the shelf, or (`given`: line id -> how many) only part of it: the
    rest is released back to stock and the line records what was really handed out."""
    requisition = await load(actor, ref, "partial" if given is not None else "handout")
    lines = sorted(requisition.lines, key=lambda line: line.item_id)
    counts = [
        line.quantity if given is None else max(0, min(line.quantity, given.get(line.id, line.quantity)))
        for line in lines
    ]
    partial = any(count < line.quantity for line, count in zip(lines, counts, strict=True))

    async def off_the_shelf() -> None:
        change = change_of(actor, requisition)
        for line, count in zip(lines, counts, strict=True):
            await stock.hand_out(change, line.item_id, count, line.quantity)
            line.handed_out = count

    requisition.handler = actor.person
    action = "partial" if partial else "handout"
    await move(
        actor, requisition, "handed_out", action, note="partial" if partial else None, stock_change=off_the_shelf
    )
    return requisition


# --- delegates ------------------------------------------------------------------------------------

DATE = re.compile(r"^(?:(\d{4})[-/.年])?(\d{1,2})[-/.月](\d{1,2})日?$")
MAX_DELEGATION = timedelta(days=92)


def parse_day(text: str, today: date) -> date | None:
    word = text.strip().casefold()
    if word in ("today", "今天"):
        return today
    if word in ("tomorrow", "明天"):
        return today + timedelta(days=1)
    found = DATE.match(word)
    if found is None:
        return None
    year = int(found.group(1)) if found.group(1) else today.year
    try:
        day = date(year, int(found.group(2)), int(found.group(3)))
    except ValueError:
        return None
    if not found.group(1) and day < today:
        day = day.replace(year=today.year + 1)  # "01-05" in December means next January
    return day


async def delegate_command(ctx: StepContext, args: str) -> Action:
    """/delegate NAME FROM [TO]: someone approves for me in those days; /delegate off; /delegate."""
    actor = supply_actor(ctx)
    if not authz.allowed_somewhere(ctx.person, "requisition.delegate"):
        return said(
            refused(ctx, action="requisition.delegate", record=None, reason=msg("requisition.delegate.only_managers"))
        )
    words = args.split()
    if not words:
        return said(await delegations_of(actor))
    if words[0].casefold() in ("off", "none", "取消"):
        ended = await end_delegations(ctx.session, actor.today, ApprovalDelegation.manager_id == ctx.person.id)
        audit.done(ctx, action="requisition.delegate_off", ended=ended)
        return said(msg("requisition.delegate.ended", count=ended))
    days: list[date] = []
    while words and (day := parse_day(words[-1], actor.today)) is not None and len(days) < 2:
        days.insert(0, day)
        words.pop()
    if not words or not days:
        return said(msg("requisition.delegate.usage"))
    starts, ends = days[0], days[-1]
    delegate = await find_person(ctx.session, " ".join(words), first_namesake=True)
    if delegate is None:
        return said(msg("requisition.delegate.no_such_person", name=" ".join(words)[:40]))
    if delegate.id == ctx.person.id:
        return said(msg("requisition.delegate.not_yourself"))
    if starts < actor.today or ends < starts or ends - starts > MAX_DELEGATION:
        return said(msg("requisition.delegate.bad_dates", days=MAX_DELEGATION.days))
    ctx.session.add(
        ApprovalDelegation(manager_id=ctx.person.id, delegate_id=delegate.id, starts_on=starts, ends_on=ends)
    )
    audit.done(
        ctx,
        action="requisition.delegate",
        record=f"person:{delegate.id}",
        **{"from": starts.isoformat(), "to": ends.isoformat()},
    )
    told = msg("requisition.delegate.told", manager=ctx.person.display_name, start=str(starts), end=str(ends))
    await notify(ctx.session, Notice(delegate.id, told), ctx.now)
    return said(msg("requisition.delegate.done", name=delegate.display_name, start=str(starts), end=str(ends)))


async def end_delegations(session: AsyncSession, today: date, which: ColumnElement[bool]) -> int:
    """The delegations `which` picks stop today: one not begun yet is deleted, the others end yesterday."""
    found = await session.scalars(select(ApprovalDelegation).where(which, ApprovalDelegation.ends_on >= today))
    ended = 0
    for delegation in found.all():
        if delegation.starts_on > today:
            await session.delete(delegation)
        else:
            delegation.ends_on = today - timedelta(days=1)
        ended += 1
    return ended


async def leaver(ctx: StepContext, person: Person) -> None:
    """Area.leavers: someone who leaves (handlers/core/membership.leave) stands in for nobody and has
    nobody stand in for them; what they asked for is cancelled with its stock released; what waited
    for their approval goes to the next approver, as when a department has no manager."""
    actor = supply_actor(ctx)
    session, today = actor.session, actor.today
    theirs = or_(ApprovalDelegation.manager_id == person.id, ApprovalDelegation.delegate_id == person.id)
    await end_delegations(session, today, theirs)
    own = await session.scalars(
        select(Requisition)
        .where(Requisition.requester_id == person.id, Requisition.status.in_((*PENDING, "approved", "ready")))
        .order_by(Requisition.id)
    )
    for requisition in own.unique().all():
        await move(
            actor,
            requisition,
            "cancelled",
            "cancel",
            note="left",
            stock_change=functools.partial(release_all, actor, requisition),
        )
    waiting = await session.scalars(
        select(Requisition).where(Requisition.status == "pending_manager").order_by(Requisition.id)
    )
    for requisition in waiting.unique().all():
        if not await first_step_approvers(session, requisition, today):
            await move(actor, requisition, "pending_admin", "escalate", note="left")
    if second_step(person):
        # A second approver left: the others (or the admins, when no logistics admin is left) get the cards.
        second = await session.scalars(
            select(Requisition).where(Requisition.status == "pending_admin").order_by(Requisition.id)
        )
        for requisition in second.unique().all():
            await tell_everyone(actor, requisition, "escalate")


async def delegations_of(actor: SupplyActor) -> Renderable:
    found = (
        await actor.session.scalars(
            select(ApprovalDelegation)
            .where(ApprovalDelegation.manager_id == actor.person.id, ApprovalDelegation.ends_on >= actor.today)
            .order_by(ApprovalDelegation.starts_on)
        )
    ).all()
    if not found:
        return msg("requisition.delegate.none")
    lines = tuple(
        msg("requisition.delegate.line", name=d.delegate.display_name, start=str(d.starts_on), end=str(d.ends_on))
        for d in found
    )
    return msg("requisition.delegate.list", lines=Lines(lines))


# --- what people see ------------------------------------------------------------------------------


def card_key(requisition: Requisition, person_id: int) -> str:
    return f"requisition:{requisition.id}:{person_id}"


def line_text(line: RequisitionLine) -> Msg:
    params = {
        "name": stock.item_label(line.item),
        "quantity": line.quantity,
        "unit": stock.unit_of(line.item, line.quantity),
    }
    if line.handed_out is not None and line.handed_out != line.quantity:
        return msg("requisition.line_given", given=line.handed_out, **params)
    return msg("requisition.line", **params)


def status_text(requisition: Requisition) -> Renderable:
    status = msg(f"requisition.status.{requisition.status}")
    if requisition.status == "ready":
        return msg("requisition.card.ready_at", status=status, place=requisition.pickup_place or "—")
    if requisition.status == "rejected":
        by = requisition.second_approver or requisition.first_approver
        return msg(
            "requisition.card.rejected_by",
            status=status,
            name=by.display_name if by else "—",
            reason=requisition.reject_reason or "—",
        )
    return status


def card(requisition: Requisition) -> Msg:
    """The requisition as approvers and logistics staff see it: who, what, why, and where it is."""
    department = requisition.department
    approvers = [p.display_name for p in (requisition.first_approver, requisition.second_approver) if p is not None]
    decided: Renderable = Lines(())
    if approvers and requisition.status not in ("rejected", "pending_manager"):
        decided = msg("requisition.card.decided_by", names=" / ".join(dict.fromkeys(approvers)))
    return msg(
        "requisition.card",
        number=requisition.number,
        requester=requisition.requester.display_name,
        department=Label(department.name_zh, department.name_en) if department else Label("—", "—"),
        purpose=requisition.purpose,
        lines=Lines(tuple(line_text(line) for line in requisition.lines)),
        total=requisition.total_quantity,
        value=stock.yuan(requisition.total_value) if requisition.total_value else "—",
        status=status_text(requisition),
        decided=decided,
    )


async def actions_now(actor: SupplyActor, requisition: Requisition) -> list[str]:
    """What the actor may do to it now, in the order the buttons show."""
    found = []
    if requisition.status in PENDING and await decides_now(actor, requisition):
        found += ["approve", "reject"]
    if logistics(actor.person):
        if requisition.status == "approved":
            found += ["ready", "handout", "partial"]
        elif requisition.status == "ready":
            found += ["handout", "partial"]
    return found


def buttons(requisition: Requisition, actions: Sequence[str]) -> Rows:
    row = tuple((msg(f"requisition.button.{action}"), f"rq:{requisition.id}:{action}") for action in actions)
    return (row,) if row else ()


async def card_holders(session: AsyncSession, requisition: Requisition) -> list[int]:
    """Everyone who was ever sent this requisition's card: they get each new version of it."""
    found = await session.scalars(
        select(OutboxMessage.person_id).where(OutboxMessage.card_key.like(f"requisition:{requisition.id}:%")).distinct()
    )
    return [person_id for person_id in found.all() if person_id is not None]


async def newly_concerned(actor: SupplyActor, requisition: Requisition) -> list[Person]:
    """Who must act on it now that it is where it is."""
    session = actor.session
    if requisition.status == "pending_manager":
        return await first_step_approvers(session, requisition, actor.today)
    if requisition.status == "pending_admin":
        admins = await people_with_role(session, "logistics_admin")
        if not [p for p in admins if p.id != requisition.requester_id]:
            admins = await people_with_role(session, "admin")
        return [p for p in admins if p.id != requisition.requester_id]
    if requisition.status == "approved":
        return await people_with_role(session, "logistics_staff") or await people_with_role(session, "logistics_admin")
    return []


async def tell_everyone(actor: SupplyActor, requisition: Requisition, action: str, note: str | None = None) -> None:
    """Each card holder (and whoever must act now) gets the card as it is now, with the buttons they
    may press; the requester hears of every decision, in their language, when they are sent it."""
    session, now = actor.session, actor.now
    people: dict[int, Person] = {}
    for person in await newly_concerned(actor, requisition):
        people[person.id] = person
    for person_id in await card_holders(session, requisition):
        holder = people.get(person_id) or await session.get(Person, person_id)
        if holder is not None:
            people[person_id] = holder
    people.pop(requisition.requester_id, None)
    for person in people.values():
        viewer = Actor(session, person, actor.channel, now, actor.zone, actor.rules)
        notice = Notice(
            person.id,
            card(requisition),
            buttons(requisition, await actions_now(viewer, requisition)),
            card_key(requisition, person.id),
        )
        await notify(session, notice, now)
    if actor.person.id != requisition.requester_id and (update := requester_notice(requisition, action, actor)):
        await notify(session, Notice(requisition.requester_id, update), now)


def requester_notice(requisition: Requisition, action: str, actor: SupplyActor) -> Msg | None:
    who = actor.person.display_name
    number = requisition.number
    if action == "approve" and requisition.status == "pending_admin":
        return msg("requisition.notice.approved_first", number=number, approver=who)
    if action == "approve":
        return msg("requisition.notice.approved", number=number, approver=who)
    if action == "reject":
        return msg("requisition.notice.rejected", number=number, approver=who, reason=requisition.reject_reason)
    if action == "ready":
        return msg("requisition.notice.ready", number=number, place=requisition.pickup_place)
    if action == "handout":
        return msg("requisition.notice.handed_out", number=number)
    if action == "partial":
        lines = Lines(tuple(line_text(line) for line in requisition.lines))
        return msg("requisition.notice.handed_out_partial", number=number, lines=lines)
    if action == "cancel":
        return msg("requisition.notice.cancelled", number=number, who=who)
    return None


async def history(session: AsyncSession, requisition: Requisition, zone: ZoneInfo) -> Lines:
    names = {
        row.id: row.display_name
        for row in await session.execute(
            select(Person.id, Person.display_name).where(
                Person.id.in_([e.actor_id for e in requisition.history if e.actor_id])
            )
        )
    }
    return Lines(
        tuple(
            msg(
                "requisition.history_line",
                at=event.at.astimezone(zone).strftime("%m-%d %H:%M"),
                status=msg(f"requisition.status.{event.to_status}"),
                actor=names.get(event.actor_id or 0, "Houqin"),
            )
            for event in requisition.history
        )
    )


# --- buttons and commands -------------------------------------------------------------------------


async def on_button(ctx: StepContext, value: str) -> Action:
    """rq:<requisition id>:<action>, from a card or a list."""
    ref, _, action = value.partition(":")
    requisition_id = ids.parse_id(ref)
    if requisition_id is None:
        return said(msg("dialog.error.forged_button"))
    actor = supply_actor(ctx)
    # Decisions are pressed on cards that redraw themselves through the outbox; "view" sits on a list.
    on_card = action != "view"
    try:
        return dataclasses.replace(await press(actor, requisition_id, action), on_card=on_card)
    except Refused as refused:
        return Action(say=((refused.reason, ()),), toast=refused.reason, on_card=on_card)


async def press(actor: SupplyActor, requisition_id: int, action: str) -> Action:
    if action == "approve":
        requisition = await approve(actor, requisition_id)
        done = msg("requisition.done.approve", number=requisition.number)
        return Action(toast=done, chosen=msg("requisition.button.approve"))
    if action in ("cancel", "handout"):
        requisition = await (cancel(actor, requisition_id) if action == "cancel" else hand_out(actor, requisition_id))
        done = msg(f"requisition.done.{action}", number=requisition.number)
        return Action(say=((done, ()),), toast=done, chosen=msg(f"requisition.button.{action}"))
    flows = {"reject": REJECT, "ready": READY, "partial": PARTIAL}
    if action in flows:
        requisition = await load(actor, requisition_id, action)
        return Action(
            start=(flows[action].name, {"requisition": requisition.id}), chosen=msg(f"requisition.button.{action}")
        )
    if action == "view":
        return await view(actor, str(requisition_id))
    # No such action: a made-up payload. Audited like any other forged button.
    forged = msg("dialog.error.forged_button")
    return said(
        refused(
            actor, action="button.forged", record=f"rq:{requisition_id}", reason=forged, detail={"action": action[:40]}
        )
    )


async def view(actor: SupplyActor, ref: str) -> Action:
    requisition = await load(actor, ref, "view")
    text = msg(
        "requisition.view", card=card(requisition), history=await history(actor.session, requisition, actor.zone)
    )
    actions = await actions_now(actor, requisition)
    if requisition.status in FROM["cancel"] and await may(actor, "cancel", requisition):
        actions.append("cancel")
    return said(text, buttons(requisition, actions))


async def requisition_command(ctx: StepContext, args: str) -> Action:
    ref = args.strip().split(" ")[0] if args.strip() else ""
    if not ref:
        return said(msg("requisition.usage"))
    try:
        return await view(supply_actor(ctx), ref)
    except Refused as refused:
        return said(refused.reason)


def list_line(requisition: Requisition, zone: ZoneInfo) -> Msg:
    return msg(
        "requisition.list_line",
        number=requisition.number,
        requester=requisition.requester.display_name,
        count=len(requisition.lines),
        status=msg(f"requisition.status.{requisition.status}"),
        at=requisition.created_at.astimezone(zone).strftime("%m-%d %H:%M"),
    )


async def mine(actor: SupplyActor) -> list[Requisition]:
    found = await actor.session.scalars(
        select(Requisition)
        .where(Requisition.requester_id == actor.person.id, Requisition.status.in_(OPEN))
        .order_by(Requisition.id.desc())
        .limit(20)
    )
    return list(found.all())


async def awaiting_decision(actor: SupplyActor) -> list[Requisition]:
    """Pending requisitions the actor may approve now: their departments' (or a delegator's), and
    the second step for logistics admins."""
    person = actor.person
    departments = set(managed_departments(person))
    delegators = (
        await actor.session.scalars(
            select(PersonRole.scope)
            .join(ApprovalDelegation, ApprovalDelegation.manager_id == PersonRole.person_id)
            .where(
                PersonRole.role == "manager",
                ApprovalDelegation.delegate_id == person.id,
                ApprovalDelegation.starts_on <= actor.today,
                ApprovalDelegation.ends_on >= actor.today,
            )
        )
    ).all()
    departments |= set(delegators)
    conditions: list[ColumnElement[bool]] = []
    if departments:
        ids = select(Department.id).where(Department.code.in_(departments))
        conditions.append((Requisition.status == "pending_manager") & Requisition.department_id.in_(ids))
    if second_step(person):
        conditions.append(Requisition.status == "pending_admin")
    if not conditions:
        return []
    found = await actor.session.scalars(
        select(Requisition)
        .where(or_(*conditions), Requisition.requester_id != person.id)
        .order_by(Requisition.id)
        .limit(20)
    )
    return [r for r in found.all() if await decides_now(actor, r)]


async def to_fulfil(actor: SupplyActor) -> list[Requisition]:
    if not logistics(actor.person):
        return []
    found = await actor.session.scalars(
        select(Requisition).where(Requisition.status.in_(("approved", "ready"))).order_by(Requisition.id).limit(20)
    )
    return list(found.all())


async def my_part(ctx: StepContext) -> list[Renderable]:
    """What /my lists about supplies: my open requisitions, and what waits for me."""
    actor = supply_actor(ctx)
    parts: list[Renderable] = []
    for key, found in (
        ("requisition.my.list", await mine(actor)),
        ("requisition.my.approvals", await awaiting_decision(actor)),
        ("requisition.my.fulfil", await to_fulfil(actor)),
    ):
        if found:
            parts.append(msg(key, count=len(found), lines=Lines(tuple(list_line(r, ctx.zone) for r in found))))
    return parts


async def requisitions_command(ctx: StepContext, args: str) -> Action:
    """/requisitions: what waits for me (approvals, fulfilment) and my own, each a button to open it."""
    actor = supply_actor(ctx)
    said_: list[tuple[Renderable, Rows]] = []
    for key, found in (
        ("requisition.list.approvals", await awaiting_decision(actor)),
        ("requisition.list.fulfil", await to_fulfil(actor)),
        ("requisition.list.mine", await mine(actor)),
    ):
        if found:
            rows = tuple(((list_line(r, ctx.zone), f"rq:{r.id}:view"),) for r in found[:10])
            said_.append((msg(key, count=len(found)), rows))
    if not said_:
        return said(msg("requisition.list.none"))
    return Action(say=tuple(said_))


# --- the short flows: a reason, a place, what was really handed out ------------------------------


async def requisition_of(ctx: StepContext) -> Requisition:
    found = await find(ctx.session, int(ctx.data["requisition"]))
    assert found is not None
    return found


async def submit_reject(ctx: StepContext) -> Submitted:
    try:
        requisition = await reject(supply_actor(ctx), int(ctx.data["requisition"]), ctx.data["reason"])
    except Refused as refused:
        return Submitted(refused.reason, "")
    return Submitted(msg("requisition.done.reject", number=requisition.number), str(requisition.number))


async def recent_places(ctx: StepContext) -> Sequence[Option]:
    """Where things were collected before, newest first: most requisitions go to the same few places."""
    rows = await ctx.session.execute(
        select(func.max(Requisition.id), Requisition.pickup_place)
        .where(Requisition.pickup_place.is_not(None))
        .group_by(Requisition.pickup_place)
        .order_by(func.max(Requisition.id).desc())
        .limit(4)
    )
    return [Option(f"p{rid}", Label(place, place)) for rid, place in rows.all() if place]


async def typed_place(ctx: StepContext, text: str) -> str:
    place = text.strip()
    if visible_length(place) < 2:
        raise Invalid(msg("dialog.error.too_short", min=2))
    if len(place) > 200:
        raise Invalid(msg("dialog.error.too_long", max=200, got=len(place)))
    ctx.data["place_text"] = place
    return "typed"


async def submit_ready(ctx: StepContext) -> Submitted:
    chosen = ctx.data["place"]
    if chosen == "typed":
        place = ctx.data["place_text"]
    else:
        earlier = await ctx.session.get(Requisition, int(chosen.removeprefix("p")))
        place = earlier.pickup_place if earlier is not None and earlier.pickup_place else "—"
    try:
        requisition = await ready(supply_actor(ctx), int(ctx.data["requisition"]), place)
    except Refused as refused:
        return Submitted(refused.reason, "")
    return Submitted(msg("requisition.done.ready", number=requisition.number, place=place), str(requisition.number))


def given_of(ctx: StepContext) -> dict[int, int]:
    return {int(line_id): int(count) for line_id, count in (ctx.data.get("given") or {}).items()}


async def partial_lines(ctx: StepContext) -> Sequence[Option]:
    requisition = await requisition_of(ctx)
    given = given_of(ctx)
    options = [
        Option(
            str(line.id),
            msg(
                "requisition.partial.option",
                name=stock.item_label(line.item),
                given=given.get(line.id, line.quantity),
                quantity=line.quantity,
                unit=stock.unit_of(line.item, line.quantity),
            ),
        )
        for line in requisition.lines
    ]
    return [*options, Option("done", msg("requisition.partial.done"))]


async def after_line(ctx: StepContext) -> str | None:
    return "confirm" if ctx.data["line"] == "done" else None


async def line_being_counted(ctx: StepContext) -> RequisitionLine:
    requisition = await requisition_of(ctx)
    return next(line for line in requisition.lines if line.id == int(ctx.data["line"]))


async def count_prompt(ctx: StepContext) -> Msg:
    line = await line_being_counted(ctx)
    return msg(
        "requisition.ask.count",
        name=stock.item_label(line.item),
        quantity=line.quantity,
        unit=stock.unit_of(line.item),
    )


async def check_count(ctx: StepContext, count: int) -> Msg | None:
    line = await line_being_counted(ctx)
    if count > line.quantity:
        return msg(
            "requisition.error.more_than_asked", quantity=line.quantity, unit=stock.unit_of(line.item, line.quantity)
        )
    return None


async def after_count(ctx: StepContext) -> str:
    given = dict(ctx.data.get("given") or {})
    given[str(ctx.data["line"])] = ctx.data["count"]
    ctx.data["given"] = given
    return "line"


async def partial_summary(ctx: StepContext) -> Msg:
    requisition = await requisition_of(ctx)
    given = given_of(ctx)
    lines = tuple(
        msg(
            "requisition.partial.summary_line",
            name=stock.item_label(line.item),
            given=given.get(line.id, line.quantity),
            quantity=line.quantity,
            unit=stock.unit_of(line.item, line.quantity),
        )
        for line in requisition.lines
    )
    return msg("requisition.partial.summary", number=requisition.number, lines=Lines(lines))


async def submit_partial(ctx: StepContext) -> Submitted:
    given = given_of(ctx)
    requisition = await requisition_of(ctx)
    if not any(given.get(line.id, line.quantity) for line in requisition.lines):
        raise Goto("line", msg("requisition.error.nothing_handed_out"))
    try:
        requisition = await hand_out(supply_actor(ctx), requisition.id, given)
    except Refused as refused:
        return Submitted(refused.reason, "")
    return Submitted(msg("requisition.done.partial", number=requisition.number), str(requisition.number))


REJECT = Flow(
    "requisition_reject",
    msg("requisition.flow.reject"),
    msg("requisition.flow.reject"),
    (TextStep("reason", msg("requisition.ask.reason"), min_length=2, max_length=300),),
    submit_reject,
    listed=False,
)
READY = Flow(
    "requisition_ready",
    msg("requisition.flow.ready"),
    msg("requisition.flow.ready"),
    (ChoiceStep("place", msg("requisition.ask.place"), options=recent_places, columns=1, typed=typed_place),),
    submit_ready,
    listed=False,
)
PARTIAL = Flow(
    "requisition_partial",
    msg("requisition.flow.partial"),
    msg("requisition.flow.partial"),
    (
        ChoiceStep("line", msg("requisition.ask.partial_line"), options=partial_lines, columns=1, then=after_line),
        NumberStep(
            "count",
            msg("requisition.ask.count"),
            min_value=0,
            dynamic_prompt=count_prompt,
            check=check_count,
            then=after_count,
        ),
        ConfirmStep("confirm", msg("requisition.ask.partial_confirm"), summary=partial_summary),
    ),
    submit_partial,
    listed=False,
)

# --- reminders (handlers/core/reminders.py runs them) ------------------------------------------------

# The reminder's button: the approval queue (answered by the digest's buttons, handlers/digest/send.py).
QUEUE_BUTTON = "jb:queue"


async def approvals_waiting(ctx: ReminderContext) -> list[Delivery]:
    """Each approver hears once a working day about what waited for them since before today."""
    day_start = datetime.combine(ctx.schedule.local(ctx.now).date(), time(0), tzinfo=ctx.schedule.zone)
    pending = await ctx.session.scalars(
        select(Requisition)
        .where(Requisition.status.in_(PENDING), Requisition.created_at < day_start)
        .order_by(Requisition.id)
    )
    today = ctx.schedule.local(ctx.now).date()
    second = {p.id: p for role in SECOND_STEP for p in await people_with_role(ctx.session, role)}
    waiting: dict[int, list[Requisition]] = {}
    for requisition in pending.unique().all():
        if requisition.status == "pending_manager":
            approvers = await first_step_approvers(ctx.session, requisition, today)
        else:
            approvers = [p for p in second.values() if p.id != requisition.requester_id]
        for approver in approvers:
            waiting.setdefault(approver.id, []).append(requisition)
    deliveries = []
    for person_id, found in waiting.items():
        lines = Lines(tuple(list_line(r, ctx.schedule.zone) for r in found[:10]))
        text = msg("reminder.approvals", count=len(found), lines=lines)
        button = ((msg("reminder.button.queue", count=len(found)), QUEUE_BUTTON),)
        notice = Notice(person_id, text, (button,))
        deliveries.append(Delivery("reminder.approvals", "queue", person_id, ctx.today, fixed(notice)))
    return deliveries


# What /export requisitions writes (handlers/admin/exports.py lists the areas' exports).
async def requisition_rows(
    session: AsyncSession, period: Period | None, zone: ZoneInfo, locale: str
) -> list[list[Cell]]:
    handler = aliased(Person)
    query = (
        select(Requisition, handler.display_name)
        .outerjoin(handler, handler.id == Requisition.handler_id)
        .order_by(Requisition.id)
        .limit(MAX_ROWS)
    )
    if period is not None:
        start, end = period.bounds(zone)
        query = query.where(Requisition.created_at >= start, Requisition.created_at < end)
    rows: list[list[Cell]] = []
    for r, handled_by in (await session.execute(query)).unique().all():
        department: Department | None = r.department
        rows.append(
            [
                r.number,
                translate(locale, f"requisition.status.{r.status}"),
                r.requester.display_name,
                (department.name_zh if locale == "zh_CN" else department.name_en) if department else "",
                "; ".join(f"{line.item.code}×{line.quantity}" for line in r.lines),
                r.total_quantity,
                r.total_value / 100,
                r.purpose,
                when(r.created_at, zone),
                when(r.closed_at, zone),
                handled_by or "",
            ]
        )
    return rows


REQUISITIONS = Export(
    (
        "number",
        "status",
        "requester",
        "department",
        "items",
        "quantity",
        "value",
        "purpose",
        "created",
        "closed",
        "handler",
    ),
    requisition_rows,
)


AREA = Area(
    "requisitions",
    flows=(REJECT, READY, PARTIAL),
    buttons={"rq": on_button},
    commands={"requisition": requisition_command, "requisitions": requisitions_command, "delegate": delegate_command},
    privileged={"delegate": "requisition.delegate"},
    actions={
        # the second approval of a big requisition; readying and handing out what was approved
        "requisition.second_approval": SECOND_APPROVAL,
        "requisition.fulfil": FULFIL,
        # a department's manager has someone approve for them while away (/delegate)
        "requisition.delegate": authz.rule("manager"),
        "export.requisitions": authz.rule(*authz.STORES),
    },
    exports={"requisitions": REQUISITIONS},
    mine=my_part,
    reminders=(approvals_waiting,),
    leavers=(leaver,),
)
