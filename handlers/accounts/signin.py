"""Signing in to the browser chat outside demo mode: one-time links from `/web`, sessions, sign-out.

`/web` (网页) in any chat answers with a link PUBLIC_URL/signin/<token>: ten minutes, once, bound to
the person who asked. Opening it (and pressing its button) starts a session: the browser keeps a
random id in a cookie, the database only its hash, so a copy of the database signs nobody in. A
session lasts 30 days from its last use (kept by the day). `/web signout` ends every session of the person; the
page's button ends its own. Single sign-on (OpenID Connect) starts the same sessions for a person
its claims name (`person_for_claims`).

Refusals that concern a member (a spent or expired link, a request without its CSRF token) are
audited as `browser.signin` / `browser.session`; a made-up link names nobody and is only refused.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.core.audit import done, write
from handlers.core.discreet import day_of
from handlers.core.flow import Action, StepContext, said
from handlers.core.i18n import msg, pick_locale
from handlers.core.people import see
from storage.db import Database
from storage.models import ChannelAccount, Person, WebSession, WebSigninLink

CHANNEL = "web"
LINK_LIFETIME = timedelta(minutes=10)
SESSION_LIFETIME = timedelta(days=30)
SIGNIN = "browser.signin"  # audit actions
SIGNOUT = "browser.signout"
SESSION = "browser.session"
SIGNOUT_WORDS = ("signout", "退出")

# Where sign-in links point (PUBLIC_URL), set once at start-up when sign-in is on (bot/service.py).
_base_url: str | None = None


def configure(base_url: str | None) -> None:
    global _base_url
    _base_url = base_url.rstrip("/") if base_url else None


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def csrf_token(session_id: str) -> str:
    """The session's CSRF token: keyed by the session id itself, which only the cookie holds, so it
    needs no storage and nobody without the cookie can compute it."""
    return hmac.new(session_id.encode(), b"houqin web csrf", hashlib.sha256).hexdigest()


def csrf_matches(session_id: str, sent: str | None) -> bool:
    return sent is not None and hmac.compare_digest(csrf_token(session_id), sent)


async def may_sign_in(session: AsyncSession, person: Person | None) -> bool:
    """Whether this person may use the browser chat: whether they are a member of the organisation
    (handlers/core/membership.py: a person who has not left; one deleted outright is nobody)."""
    return person is not None and person.left_at is None


# --- /web in chat -------------------------------------------------------------------------------


async def web(ctx: StepContext, args: str) -> Action:
    word = args.strip().lower()
    if word in SIGNOUT_WORDS:
        ended = await end_sessions(ctx.session, ctx.person.id)
        done(ctx, SIGNOUT, f"person:{ctx.person.id}", sessions=ended, by="chat")
        return said(msg("signin.signed_out_everywhere", count=ended))
    if word:
        return said(msg("signin.usage"))
    if _base_url is None:
        return said(msg("signin.off"))
    token = await issue_link(ctx.session, ctx.person.id, ctx.now)
    minutes = int(LINK_LIFETIME.total_seconds() // 60)
    # Discreet: once sent, the delivery's record keeps no copy of the link (only its hash is kept).
    return Action(say=((msg("signin.link", url=f"{_base_url}/signin/{token}", minutes=minutes), ()),), discreet=True)


async def issue_link(session: AsyncSession, person_id: int, now: datetime) -> str:
    """A fresh sign-in token for this person; their earlier unused ones stop working."""
    await session.execute(
        update(WebSigninLink)
        .where(WebSigninLink.person_id == person_id, WebSigninLink.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    token = secrets.token_urlsafe(32)
    session.add(
        WebSigninLink(person_id=person_id, token_hash=digest(token), created_at=now, expires_at=now + LINK_LIFETIME)
    )
    return token


async def end_sessions(session: AsyncSession, person_id: int) -> int:
    ended = await session.execute(delete(WebSession).where(WebSession.person_id == person_id))
    return int(ended.rowcount or 0)  # type: ignore[attr-defined]


# --- sessions, for the web channel ----------------------------------------------------------------


class Refusal(StrEnum):
    UNKNOWN = "unknown"  # no such link: made up, or mistyped
    EXPIRED = "expired"
    USED = "used"
    NOT_MEMBER = "not_member"


@dataclass(frozen=True)
class Started:
    """A new session: the id for the cookie (never stored), and whose it is."""

    session_id: str
    person_id: int
    expires_at: datetime


@dataclass(frozen=True)
class SignedIn:
    """Who a valid session belongs to, as the web channel needs them."""

    person_id: int
    external_id: str  # their browser account (channel_accounts, channel "web")
    display_name: str
    locale: str
    # Set when the session's expiry was just pushed on: the cookie is sent again with it.
    renewed_until: datetime | None


async def start_by_link(db: Database, token: str, now: datetime) -> Started | Refusal:
    """Spend a sign-in link and start a session for its person, or say why not (nothing changed but
    the audit line of a refusal that concerns a member)."""
    async with db.unit_of_work() as session:
        link = await session.scalar(select(WebSigninLink).where(WebSigninLink.token_hash == digest(token)))
        if link is None:
            return Refusal.UNKNOWN
        person = await session.get(Person, link.person_id)
        why = None
        if link.used_at is not None:
            why = Refusal.USED
        elif link.expires_at <= now:
            why = Refusal.EXPIRED
        elif not await may_sign_in(session, person):
            why = Refusal.NOT_MEMBER
        if why is None:
            # Spent by a conditional UPDATE: of two tabs opening the same link at once, one signs in.
            spent = await session.execute(
                update(WebSigninLink)
                .where(WebSigninLink.id == link.id, WebSigninLink.used_at.is_(None))
                .values(used_at=now)
                .execution_options(synchronize_session=False)
            )
            if spent.rowcount != 1:  # type: ignore[attr-defined]
                why = Refusal.USED
        if why is not None or person is None:
            audit_refusal(session, link.person_id, SIGNIN, now, reason=str(why), by="link")
            return why or Refusal.NOT_MEMBER
        started = await start_session(session, person, "link", now)
        done_signin(session, person.id, now, by="link")
        return started


async def start_session(session: AsyncSession, person: Person, method: str, now: datetime) -> Started:
    session_id = secrets.token_urlsafe(32)
    expires = now + SESSION_LIFETIME
    session.add(
        WebSession(
            person_id=person.id,
            session_hash=digest(session_id),
            method=method,
            created_at=now,
            last_used_at=day_of(now),  # kept by the day, as every later use (signed_in)
            expires_at=expires,
        )
    )
    # Signing in is using the browser: notices go to the account used last (handlers/core/outbox.py).
    see(await web_account(session, person), now)
    return Started(session_id, person.id, expires)


async def web_account(session: AsyncSession, person: Person) -> ChannelAccount:
    """The person's browser account (made at their first sign-in): what the chat and notices use."""
    account = await session.scalar(
        select(ChannelAccount)
        .where(ChannelAccount.person_id == person.id, ChannelAccount.channel == CHANNEL)
        .order_by(ChannelAccount.id)
        .limit(1)
    )
    if account is None:
        external_id = f"person-{person.id}"
        account = ChannelAccount(person=person, channel=CHANNEL, external_id=external_id, address=external_id)
        session.add(account)
        await session.flush()
    return account


async def signed_in(db: Database, session_id: str, default_locale: str, now: datetime) -> SignedIn | None:
    """The person of a valid, unexpired session of a member; None for anything else (an expired
    session or one of someone no longer a member is deleted on the way)."""
    async with db.unit_of_work() as session:
        found = await session.scalar(select(WebSession).where(WebSession.session_hash == digest(session_id)))
        if found is None:
            return None
        person = await session.get(Person, found.person_id)
        if found.expires_at <= now or not await may_sign_in(session, person):
            await session.delete(found)
            if person is not None:
                audit_refusal(session, person.id, SESSION, now, reason="ended")
            return None
        assert person is not None
        renewed = None
        # Use is kept by the day only, and pushed on at most once a day: a session's times must not
        # place its person at the moment of an anonymous answer (handlers/core/discreet.py), and the
        # inbox's poll every few seconds should not write. Ends 30 to 31 days after the last use.
        today = day_of(now)
        if found.last_used_at < today:
            found.last_used_at = today
            found.expires_at = renewed = today + SESSION_LIFETIME + timedelta(days=1)
        account = await web_account(session, person)
        locale = pick_locale(person.locale, account.platform_locale, default_locale)
        return SignedIn(person.id, account.external_id, person.display_name, locale, renewed)


async def sign_out(db: Database, session_id: str, now: datetime) -> bool:
    """End this one session (the page's button); whether there was one."""
    async with db.unit_of_work() as session:
        found = await session.scalar(select(WebSession).where(WebSession.session_hash == digest(session_id)))
        if found is None:
            return False
        await session.delete(found)
        write(session, SIGNOUT, f"person:{found.person_id}", actor_id=found.person_id, channel=CHANNEL, at=now)
        return True


async def refused_request(db: Database, person_id: int, now: datetime, reason: str) -> None:
    """Audit a request refused although its session was valid (a missing CSRF token, another site)."""
    async with db.unit_of_work() as session:
        audit_refusal(session, person_id, SESSION, now, reason=reason)


async def person_for_claims(db: Database, email: str | None, username: str | None, now: datetime) -> Started | None:
    """A session for the member a single sign-on's verified claims name: their `email` matched to a
    person's e-mail, else `preferred_username` to a handle; None when they name nobody who may sign in."""
    async with db.unit_of_work() as session:
        person = None
        if email:
            person = await session.scalar(select(Person).where(Person.email == email.strip().lower()))
        if person is None and username:
            handle = username.strip().lower().removeprefix("@")
            person = await session.scalar(select(Person).where(func.lower(Person.handle) == handle))
        if not await may_sign_in(session, person):
            return None
        assert person is not None
        started = await start_session(session, person, "oidc", now)
        done_signin(session, person.id, now, by="oidc")
        return started


async def forget_spent(session: AsyncSession, now: datetime) -> None:
    """Daily tidying (Area.tidy): sign-in links past their time or used, sessions past theirs."""
    await session.execute(
        delete(WebSigninLink).where(or_(WebSigninLink.expires_at <= now, WebSigninLink.used_at.is_not(None)))
    )
    await session.execute(delete(WebSession).where(WebSession.expires_at <= now))


def done_signin(session: AsyncSession, person_id: int, now: datetime, *, by: str) -> None:
    write(session, SIGNIN, f"person:{person_id}", actor_id=person_id, channel=CHANNEL, at=now, detail={"by": by})


def audit_refusal(session: AsyncSession, person_id: int, action: str, now: datetime, **detail: str) -> None:
    write(
        session,
        action,
        f"person:{person_id}",
        actor_id=person_id,
        channel=CHANNEL,
        outcome="refused",
        at=now,
        detail=detail,
    )
