"""Who is talking: a channel identity resolved to a Houqin person, created on first contact."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, case, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload

from handlers.core import audit, ids, menus
from handlers.core.conversation import Sender
from handlers.core.membership import NotMember, new_account
from storage.models import ChannelAccount, Person, PersonRole

# Where a person was last seen decides where notices go; minutes are precise enough and save writes.
SEEN_GRANULARITY = timedelta(minutes=1)

# The account, its person and their roles in one query. Built once, as building the expression again
# cost more than running it (issue 17's profile); the engine reads the dialog with them in its own.
ACCOUNT_OF_SENDER = (
    select(ChannelAccount)
    .where(ChannelAccount.channel == bindparam("channel"), ChannelAccount.external_id == bindparam("external_id"))
    .options(joinedload(ChannelAccount.person).joinedload(Person.roles))
)


async def find_person(
    session: AsyncSession, ref: str, role: str | None = None, *, first_namesake: bool = False
) -> Person | None:
    """Someone named in a command: #id, @handle or handle, or their display name (in any case) when
    nobody else has it; with `role`, only among those who have that role. With `first_namesake`,
    a name several people share finds the earliest of them (as /delegate and /assign always did;
    linking a chat account leaves behind a person of the same name), rather than nobody."""
    wanted = ref.strip().lstrip("@")
    if not wanted:
        return None
    query = select(Person)
    if role is not None:
        # Among those who hold it now: someone who left keeps their roles (for /org rejoin), not their work.
        query = query.where(
            exists().where(PersonRole.person_id == Person.id, PersonRole.role == role), Person.left_at.is_(None)
        )
    if wanted.startswith("#"):
        person_id = ids.parse_id(wanted[1:])
        return None if person_id is None else await session.scalar(query.where(Person.id == person_id))
    # One query: the handle, or the name as typed or in lower case (SQLite's lower() knows only ASCII).
    folded = wanted.lower()
    found = (
        await session.scalars(
            query.where(
                or_(Person.handle == folded, Person.display_name == wanted, func.lower(Person.display_name) == folded)
            )
            # Handles are unique: theirs first (a CASE, so a NULL handle sorts last on PostgreSQL too).
            .order_by(case((Person.handle == folded, 0), else_=1), Person.id)
            .limit(2)
        )
    ).all()
    if found and (found[0].handle == folded or first_namesake or len(found) == 1):
        return found[0]
    return None


@dataclass(frozen=True)
class AdminAccount:
    channel: str
    external_id: str


async def identify(
    session: AsyncSession,
    sender: Sender,
    admins: Sequence[AdminAccount],
    now: datetime,
    *,
    seen: bool = True,
    newcomers: bool = True,
) -> tuple[Person, ChannelAccount]:
    """The person behind this sender, created on first contact when `newcomers` (ACCESS_POLICY lets
    them in from this channel: handlers/core/membership.py) or ADMINS names the account. Raises
    NotMember, having written nothing, for anyone else new and for someone who has left.
    `seen=False` leaves the account's "last seen" to the caller (the engine does not count a discreet
    turn: handlers/core/discreet.py)."""
    found = await session.scalars(ACCOUNT_OF_SENDER, {"channel": sender.channel, "external_id": sender.external_id})
    return await admit(session, found.unique().first(), sender, admins, now, seen=seen, newcomers=newcomers)


async def admit(
    session: AsyncSession,
    account: ChannelAccount | None,
    sender: Sender,
    admins: Sequence[AdminAccount],
    now: datetime,
    *,
    seen: bool = True,
    newcomers: bool = True,
) -> tuple[Person, ChannelAccount]:
    """identify, given the sender's account as already read with its person and their roles (None:
    there is none yet), for a caller that reads it in a query of its own (the engine, with the dialog)."""
    named_admin = AdminAccount(sender.channel, sender.external_id) in admins
    if account is None and not (newcomers or named_admin):
        raise NotMember(None)
    if account is not None and not account.person.member:
        raise NotMember(account)
    if account is None:
        person = Person(display_name=sender.display_name[:100] or sender.external_id, created_at=now)
        person.roles.append(PersonRole(role="staff"))
        if named_admin:
            person.roles.append(PersonRole(role="admin"))
        account = new_account(person, sender, now if seen else None)
        session.add_all([person, account])
        await session.flush()
        if named_admin:
            audit_admin_grant(session, person, sender.channel)
            await admin_menu(session, person, now)
        return person, account
    if named_admin and not account.person.has_role("admin"):
        # ADMINS names the first admins; someone added to it later becomes one on their next message.
        account.person.roles.append(PersonRole(role="admin"))
        audit_admin_grant(session, account.person, sender.channel)
        await admin_menu(session, account.person, now)
    # Keep how to reach them and what their app says current; only write when something changed.
    if seen:
        see(account, now)
    if account.unreachable_since is not None:
        account.unreachable_since = None  # they wrote to us, so they can hear us again
    if account.address != sender.address:
        account.address = sender.address
    if sender.platform_locale and account.platform_locale != sender.platform_locale:
        account.platform_locale = sender.platform_locale
    return account.person, account


def see(account: ChannelAccount, now: datetime) -> None:
    """The account was used now: notices go to it (written at most once a minute)."""
    if account.last_seen_at is None or now - account.last_seen_at > SEEN_GRANULARITY:
        account.last_seen_at = now


async def admin_menu(session: AsyncSession, person: Person, now: datetime) -> None:
    await menus.changed(session, [person], now)


def audit_admin_grant(session: AsyncSession, person: Person, channel: str) -> None:
    audit.write(
        session,
        action="role.grant",
        record=f"person:{person.id}",
        actor_id=None,
        channel=channel,
        detail={"role": "admin", "source": "ADMINS setting"},
    )


def managed_departments(person: Person) -> list[str]:
    """The codes of the departments a person manages, sorted."""
    return sorted({role.scope for role in person.roles if role.role == "manager" and role.scope})


async def overseers_of(session: AsyncSession, worker: Person | None) -> list[Person]:
    """Who hears that someone's work is late: their department's managers, or the logistics admins
    when they have none (or nobody holds the work)."""
    if worker is not None and worker.department is not None:
        managers = await people_with_role(session, "manager", worker.department.code)
        if managers:
            return managers
    return await people_with_role(session, "logistics_admin")


async def people_with_role(session: AsyncSession, role: str, scope: str | None = None) -> list[Person]:
    """Who holds `role` (within `scope`: a technician's trade, a manager's department), by id: members
    only (someone who left keeps their roles for /org rejoin, but is nobody's to ask or tell)."""
    query = (
        select(Person)
        .join(PersonRole, PersonRole.person_id == Person.id)
        .where(PersonRole.role == role, Person.left_at.is_(None))
    )
    if scope is not None:
        query = query.where(PersonRole.scope == scope)
    return list((await session.scalars(query.order_by(Person.id))).unique().all())
