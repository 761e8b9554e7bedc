"""Members only: who is let in, and the little someone who is not a member may do.

A person is a member unless they have left (`Person.left_at`). An account with no person is a
member's only if ACCESS_POLICY lets a newcomer in from its channel (`Admission`): `open` lets anyone
in, as the demo does; `invite` nobody, so only people an admin added, an invitation code or an
approved join request bring in; `directory` the channels whose platform keeps its own membership
(Slack: every request is signed by the workspace, so whoever sends one is in it).

The engine asks here once per delivery, before anything else happens (`people.identify` raises
`NotMember`): a non-member gets one polite message with a "Request to join" button, and may press
that button or send an invitation code. Nothing else runs, and no person is created for them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core import audit, menus, outbox
from handlers.core.conversation import Button, Inbound, Kind, Reply, Sender
from handlers.core.flow import StepContext
from handlers.core.i18n import Msg, Renderable, freeze, msg
from storage.models import (
    AuditEntry,
    ChannelAccount,
    DialogState,
    Invitation,
    JoinRequest,
    OutboxMessage,
    Person,
    PersonRole,
)

# The non-member's one button; the admins' buttons on a join request card are `jr:<id>:<what>`,
# answered by the admin area (handlers/admin/members.py).
JOIN = "member:join"
DECIDE = "jr"
# A second request from one account within this time is answered "already asked" and creates nothing.
REQUESTS_EVERY = timedelta(hours=1)
# Wrong invitation codes one account may send in an hour (a code has 96 random bits: this only keeps
# the audit log from filling up).
WRONG_CODES_PER_HOUR = 5
# An invitation code as sent: /start join_<code> (a deep link), or the code typed, with or without join_.
TYPED_CODE = re.compile(r"^(?:/start\s+)?(?:join_)?([0-9a-f]{16,32})$")
# Who decides on join requests.
DECIDERS = ("admin", "logistics_admin")


@dataclass(frozen=True)
class Admission:
    """The channels whose unknown accounts become members on first contact: every one when None."""

    newcomers_from: frozenset[str] | None = None
    # The channels whose platform's directory also says who has left (ACCESS_POLICY=directory).
    directories: frozenset[str] = frozenset()

    def admits(self, channel: str) -> bool:
        return self.newcomers_from is None or channel in self.newcomers_from


EVERYONE = Admission()
NOBODY = Admission(frozenset())


class NotMember(Exception):
    """This account is not a member's: nobody's yet (`account` None), or its person has left."""

    def __init__(self, account: ChannelAccount | None) -> None:
        super().__init__("not a member")
        self.account = account


def not_member() -> tuple[Msg, tuple[tuple[Msg, str], ...]]:
    """What a non-member hears, whatever they sent: the message and its one button."""
    return msg("member.not_yet"), ((msg("member.button.join"), JOIN),)


async def turn_away(session: AsyncSession, inbound: Inbound, account: ChannelAccount | None, now: datetime) -> Msg:
    """A non-member's delivery: their request to join, an invitation code, or else the message."""
    if inbound.kind is Kind.BUTTON and inbound.text == JOIN:
        return await request_to_join(session, inbound.sender, now)
    code = sent_code(inbound)
    if code is not None:
        return await redeem(session, inbound.sender, account, code, now)
    if account is not None:
        # Someone who left, still trying (an old button, a command): on their record, as a refusal.
        audit.write(
            session,
            action="member.turned_away",
            record=f"person:{account.person_id}",
            actor_id=account.person_id,
            channel=inbound.sender.channel,
            outcome="refused",
            at=now,
            # The command or button, never words typed: those are nobody's record.
            detail={"kind": inbound.kind.value, "what": attempted(inbound)},
        )
    return not_member()[0]


def attempted(inbound: Inbound) -> str | None:
    if inbound.kind is Kind.COMMAND:
        return inbound.command[:32]
    return inbound.text[:64] if inbound.kind is Kind.BUTTON else None


def sent_code(inbound: Inbound) -> str | None:
    if inbound.kind is Kind.COMMAND and inbound.command == "start" and inbound.text.startswith("join_"):
        return inbound.text.removeprefix("join_")[:32]
    if inbound.kind is Kind.TEXT and (found := TYPED_CODE.match(inbound.text.strip().lower())):
        return found.group(1)
    return None


def reply(text: Msg, locale: str, buttons: bool) -> Reply:
    label, payload = not_member()[1][0]
    return Reply(text.render(locale), ((Button(label.render(locale), payload),),) if buttons else ())


# --- joining by request ---------------------------------------------------------------------------


async def request_to_join(session: AsyncSession, sender: Sender, now: datetime) -> Msg:
    """Record the request and put it before the deciders, unless this account asked lately."""
    lately = await session.scalar(
        select(JoinRequest.id)
        .where(
            JoinRequest.channel == sender.channel,
            JoinRequest.external_id == sender.external_id,
            or_(JoinRequest.status == "pending", JoinRequest.created_at > now - REQUESTS_EVERY),
        )
        .limit(1)
    )
    if lately is not None:
        return msg("member.request.already")
    request = JoinRequest(
        channel=sender.channel,
        external_id=sender.external_id,
        display_name=sender.display_name[:100] or sender.external_id,
        address=sender.address,
        platform_locale=sender.platform_locale,
        created_at=now,
        status="pending",
    )
    session.add(request)
    await session.flush()
    audit.write(
        session,
        action="member.request",
        record=f"join_request:{request.id}",
        actor_id=None,
        channel=sender.channel,
        at=now,
    )
    await tell_deciders(session, request, now, decided=None)
    return msg("member.request.sent")


async def deciders(session: AsyncSession) -> list[Person]:
    """The members who decide on join requests, by id."""
    found = await session.scalars(
        select(Person)
        .join(PersonRole, PersonRole.person_id == Person.id)
        .where(PersonRole.role.in_(DECIDERS), Person.left_at.is_(None))
        .order_by(Person.id)
    )
    return list(found.unique().all())


async def tell_deciders(session: AsyncSession, request: JoinRequest, now: datetime, decided: Msg | None) -> None:
    """The request's card for every decider: with Approve and Deny while pending, else what was decided
    (the same card key, so each decider's card changes in place)."""
    text: Renderable = msg(
        "member.request.card",
        id=request.id,
        name=request.display_name,
        channel=request.channel,
        account=request.external_id,
    )
    buttons: tuple[tuple[tuple[Renderable, str], ...], ...] = ()
    if decided is None:
        buttons = (
            (
                (msg("member.button.approve"), f"{DECIDE}:{request.id}:approve"),
                (msg("member.button.deny"), f"{DECIDE}:{request.id}:deny"),
            ),
        )
    else:
        text = msg("member.request.card_decided", card=text, decided=decided)
    for person in await deciders(session):
        await outbox.notify(session, outbox.Notice(person.id, text, buttons, card_key=f"join:{request.id}"), now)


def tell_requester(session: AsyncSession, request: JoinRequest, text: Msg, now: datetime) -> None:
    """An answer to someone who has no person: to the address they asked from, in their app's language."""
    if request.address is None:
        return
    session.add(
        OutboxMessage(
            person_id=None,
            channel=request.channel,
            address=request.address,
            body={"text": freeze(text), "buttons": [], "photos": [], "files": [], "locale": request.platform_locale},
            created_at=now,
        )
    )


async def settle(session: AsyncSession, request: JoinRequest, status: str, by: Person, now: datetime) -> bool:
    """Decide a pending request, once: of two deciders pressing at once, one decides (conditional UPDATE)."""
    decided = await session.execute(
        update(JoinRequest)
        .where(JoinRequest.id == request.id, JoinRequest.status == "pending")
        .values(status=status, decided_by=by.id, decided_at=now)
        .execution_options(synchronize_session=False)
    )
    if int(decided.rowcount) != 1:  # type: ignore[attr-defined]
        return False
    await session.refresh(request)
    return True


async def admit(
    session: AsyncSession,
    sender: Sender | JoinRequest,
    person: Person,
    account: ChannelAccount | None,
    now: datetime,
) -> ChannelAccount:
    """This account (made now if it has none) is `person`'s from now on."""
    if account is None:
        account = new_account(person, sender, now)
        session.add(account)
    else:
        account.person = person  # the relationship, so the session's picture of both people follows
    await session.flush()
    await menus.changed(session, [person], now)
    return account


def new_account(person: Person, sender: Sender | JoinRequest, last_seen: datetime | None) -> ChannelAccount:
    """The account someone writes from, now theirs."""
    return ChannelAccount(
        person=person,
        channel=sender.channel,
        external_id=sender.external_id,
        address=sender.address,
        platform_locale=sender.platform_locale,
        last_seen_at=last_seen,
    )


def newcomer(name: str, department_id: int | None, now: datetime) -> Person:
    """A new member: staff, in the department they were let into."""
    person = Person(display_name=name[:100], department_id=department_id, created_at=now)
    person.roles.append(PersonRole(role="staff"))
    return person


async def has_account(session: AsyncSession, person_id: int, channel: str) -> bool:
    """Whether the person already has an account on this channel (one each)."""
    found = await session.scalar(
        select(ChannelAccount.id).where(ChannelAccount.person_id == person_id, ChannelAccount.channel == channel)
    )
    return found is not None


async def account_of(session: AsyncSession, channel: str, external_id: str) -> ChannelAccount | None:
    return await session.scalar(
        select(ChannelAccount).where(ChannelAccount.channel == channel, ChannelAccount.external_id == external_id)
    )


# --- joining by invitation code -----------------------------------------------------------------


async def redeem(
    session: AsyncSession, sender: Sender, account: ChannelAccount | None, code: str, now: datetime
) -> Msg:
    """An invitation code sent from this account: a code for a person joins the account to them (once);
    a code for anyone (a department's) makes a new member of the account's owner, once per account."""
    record = f"account:{sender.channel}:{sender.external_id}"[:64]
    actor = account.person if account is not None and account.person.member else None
    if await wrong_codes_lately(session, record, now) >= WRONG_CODES_PER_HOUR:
        return refused(session, sender, record, actor, now, msg("member.code.too_many"))
    invitation = await session.scalar(select(Invitation).where(Invitation.code == code[:32]))
    if invitation is None or invitation.used_at is not None or invitation.expires_at < now:
        # Someone trying codes is worth knowing about; an expired or used one is just late, but it counts.
        return refused(session, sender, record, actor, now, msg("org.invite.invalid"))
    if invitation.person_id is None:
        if actor is not None:
            return msg("org.invite.already")
        person = newcomer(sender.display_name or sender.external_id, invitation.department_id, now)
        session.add(person)
        await session.flush()
    else:
        found = await session.get(Person, invitation.person_id)
        assert found is not None
        person = found
        if not person.member:
            # Invited, then left before joining: the code went with them.
            return refused(session, sender, record, actor, now, msg("org.invite.invalid"))
        if await has_account(session, person.id, sender.channel):
            return msg("org.invite.already")
        # Claimed by a conditional UPDATE: of two accounts sending one code at once, one gets it.
        claimed = await session.execute(
            update(Invitation)
            .where(Invitation.id == invitation.id, Invitation.used_at.is_(None))
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
        if int(claimed.rowcount) != 1:  # type: ignore[attr-defined]
            return msg("org.invite.invalid")
    joined = await admit(session, sender, person, account, now)
    audit.write(
        session,
        action="org.join",
        record=f"person:{person.id}",
        actor_id=person.id,
        channel=sender.channel,
        at=now,
        detail={"account": joined.external_id, "invitation": invitation.id},
    )
    return msg("org.invite.joined", person=person.display_name)


def refused(
    session: AsyncSession, sender: Sender, record: str, actor: Person | None, now: datetime, reason: Msg
) -> Msg:
    audit.write(
        session,
        action="org.join",
        record=record,
        actor_id=actor.id if actor is not None else None,
        channel=sender.channel,
        outcome="refused",
        at=now,
    )
    return reason


async def wrong_codes_lately(session: AsyncSession, record: str, now: datetime) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .filter_by(action="org.join", record=record, outcome="refused")
            .where(AuditEntry.at > now - timedelta(hours=1))
        )
        or 0
    )


# --- leaving and coming back ----------------------------------------------------------------------


async def leave(ctx: StepContext, person: Person, reason: str | None) -> None:
    """`person` leaves now: their accounts are turned away from the next delivery on, they hear nothing
    more (handlers/core/outbox.py), nobody asks them anything (people.people_with_role), and each area
    hands on what they held (Area.leavers). `ctx.person` is who made them leave (an unsaved person
    when a directory said so: the audit line then has no actor)."""
    person.left_at = ctx.now
    # Whatever they were in the middle of is dropped: coming back, they start afresh (each row is
    # changed through its versioned UPDATE, so a turn of theirs racing this one retries and is turned away).
    open_dialogs = await ctx.session.scalars(
        select(DialogState).where(DialogState.person_id == person.id, DialogState.flow.is_not(None))
    )
    for dialog in open_dialogs.all():
        dialog.flow, dialog.step, dialog.data = None, None, {}
    await ctx.session.flush()
    for area in ctx.areas:
        for hand_on in area.leavers:
            await hand_on(ctx, person)
    await menus.changed(ctx.session, [person], ctx.now)
    audit.done(ctx, action="org.leave", record=f"person:{person.id}", reason=reason)


async def rejoin(ctx: StepContext, person: Person) -> None:
    """`person` is a member again: their accounts work; nothing they held comes back by itself."""
    person.left_at = None
    await ctx.session.flush()
    await menus.changed(ctx.session, [person], ctx.now)
    audit.done(ctx, action="org.rejoin", record=f"person:{person.id}")
