"""One person, several channels: joining a Slack, Telegram or browser account to the same person.

A person asks for a one-time code on one channel (`link`) and types it on the other (`link CODE`):
the account they type it from joins the person who asked. An admin can join two accounts directly
(`link slack:U123 telegram:456`). Channel-neutral: it works between any two channels.

What was done from the joining account before stays with its old record; from now on its messages,
notices and /my are the person's.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.accounts import signin
from handlers.core import menus
from handlers.core.area import Area
from handlers.core.audit import done
from handlers.core.flow import Action, StepContext, said
from handlers.core.i18n import Msg, msg
from handlers.core.refusals import Refused, refuse
from storage.models import AuditEntry, ChannelAccount, LinkCode, Person

CODE_LIFETIME = timedelta(minutes=10)
CODE_LENGTH = 8
# No 0/O or 1/I: codes are read off one screen and typed on another.
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
# Wrong codes a person may type in an hour before being told to wait (guessing 32^8 is hopeless
# anyway; this keeps the audit log from being a fire hose).
WRONG_CODES_PER_HOUR = 5
ACTION = "accounts.link"  # the audit action


def digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def normalise(typed: str) -> str:
    return "".join(ch for ch in typed.upper() if ch.isalnum())


async def link(ctx: StepContext, args: str) -> Action:
    words = args.split()
    try:
        if not words:
            return said(await issue_code(ctx))
        if len(words) == 1:
            return said(await redeem(ctx, words[0]))
        if len(words) == 2:
            return said(await join_by_admin(ctx, words[0], words[1]))
        return said(msg("account.link.usage"))
    except Refused as refused:
        return said(refused.reason)


async def issue_code(ctx: StepContext) -> Msg:
    """A fresh code for this person; any earlier unused one stops working."""
    await ctx.session.execute(
        update(LinkCode)
        .where(LinkCode.person_id == ctx.person.id, LinkCode.used_at.is_(None))
        .values(used_at=ctx.now)
        .execution_options(synchronize_session=False)
    )
    code = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    expires = ctx.now + CODE_LIFETIME
    ctx.session.add(LinkCode(person_id=ctx.person.id, code_hash=digest(code), created_at=ctx.now, expires_at=expires))
    return msg("account.link.code", code=code, minutes=int(CODE_LIFETIME.total_seconds() // 60))


async def redeem(ctx: StepContext, typed: str) -> Msg:
    """The account this was typed from joins the person who asked for the code."""
    if await wrong_codes_lately(ctx) >= WRONG_CODES_PER_HOUR:
        refuse(ctx, ACTION, None, msg("account.link.too_many"))
    found = await ctx.session.scalar(
        select(LinkCode).where(
            LinkCode.code_hash == digest(normalise(typed)), LinkCode.used_at.is_(None), LinkCode.expires_at > ctx.now
        )
    )
    if found is None:
        refuse(ctx, ACTION, None, msg("account.link.bad_code"))
    if found.person_id == ctx.person.id:
        return msg("account.link.same")
    # Spent by a conditional UPDATE: of two people typing the same code at once, one gets it.
    spent = await ctx.session.execute(
        update(LinkCode)
        .where(LinkCode.id == found.id, LinkCode.used_at.is_(None))
        .values(used_at=ctx.now)
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        refuse(ctx, ACTION, None, msg("account.link.bad_code"))
    target = await ctx.session.get(Person, found.person_id)
    assert target is not None
    await move_accounts(ctx.session, ctx.person.id, ctx.channel, target)
    await menus.changed(ctx.session, [target], ctx.now)
    audit(ctx, target, {"channel": ctx.channel, "from_person": ctx.person.id, "by": "code"})
    return msg("account.link.done", name=target.display_name)


async def join_by_admin(ctx: StepContext, account_ref: str, owner_ref: str) -> Msg:
    """An admin joins an account (channel:id) to the person who owns another (channel:id)."""
    if not ctx.person.has_role("admin"):
        refuse(ctx, ACTION, account_ref[:64], msg("account.link.admins_only"))
    account = await account_named(ctx.session, account_ref)
    owner = await account_named(ctx.session, owner_ref)
    if account is None or owner is None:
        return msg("account.link.no_account", account=(owner_ref if account else account_ref)[:80])
    target = owner.person
    if account.person_id == target.id:
        return msg("account.link.already", account=account_ref, name=target.display_name)
    before = account.person_id
    account.person_id = target.id
    await ctx.session.flush()
    await menus.changed(ctx.session, [target], ctx.now)
    audit(ctx, target, {"account": account_ref, "from_person": before, "by": "admin"})
    return msg("account.link.admin_done", account=account_ref, name=target.display_name)


async def account_named(session: AsyncSession, ref: str) -> ChannelAccount | None:
    channel, sep, external_id = ref.partition(":")
    if not sep or not external_id:
        return None
    return await session.scalar(
        select(ChannelAccount).where(ChannelAccount.channel == channel, ChannelAccount.external_id == external_id)
    )


async def move_accounts(session: AsyncSession, from_person: int, channel: str, target: Person) -> None:
    await session.execute(
        update(ChannelAccount)
        .where(ChannelAccount.person_id == from_person, ChannelAccount.channel == channel)
        .values(person_id=target.id)
        .execution_options(synchronize_session=False)
    )


async def wrong_codes_lately(ctx: StepContext) -> int:
    return int(
        await ctx.session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(
                AuditEntry.actor_id == ctx.person.id,
                AuditEntry.action == ACTION,
                AuditEntry.outcome == "refused",
                AuditEntry.at > ctx.now - timedelta(hours=1),
            )
        )
        or 0
    )


def audit(ctx: StepContext, target: Person, detail: dict[str, object]) -> None:
    done(ctx, ACTION, f"person:{target.id}", **detail)


AREA = Area("accounts", commands={"link": link, "web": signin.web, "网页": signin.web}, tidy=(signin.forget_spent,))
