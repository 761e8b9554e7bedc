"""Who may do what: the one table of privileged actions and the roles that may do each.

The core's own actions (roles, the organisation, the audit log, figures, broadcasts, settings) are
written here; each area declares its own with their roles (``Area.actions``), and building the core
with the areas lays those beside these (``declare``). This module alone judges.

Every admin command, button and flow asks here (``require``) on the server, at the moment it acts;
a button or a typed command only says what someone asked for, never that they may. A refusal is
audited (outcome "refused") in the same transaction and changes nothing.

Each action's name is also its catalog key: what the refusal calls it, in the person's language.

Ownership: a manager's role is scoped to a department, so actions marked ``department`` count a
manager only for their own department; actions marked ``own`` let anyone do them to their own record
(a technician reading their own scorecard).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from handlers.core.adminkit import Joined
from handlers.core.audit import Acting
from handlers.core.i18n import Msg, msg
from handlers.core.refusals import refuse
from storage.models import Person

if TYPE_CHECKING:
    from handlers.core.area import Area

# Every role there is; the table below says which of them may do what.
ROLES = ("staff", "technician", "manager", "logistics_staff", "logistics_admin", "admin")


@dataclass(frozen=True)
class Rule:
    roles: frozenset[str]
    # Managers count only for their own department (PersonRole.scope is its code).
    department: bool = False
    # Anyone may do it to their own record.
    own: bool = False
    # Who has records of their own to do it to (a technician's scorecard): their menus show it too.
    owners: frozenset[str] = frozenset()


def rule(*roles: str, department: bool = False, own: bool = False, owners: tuple[str, ...] = ()) -> Rule:
    assert set(roles) | set(owners) <= set(ROLES), roles
    return Rule(frozenset(roles), department, own, frozenset(owners))


ADMINS = ("admin",)
# Those whose own work is scored (handlers/admin/scorecards.py).
WORKERS = ("technician", "logistics_staff")
STORES = ("admin", "logistics_admin")
OVERSEERS = ("admin", "logistics_admin", "manager")

CORE: dict[str, Rule] = {
    # the /admin menu: anyone who oversees something
    "admin.menu": rule(*OVERSEERS),
    # roles and the organisation
    "role.view": rule(*ADMINS),
    "role.grant": rule(*ADMINS),
    "role.revoke": rule(*ADMINS),
    "org.view": rule(*STORES),
    "org.change": rule(*ADMINS),
    "org.import": rule(*ADMINS),
    "org.invite": rule(*ADMINS),
    # who is a member: join requests (admins and logistics admins decide), leaving and coming back
    "org.members": rule(*STORES),
    "org.leave": rule(*ADMINS),
    # the audit log
    "audit.view": rule(*ADMINS),
    # exports (each area declares its own)
    "export.audit": rule(*ADMINS),
    # figures
    "stats.view": rule(*OVERSEERS),
    "scorecard.view": rule(*OVERSEERS, department=True, own=True, owners=WORKERS),
    # messages to many people
    "broadcast.all": rule(*ADMINS),
    "broadcast.department": rule("admin", "manager", department=True),
    # organisation settings
    "settings.view": rule(*STORES),
    "settings.change": rule(*ADMINS),
}


# Every action known: the core's and those the running areas declared (declare).
RULES: dict[str, Rule] = dict(CORE)
# Which area declared each of RULES' actions that is not the core's.
DECLARED_BY: dict[str, str] = {}


class ActionClash(ValueError):
    """An action declared twice (by two areas, or by an area and the core): one would judge for both."""


def declare(areas: Iterable[Area]) -> None:
    """Lay the areas' actions beside the core's, at start-up (the core and the jobs, built with the
    areas, call it). Again with the same areas changes nothing; an action the core or another area
    already declared, or one area's action with other roles now, is refused, naming both."""
    adding: dict[str, tuple[str, Rule]] = {}
    for area in areas:
        for action, found in area.actions.items():
            if action in CORE:
                raise ActionClash(f"privileged action {action!r} is the core's; area {area.name!r} declares it too")
            earlier = adding.get(action)
            if earlier is None and action in DECLARED_BY:
                earlier = (DECLARED_BY[action], RULES[action])
            if earlier is not None and earlier != (area.name, found):
                raise ActionClash(
                    f"privileged action {action!r} is declared twice: by {earlier[0]!r} and by {area.name!r}"
                )
            adding[action] = (area.name, found)
    for action, (name, found) in adding.items():
        RULES[action] = found
        DECLARED_BY[action] = name


def holders(found: Rule) -> tuple[str, ...]:
    """The roles that may do what `found` allows, in ROLES' order."""
    return tuple(role for role in ROLES if role in found.roles)


def privileged_roles() -> frozenset[str]:
    """Every role that may do something privileged (or has records of its own to): whoever holds none
    of them sees only everyone's menu."""
    return frozenset(role for found in RULES.values() for role in found.roles | found.owners)


def allowed(person: Person, action: str, *, department: str | None = None, own: bool = False) -> bool:
    """Whether `person` may do `action` now. Unknown actions are refused: a typo must not open a door."""
    found = RULES.get(action)
    if found is None:
        return False
    if own and found.own:
        return True
    for role in person.roles:
        if role.role not in found.roles:
            continue
        if role.role == "manager" and found.department:
            if department is not None and role.scope == department:
                return True
            continue
        return True
    return False


def allowed_somewhere(person: Person, action: str) -> bool:
    """Whether `person` may do `action` for at least something (a manager, for their department):
    what decides whether a menu shows it."""
    found = RULES.get(action)
    if found is None:
        return False
    return any(role.role in found.roles for role in person.roles)


def shown_to(person: Person, action: str) -> bool:
    """Whether a menu should offer `action` to `person`: they may do it somewhere, or to records of
    their own (a technician's /scorecard)."""
    found = RULES.get(action)
    return found is not None and any(role.role in found.roles | found.owners for role in person.roles)


def roles_for(action: str) -> tuple[str, ...]:
    found = RULES.get(action)
    return () if found is None else holders(found)


def require(
    actor: Acting, action: str, record: str | None = None, *, department: str | None = None, own: bool = False
) -> None:
    """Go on only if the actor may; else audit the attempt and raise Refused with a clear message."""
    if allowed(actor.person, action, department=department, own=own):
        return
    refuse(actor, action, record, refusal(action))


def refusal(action: str) -> Msg:
    if action not in RULES:
        # A name the table does not know (a typo in the code): refused like any other, not a crash.
        return msg("admin.refused_unknown")
    roles = Joined(tuple(msg(f"web.role.{role}") for role in roles_for(action)))
    return msg("admin.refused", action=msg(action), roles=roles)
