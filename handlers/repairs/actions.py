"""What people do to a ticket from chat: card buttons, /ticket, /assign, and the short flows that
ask for a reason, a note, a photo, a comment or a technician.

Authorisation is checked when the button is pressed and again when a flow submits, because the
ticket may have moved in between (another technician, a manager, the reporter).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy import func, select, update

from handlers.core import authz, ids
from handlers.core.actor import RepairActor, repair_actor
from handlers.core.area import AdminEntry, Area
from handlers.core.flow import (
    Action,
    ChoiceStep,
    Flow,
    Option,
    PhotoStep,
    Step,
    StepContext,
    Submitted,
    TextStep,
    said,
)
from handlers.core.i18n import Label, Renderable, msg
from handlers.core.outbox import Notice, notify
from handlers.core.people import find_person, people_with_role
from handlers.core.refusals import Refused
from handlers.repairs import autoclose, export, tickets
from storage.models import Person, PersonRole, Photo, Ticket, TicketComment

# --- card buttons: tk:<ticket id>:<action> --------------------------------------------------------


async def on_button(ctx: StepContext, value: str) -> Action:
    ref, _, action = value.partition(":")
    ticket_id = ids.parse_id(ref)
    if ticket_id is None:
        return said(msg("dialog.error.forged_button"))
    actor = repair_actor(ctx)
    # Stars sit on a plain notice; every other ticket button on a card that redraws itself.
    on_card = not action.startswith("rate")
    try:
        return dataclasses.replace(await press(actor, ticket_id, action), on_card=on_card)
    except Refused as refused:
        return Action(say=((refused.reason, ()),), toast=refused.reason, on_card=on_card)


async def press(actor: RepairActor, ticket_id: int, action: str) -> Action:
    if action == "accept":
        return await accept(actor, ticket_id)
    if action in ("start", "cancel"):
        ticket = await tickets.load(actor, ticket_id, action)
        await tickets.move(actor, ticket, action)
        return Action(toast=msg(f"ticket.done.{action}", number=ticket.number), chosen=msg(f"ticket.button.{action}"))
    if action.startswith("rate") and action[4:] in ("1", "2", "3", "4", "5"):
        return await rate(actor, ticket_id, int(action[4:]))
    flows = {"decline": DECLINE, "parts": PARTS, "resolve": RESOLVE, "comment": COMMENT, "assign": REASSIGN}
    if action in flows:
        check = "assign" if action == "assign" else action
        ticket = await tickets.load(actor, ticket_id, check)
        return Action(start=(flows[action].name, {"ticket": ticket.id}), chosen=msg(f"ticket.button.{action}"))
    if action == "view":
        return await view(actor, str(ticket_id))
    return said(msg("dialog.error.forged_button"))


async def accept(actor: RepairActor, ticket_id: int) -> Action:
    ticket = await actor.session.get(Ticket, ticket_id, populate_existing=True)
    colleague = ticket is not None and ticket.category in tickets.specialties(actor.person)
    if ticket is not None and ticket.assignee is not None and ticket.assignee_id != actor.person.id and colleague:
        # Somebody else got there first (a claim race, or a reassignment): say who, change nothing.
        taken = msg("ticket.error.taken", number=ticket.number, technician=ticket.assignee.display_name)
        return Action(say=((taken, ()),), toast=taken)
    # Judged on the reading above: read again, a colleague's accept committed in between would look
    # like a refusal; as it is, that accept makes this one's versioned write fail and the press is
    # handled again, finding the ticket taken.
    ticket = await tickets.load(actor, ticket_id, "accept", read=ticket)
    if ticket.assignee_id is None:
        ticket.assignee_id, ticket.assignee = actor.person.id, actor.person
    await tickets.move(actor, ticket, "accept")
    return Action(toast=msg("ticket.done.accept", number=ticket.number), chosen=msg("ticket.button.accept"))


async def rate(actor: RepairActor, ticket_id: int, stars: int) -> Action:
    ticket = await tickets.load(actor, ticket_id, "confirm")
    # A new rating starts without the comment of an earlier one (a ticket may be reopened twice).
    ticket.rating, ticket.rating_comment = stars, None
    low = stars <= tickets.LOW_RATING
    await tickets.move(actor, ticket, "dispute" if low else "confirm", note=f"★{stars}")
    thanks = msg("ticket.rated.low" if low else "ticket.rated.thanks", number=ticket.number, stars="★" * stars)
    return Action(
        say=((thanks, ()),),
        chosen=Label("★" * stars, "★" * stars),
        start=(RATING_COMMENT.name, {"ticket": ticket.id}),
        follow_up=True,
    )


# --- commands -----------------------------------------------------------------------------------


async def ticket_command(ctx: StepContext, args: str) -> Action:
    number = args.strip().split(" ")[0] if args.strip() else ""
    if not number:
        return said(msg("ticket.usage"))
    try:
        if number.lower() in ("close", "reopen"):
            return await supervise(repair_actor(ctx), number.lower(), args.strip().split(maxsplit=2)[1:])
        return await view(repair_actor(ctx), number)
    except Refused as refused:
        return said(refused.reason)


async def supervise(actor: RepairActor, action: str, words: list[str]) -> Action:
    """/ticket close|reopen NUMBER [note]: a supervisor closes a resolved ticket nobody confirmed, or
    sends a resolved or closed one back to its technician."""
    if not words:
        return said(msg("ticket.supervise_usage"))
    ticket = await tickets.load(actor, words[0], action)
    note = words[1].strip()[:500] if len(words) > 1 else None
    await tickets.move(actor, ticket, action, note=note)
    return said(msg(f"ticket.done.{action}", number=ticket.number))


async def view(actor: RepairActor, ref: str) -> Action:
    ticket = await tickets.load(actor, ref, "progress")
    if not await tickets.may(actor.session, actor.person, "view", ticket):
        # A follower: the limited card, and no buttons (they neither comment nor act on it).
        return said(tickets.progress_view(ticket, actor))
    text = msg(
        "ticket.view",
        card=tickets.card(ticket, actor, actor.person),
        history=await tickets.history(actor.session, ticket, actor.zone),
    )
    rows: list[tuple[tuple[Renderable, str], ...]] = []
    if ticket.assignee_id == actor.person.id:
        rows.extend(tickets.buttons_for(ticket, "assignee"))
    elif ticket.status in tickets.OPEN:
        rows.append(((msg("ticket.button.comment"), f"tk:{ticket.id}:comment"),))
    if ticket.reporter_id == actor.person.id and ticket.status in tickets.TRANSITIONS["cancel"][0]:
        rows.append(((msg("ticket.button.cancel"), f"tk:{ticket.id}:cancel"),))
    if ticket.status in tickets.TRANSITIONS["assign"][0] and await tickets.supervises(
        actor.session, actor.person, ticket
    ):
        rows.append(((msg("ticket.button.assign"), f"tk:{ticket.id}:assign"),))
    return said(text, tuple(rows))


async def assign_command(ctx: StepContext, args: str) -> Action:
    """/assign R-2026-000123 [name]: to that technician, or choose from a list."""
    number, _, name = args.strip().partition(" ")
    if not number:
        return said(msg("ticket.assign_usage"))
    actor = repair_actor(ctx)
    try:
        ticket = await tickets.load(actor, number, "assign")
        if not name.strip():
            return Action(start=(REASSIGN.name, {"ticket": ticket.id}))
        technician = await find_person(ctx.session, name, role="technician", first_namesake=True)
        if technician is None:
            names = ", ".join(p.display_name for p in await all_technicians(actor))
            return said(msg("ticket.error.no_such_technician", name=name.strip()[:40], names=names))
        await tickets.assign(actor, ticket, technician)
        return said(msg("ticket.done.assign", number=ticket.number, technician=technician.display_name))
    except Refused as refused:
        return said(refused.reason)


async def all_technicians(actor: RepairActor) -> list[Person]:
    return await people_with_role(actor.session, "technician")


# --- the short flows ------------------------------------------------------------------------------


Submit = Callable[[StepContext], Awaitable[Submitted]]


def answering_refusals(submit: Submit) -> Submit:
    """The ticket may have moved while the person typed: a refusal becomes the flow's answer."""

    @functools.wraps(submit)
    async def guarded(ctx: StepContext) -> Submitted:
        try:
            return await submit(ctx)
        except Refused as refused:
            return Submitted(refused.reason, "")

    return guarded


async def ticket_of(ctx: StepContext, action: str) -> Ticket:
    return await tickets.load(repair_actor(ctx), int(ctx.data["ticket"]), action)


@answering_refusals
async def submit_decline(ctx: StepContext) -> Submitted:
    actor = repair_actor(ctx)
    ticket = await ticket_of(ctx, "decline")
    decliner = ticket.assignee
    ticket.assignee_id, ticket.assignee = None, None
    await tickets.move(actor, ticket, "decline", note=ctx.data["reason"])
    if decliner is not None:
        declined = msg("ticket.card.declined", card=tickets.card(ticket, actor, decliner))
        await notify(ctx.session, Notice(decliner.id, declined, card_key=tickets.card_key(ticket, decliner)), ctx.now)
    await tickets.auto_assign(actor, ticket, exclude=[decliner.id] if decliner else [])
    return Submitted(msg("ticket.done.decline", number=ticket.number), str(ticket.number))


@answering_refusals
async def submit_parts(ctx: StepContext) -> Submitted:
    ticket = await ticket_of(ctx, "parts")
    await tickets.move(repair_actor(ctx), ticket, "parts", note=ctx.data["note"])
    return Submitted(msg("ticket.done.parts", number=ticket.number), str(ticket.number))


@answering_refusals
async def submit_resolve(ctx: StepContext) -> Submitted:
    ticket = await ticket_of(ctx, "resolve")
    photo_ids = [int(i) for i in ctx.data.get("photo", [])]
    if photo_ids:
        await ctx.session.execute(
            update(Photo)
            .where(Photo.id.in_(photo_ids), Photo.person_id == ctx.person.id, Photo.ticket_id.is_(None))
            .values(ticket_id=ticket.id)
        )
    await tickets.move(repair_actor(ctx), ticket, "resolve", note=ctx.data["note"] or None)
    return Submitted(msg("ticket.done.resolve", number=ticket.number), str(ticket.number))


@answering_refusals
async def submit_comment(ctx: StepContext) -> Submitted:
    ticket = await ticket_of(ctx, "comment")
    await relay_comment(repair_actor(ctx), ticket, ctx.data["body"])
    return Submitted(msg("ticket.done.comment", number=ticket.number), str(ticket.number))


async def relay_comment(actor: RepairActor, ticket: Ticket, body: str) -> None:
    """A comment goes into the ticket's history and to the reporter and the technician, through Houqin.

    Not to followers, and followers may not comment (tickets.may): a follower is whoever reported the
    same thing in the same room, so the thread may hold what the reporter told only the staff, and a
    stranger's words must not reach the reporter either. Of the two ways to let followers speak
    (relaying to everyone, or to the technician alone), neither is as safe as not at all: someone
    who knows more reports it, and the technician sees that ticket in full.
    """
    actor.session.add(TicketComment(ticket_id=ticket.id, author_id=actor.person.id, body=body, at=actor.now))
    for person_id in {ticket.reporter_id, ticket.assignee_id} - {actor.person.id, None}:
        assert person_id is not None
        reply = ((msg("ticket.button.reply"), f"tk:{ticket.id}:comment"),)
        comment = msg("ticket.notice.comment", number=ticket.number, author=actor.person.display_name, body=body)
        buttons = (reply,) if ticket.status in tickets.OPEN else ()
        await notify(actor.session, Notice(person_id, comment, buttons), actor.now)


async def submit_rating_comment(ctx: StepContext) -> Submitted:
    ticket = await ctx.session.get(Ticket, int(ctx.data["ticket"]))
    if ticket is None or ticket.reporter_id != ctx.person.id:
        return Submitted(msg("ticket.error.not_allowed", number=ticket.number if ticket else "?"), "")
    if ctx.data["comment"]:
        ticket.rating_comment = ctx.data["comment"]
        await relay_comment(repair_actor(ctx), ticket, ctx.data["comment"])
    if ticket.status == "reopened" and ticket.rating is not None and ticket.rating <= tickets.LOW_RATING:
        # The managers' notice, waiting for this comment, goes now (with it, or with none if skipped).
        await tickets.tell_managers_of_low_rating(ctx.session, ticket, ctx.now, wait=False)
    return Submitted(msg("ticket.done.rating_comment"), str(ticket.number))


async def technician_options(ctx: StepContext) -> Sequence[Option]:
    ticket = await ctx.session.get(Ticket, int(ctx.data["ticket"]))
    assert ticket is not None
    workload = (
        select(Ticket.assignee_id, func.count(Ticket.id))
        .where(Ticket.status.in_(tickets.WORKING))
        .group_by(Ticket.assignee_id)
    )
    open_count = {row[0]: row[1] for row in await ctx.session.execute(workload)}
    people = await people_with_role(ctx.session, "technician")
    matching = {
        role.person_id
        for role in await ctx.session.scalars(
            select(PersonRole).where(PersonRole.role == "technician", PersonRole.scope == ticket.category)
        )
    }
    people.sort(key=lambda p: (p.id not in matching, open_count.get(p.id, 0), p.id))
    return [
        Option(
            str(p.id),
            msg(
                "ticket.technician_option",
                name=p.display_name,
                open=open_count.get(p.id, 0),
                match="✓" if p.id in matching else "",
            ),
        )
        for p in people
    ]


@answering_refusals
async def submit_reassign(ctx: StepContext) -> Submitted:
    actor = repair_actor(ctx)
    ticket = await ticket_of(ctx, "assign")
    technician = await ctx.session.get(Person, int(ctx.data["technician"]))
    assert technician is not None
    await tickets.assign(actor, ticket, technician)
    return Submitted(
        msg("ticket.done.assign", number=ticket.number, technician=technician.display_name), str(ticket.number)
    )


def ticket_flow(name: str, submit: Submit, *steps: Step) -> Flow:
    """A short flow started from a card button: not in menus, titled from the catalog."""
    return Flow(f"ticket_{name}", msg(f"ticket.flow.{name}"), msg(f"ticket.flow.{name}"), steps, submit, listed=False)


DECLINE = ticket_flow(
    "decline", submit_decline, TextStep("reason", msg("ticket.ask.decline_reason"), min_length=2, max_length=500)
)
PARTS = ticket_flow("parts", submit_parts, TextStep("note", msg("ticket.ask.parts_note"), min_length=2, max_length=500))
RESOLVE = ticket_flow(
    "resolve",
    submit_resolve,
    TextStep("note", msg("ticket.ask.resolve_note"), min_length=2, max_length=1000, optional=True),
    PhotoStep("photo", msg("ticket.ask.resolve_photo"), max_photos=1),
)
COMMENT = ticket_flow(
    "comment", submit_comment, TextStep("body", msg("ticket.ask.comment"), min_length=1, max_length=1000)
)
RATING_COMMENT = dataclasses.replace(
    ticket_flow(
        "rating_comment",
        submit_rating_comment,
        TextStep("comment", msg("ticket.ask.rating_comment"), min_length=1, max_length=1000, optional=True),
    ),
    # The reporter's own conversation ends here: with the main menu, not a dead end.
    menu_after=True,
)
REASSIGN = ticket_flow(
    "reassign",
    submit_reassign,
    ChoiceStep("technician", msg("ticket.ask.technician"), options=technician_options, columns=1),
)


async def leaver(ctx: StepContext, person: Person) -> None:
    """Area.leavers: what they were working on goes back to the queue."""
    await tickets.requeue_held_by(repair_actor(ctx), person)


AREA = Area(
    "tickets",
    flows=(DECLINE, PARTS, RESOLVE, COMMENT, RATING_COMMENT, REASSIGN),
    buttons={"tk": on_button},
    commands={"ticket": ticket_command, "assign": assign_command},
    # /ticket is everyone's (their own tickets); assigning is for those who supervise.
    privileged={"assign": "ticket.supervise"},
    actions={
        # who oversees every ticket (managers: those of their own technicians, handlers/repairs/tickets.py)
        "ticket.supervise": authz.rule("admin", "logistics_admin", "manager", department=True),
        "export.tickets": authz.rule(*authz.STORES),
    },
    # In /admin: /ticket needs a number, so the button shows how to ask.
    admin=(AdminEntry("ticket", "ticket.supervise", ticket_command, False, place=100, usage="ticket.supervise_usage"),),
    exports={"tickets": export.TICKETS},
    jobs=(autoclose.JOB,),
    photos=tickets.may_see_photo,
    leavers=(leaver,),
)
