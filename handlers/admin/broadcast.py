"""/broadcast: a message to everyone, or to one department, after a confirmation that says how many
people it reaches. Sent through the outbox (handlers/core/outbox.notify), so each channel paces it at the
platform's rate and nobody gets it twice; the broadcast is audited with its audience and reach."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core import authz
from handlers.core.audit import done
from handlers.core.flow import (
    Action,
    ChoiceStep,
    ConfirmStep,
    Flow,
    Invalid,
    Option,
    StepContext,
    Submitted,
    TextStep,
    said,
)
from handlers.core.i18n import Label, Msg, msg
from handlers.core.outbox import Notice, notify_many
from handlers.core.refusals import Refused
from storage.models import ChannelAccount, Department, Person

EVERYONE = "all"


async def audiences(ctx: StepContext) -> Sequence[Option]:
    options = [Option(EVERYONE, msg("broadcast.everyone"))] if authz.allowed(ctx.person, "broadcast.all") else []
    for department in await ctx.session.scalars(select(Department).order_by(Department.code)):
        if authz.allowed(ctx.person, "broadcast.department", department=department.code):
            options.append(Option(department.code, Label(department.name_zh, department.name_en)))
    return options


def check(ctx: StepContext, audience: str) -> None:
    if audience == EVERYONE:
        authz.require(ctx, "broadcast.all")
    else:
        authz.require(ctx, "broadcast.department", f"department:{audience}", department=audience)


async def recipients(session: AsyncSession, audience: str) -> list[Person]:
    # Members only: someone who left is neither told nor counted.
    query = select(Person).where(Person.left_at.is_(None)).order_by(Person.id)
    if audience != EVERYONE:
        query = query.join(Department, Department.id == Person.department_id).where(Department.code == audience)
    return list((await session.scalars(query)).all())


async def reachable(session: AsyncSession, people: Sequence[Person]) -> int:
    ids = {p.id for p in people}
    found = await session.scalars(
        select(ChannelAccount.person_id).where(
            ChannelAccount.person_id.in_(ids),
            ChannelAccount.unreachable_since.is_(None),
            ChannelAccount.address.is_not(None),
        )
    )
    return len(set(found.all()))


async def summary(ctx: StepContext) -> Msg:
    people = await recipients(ctx.session, ctx.data["audience"])
    return msg(
        "broadcast.summary",
        audience=await audience_label(ctx.session, ctx.data["audience"]),
        count=len(people),
        reach=await reachable(ctx.session, people),
        text=ctx.data["text"],
    )


async def audience_label(session: AsyncSession, audience: str) -> Label | Msg:
    if audience == EVERYONE:
        return msg("broadcast.everyone")
    department = await session.scalar(select(Department).where(Department.code == audience))
    return Label(department.name_zh, department.name_en) if department else Label(audience, audience)


async def submit(ctx: StepContext) -> Submitted:
    audience = ctx.data["audience"]
    try:
        check(ctx, audience)
    except Refused as refused:
        return Submitted(refused.reason, "")
    text = msg("broadcast.notice", sender=ctx.person.display_name, text=ctx.data["text"])
    people = await recipients(ctx.session, audience)
    # One query and one bulk insert per 500 people: a broadcast to everyone stays one short transaction.
    sent = await notify_many(ctx.session, [Notice(person.id, text) for person in people], ctx.now)
    done(
        ctx,
        action="broadcast.send",
        record=f"department:{audience}" if audience != EVERYONE else "everyone",
        people=len(people),
        queued=sent,
    )
    return Submitted(msg("broadcast.done", count=sent, total=len(people)), "")


async def broadcast_command(ctx: StepContext, args: str) -> Action:
    """/broadcast, or /broadcast all|DEPARTMENT the message."""
    first, _, rest = args.strip().partition(" ")
    try:
        if not first:
            if not any(authz.allowed_somewhere(ctx.person, a) for a in ("broadcast.all", "broadcast.department")):
                authz.require(ctx, "broadcast.department")
            return Action(start=(FLOW.name, {}))
        audience = first.lower()
        known = await ctx.session.scalar(select(Department.id).where(Department.code == audience))
        if audience != EVERYONE and known is None:
            return said(msg("broadcast.error.audience", value=first[:40]))
        check(ctx, audience)
    except Refused as refused:
        return said(refused.reason)
    preset = {"audience": audience}
    if rest.strip():
        try:
            preset["text"] = TEXT.accept(rest)
        except Invalid as problem:
            return said(msg("dialog.error.prefix", problem=problem.reason))
    return Action(start=(FLOW.name, preset))


TEXT = TextStep("text", msg("broadcast.ask_text"), min_length=2, max_length=1000)

FLOW = Flow(
    "broadcast",
    msg("broadcast.title"),
    msg("broadcast.title"),
    (
        ChoiceStep("audience", msg("broadcast.ask_audience"), options=audiences, columns=2),
        TEXT,
        ConfirmStep("confirm", msg("broadcast.ask_confirm"), summary=summary),
    ),
    submit,
    listed=False,
)
