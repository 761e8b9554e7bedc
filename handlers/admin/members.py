"""Who is a member, from the admins' side: deciding join requests (the card's Approve and Deny, and
`/org approve <request> @handle`), codes anyone may use (`/org invite [dept CODE]`), and people
leaving and coming back (`/org leave @handle [reason]`, `/org rejoin @handle`).

The door itself (who is turned away, a request recorded, a code redeemed) is the core's:
handlers/core/membership.py. Every press and command here asks authz again on the server and acts
on the request as it is now: a second admin pressing later is told it was already decided.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import select

from handlers.core import authz, ids, membership
from handlers.core.audit import done
from handlers.core.flow import Action, StepContext, said
from handlers.core.i18n import Label, Renderable, msg
from handlers.core.outbox import Notice, notify
from handlers.core.people import find_person
from handlers.core.refusals import Refused
from storage.models import Department, Invitation, JoinRequest, Person

DECIDE = "org.members"  # the authz action: deciding join requests
LEAVE = "org.leave"  # the authz action: someone leaves, or comes back
# An invitation code: 12 random bytes, as hex (96 bits; Telegram's start parameter takes [A-Za-z0-9_-]).
CODE_BYTES = 12
INVITE_FOR = timedelta(days=7)
DEPARTMENTS_PER_ROW = 2


# --- join requests --------------------------------------------------------------------------------


async def on_button(ctx: StepContext, value: str) -> Action:
    """jr:<request>:approve (ask the department), jr:<request>:dept:<code>, jr:<request>:deny."""
    request_ref, _, what = value.partition(":")
    try:
        authz.require(ctx, DECIDE, f"join_request:{request_ref[:20]}")
    except Refused as refused:
        return Action(say=((refused.reason, ()),), toast=refused.reason)
    request_id = ids.parse_id(request_ref)
    request = await ctx.session.get(JoinRequest, request_id) if request_id is not None else None
    if request is None:
        return said(msg("dialog.error.forged_button"))
    if request.status != "pending":
        return already_decided(request)
    if what == "approve":
        return await ask_department(ctx, request)
    if what == "deny":
        return await deny(ctx, request)
    if what.startswith("dept:"):
        department = await ctx.session.scalar(select(Department).where(Department.code == what.removeprefix("dept:")))
        if department is None:
            return said(msg("dialog.error.forged_button"))
        person = membership.newcomer(request.display_name, department.id, ctx.now)
        ctx.session.add(person)
        await ctx.session.flush()
        return await approve(ctx, request, person, department=department.code)
    return said(msg("dialog.error.forged_button"))


def already_decided(request: JoinRequest) -> Action:
    text = msg("member.decided.already", id=request.id, status=msg(f"member.status.{request.status}"))
    return Action(say=((text, ()),), toast=text)


async def ask_department(ctx: StepContext, request: JoinRequest) -> Action:
    departments = (await ctx.session.scalars(select(Department).order_by(Department.code))).all()
    buttons = [(Label(d.name_zh, d.name_en), f"{membership.DECIDE}:{request.id}:dept:{d.code}") for d in departments]
    rows = tuple(
        tuple(buttons[start : start + DEPARTMENTS_PER_ROW]) for start in range(0, len(buttons), DEPARTMENTS_PER_ROW)
    )
    command = f"/org approve {request.id} @handle"
    return said(msg("member.approve.ask", name=request.display_name, command=command), rows)


async def approve_command(ctx: StepContext, words: list[str]) -> Action:
    """/org approve <request> @handle: the request's account is this person's, already added by /org."""
    try:
        authz.require(ctx, DECIDE, f"join_request:{words[0][:20]}" if words else None)
    except Refused as refused:
        return said(refused.reason)
    request_id = ids.parse_id(words[0]) if len(words) == 2 else None
    if request_id is None:
        return said(msg("org.usage"))
    request = await ctx.session.get(JoinRequest, request_id)
    if request is None:
        return said(msg("member.error.no_request", id=words[0][:20]))
    if request.status != "pending":
        return already_decided(request)
    person = await find_person(ctx.session, words[1])
    if person is None:
        return said(msg("admin.error.no_such_person", ref=words[1][:40]))
    if not person.member:
        return said(msg("member.error.has_left", person=person.display_name))
    if await membership.has_account(ctx.session, person.id, request.channel):
        return said(msg("member.error.has_account", person=person.display_name, channel=request.channel))
    return await approve(ctx, request, person, department=None)


async def approve(ctx: StepContext, request: JoinRequest, person: Person, department: str | None) -> Action:
    if not await membership.settle(ctx.session, request, "approved", ctx.person, ctx.now):
        await ctx.session.refresh(request)
        return already_decided(request)
    account = await membership.account_of(ctx.session, request.channel, request.external_id)
    if account is not None and account.person.member:
        # They came in meanwhile (an invitation code): the request is settled, nothing more to do.
        return said(msg("member.approve.member_already", name=account.person.display_name))
    await membership.admit(ctx.session, request, person, account, ctx.now)
    request.person_id = person.id
    done(ctx, action="member.approve", record=f"join_request:{request.id}", person=person.id, department=department)
    decided = msg("member.status.approved_by", by=ctx.person.display_name, person=person.display_name)
    await membership.tell_deciders(ctx.session, request, ctx.now, decided)
    await notify(ctx.session, Notice(person.id, msg("member.you_are_in", name=person.display_name)), ctx.now)
    return Action(say=((msg("member.approved", name=person.display_name), ()),), on_card=True)


async def deny(ctx: StepContext, request: JoinRequest) -> Action:
    if not await membership.settle(ctx.session, request, "denied", ctx.person, ctx.now):
        await ctx.session.refresh(request)
        return already_decided(request)
    done(ctx, action="member.deny", record=f"join_request:{request.id}")
    decided = msg("member.status.denied_by", by=ctx.person.display_name)
    await membership.tell_deciders(ctx.session, request, ctx.now, decided)
    membership.tell_requester(ctx.session, request, msg("member.you_are_denied"), ctx.now)
    return Action(say=((msg("member.denied", name=request.display_name), ()),), on_card=True)


# --- codes anyone may use ------------------------------------------------------------------------


def new_code() -> str:
    return secrets.token_hex(CODE_BYTES)


async def open_invitation(ctx: StepContext, words: list[str]) -> Action:
    """/org invite [dept CODE]: a code anyone may send within INVITE_FOR, each account once; it makes
    a new member (staff) of the department."""
    department: Department | None = None
    if words:
        if len(words) != 2 or words[0].lower() != "dept":
            return said(msg("org.usage"))
        department = await ctx.session.scalar(select(Department).where(Department.code == words[1].lower()))
        if department is None:
            return said(msg("member.error.no_department", code=words[1][:32]))
    code = new_code()
    invitation = Invitation(
        code=code,
        person_id=None,
        department_id=department.id if department is not None else None,
        created_by=ctx.person.id,
        created_at=ctx.now,
        expires_at=ctx.now + INVITE_FOR,
    )
    ctx.session.add(invitation)
    await ctx.session.flush()
    done(
        ctx,
        action="org.invite",
        record=f"invitation:{invitation.id}",
        department=department.code if department else None,
    )
    where: Renderable = (
        Label(department.name_zh, department.name_en) if department is not None else msg("member.no_department")
    )
    return said(
        msg("org.invite.open_done", command=f"/start join_{code}", code=code, days=INVITE_FOR.days, department=where)
    )


# --- leaving and coming back ----------------------------------------------------------------------


async def leave_command(ctx: StepContext, words: list[str]) -> Action:
    """/org leave @handle [reason]: their accounts stop working now; what they held moves on."""
    person = await named(ctx, words, any_length=True)
    if not isinstance(person, Person):
        return person
    if not person.member:
        return said(msg("member.error.has_left", person=person.display_name))
    if person.id == ctx.person.id:
        return said(msg("member.error.not_yourself"))
    await membership.leave(ctx, person, " ".join(words[1:])[:200] or None)
    return said(msg("org.leave.done", person=person.display_name))


async def rejoin_command(ctx: StepContext, words: list[str]) -> Action:
    """/org rejoin @handle: their accounts work again; nothing else comes back by itself."""
    person = await named(ctx, words, any_length=False)
    if not isinstance(person, Person):
        return person
    if person.member:
        return said(msg("member.error.not_left", person=person.display_name))
    await membership.rejoin(ctx, person)
    return said(msg("org.rejoin.done", person=person.display_name))


async def named(ctx: StepContext, words: list[str], *, any_length: bool) -> Person | Action:
    """The person a leave or rejoin names first, if the actor may; else what to answer."""
    try:
        authz.require(ctx, LEAVE, words[0][:40] if words else None)
    except Refused as refused:
        return said(refused.reason)
    if not words or (len(words) > 1 and not any_length):
        return said(msg("org.usage"))
    person = await find_person(ctx.session, words[0])
    return person if person is not None else said(msg("admin.error.no_such_person", ref=words[0][:40]))
