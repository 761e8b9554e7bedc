"""The organisation as a platform's directory says it is (Feishu's contact API): its departments
become Houqin's, their leaders managers of them, its people's departments follow it; and when the
directory decides membership (ACCESS_POLICY=directory) its people are members with an account on
that channel and whoever is no longer in it leaves, as by /org leave with the system acting. Under
another policy nobody becomes a member by being in the directory (they join as that policy says).

A channel reads the directory (network, no transaction) and hands `apply` the whole of it; applying
is one transaction. Departments are matched by a code kept from the directory's own id, else by
name (an organisation that set up 财务处 by hand keeps it); people by their account on the channel.
Managers are added, never taken away (a role an admin granted is not the directory's to remove).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import select

from handlers.core import audit, membership, menus
from handlers.core.flow import StepContext
from storage.models import ChannelAccount, Department, Person, PersonRole


@dataclass(frozen=True)
class DirectoryDepartment:
    key: str  # the directory's id (Feishu's open_department_id)
    name: str
    leader: str | None = None  # the external id of its leader


@dataclass(frozen=True)
class DirectoryMember:
    external_id: str
    address: str  # where the channel reaches them (Feishu: the open_id too)
    name: str
    department: str | None = None  # a DirectoryDepartment key


@dataclass(frozen=True)
class Directory:
    """All of it: someone not among `members` is not in the organisation."""

    departments: tuple[DirectoryDepartment, ...]
    members: tuple[DirectoryMember, ...]


@dataclass
class Applied:
    departments_added: int = 0
    people_added: int = 0
    moved: int = 0
    managers_added: int = 0
    left: int = 0
    rejoined: int = 0

    def __str__(self) -> str:
        return (
            f"departments added {self.departments_added}, people added {self.people_added}, moved {self.moved}, "
            f"managers added {self.managers_added}, left {self.left}, rejoined {self.rejoined}"
        )


def code_for(channel: str, key: str) -> str:
    """A department code of at most 32 characters, the same for the same directory id every time."""
    return f"{channel[:2]}-{hashlib.sha256(key.encode()).hexdigest()[:20]}"


async def apply(ctx: StepContext, directory: Directory, *, decides_membership: bool) -> Applied:
    """Make Houqin's organisation agree with the directory (ctx: the system acting, on ctx.channel)."""
    session, channel, done = ctx.session, ctx.channel, Applied()
    departments: dict[str, Department] = {}
    for entry in directory.departments:
        found = await session.scalar(select(Department).where(Department.code == code_for(channel, entry.key)))
        found = found or await session.scalar(select(Department).where(Department.name_zh == entry.name[:100]))
        if found is None:
            found = Department(code=code_for(channel, entry.key), name_zh=entry.name[:100], name_en=entry.name[:100])
            session.add(found)
            done.departments_added += 1
        departments[entry.key] = found
    await session.flush()

    accounts = {
        account.external_id: account
        for account in (await session.scalars(select(ChannelAccount).where(ChannelAccount.channel == channel))).all()
    }
    changed: list[Person] = []
    for member in directory.members:
        department = departments.get(member.department or "")
        account = accounts.get(member.external_id)
        if account is None and not decides_membership:
            continue
        if account is None:
            person = membership.newcomer(member.name, department.id if department else None, ctx.now)
            session.add(person)
            session.add(
                ChannelAccount(person=person, channel=channel, external_id=member.external_id, address=member.address)
            )
            done.people_added += 1
            changed.append(person)
            continue
        person = account.person
        if department is not None and person.department_id != department.id:
            person.department_id = department.id
            done.moved += 1
        if not person.member and decides_membership:
            await membership.rejoin(ctx, person)
            done.rejoined += 1
    await session.flush()

    by_external = {m.external_id for m in directory.members}
    people = {
        account.external_id: account.person
        for account in (await session.scalars(select(ChannelAccount).where(ChannelAccount.channel == channel))).all()
    }
    for entry in directory.departments:
        leader = people.get(entry.leader or "")
        code = departments[entry.key].code
        if leader is not None and not any(r.role == "manager" and r.scope == code for r in leader.roles):
            leader.roles.append(PersonRole(role="manager", scope=code))
            done.managers_added += 1
            changed.append(leader)

    # An empty directory is a directory that could not be read (no contact scope), not an empty office.
    if decides_membership and by_external:
        for external_id, person in people.items():
            if external_id not in by_external and person.member:
                await membership.leave(ctx, person, "directory")
                done.left += 1
    await session.flush()
    await menus.changed(session, changed, ctx.now)
    audit.done(ctx, action="org.directory", record=f"directory:{channel}", applied=str(done))
    return done
