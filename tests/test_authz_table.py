"""The table of privileged actions says exactly what tests/authz_table.py writes out, and a name it
does not know opens no door: someone of every role, and a manager of finance asked about finance and
about HR, against every action."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.areas import AREAS
from handlers.core import authz
from handlers.core.authz import ROLES
from handlers.core.refusals import Refused
from storage.db import Database
from storage.models import AuditEntry, Person, PersonRole
from tests.authz_table import MAY, OWN_DEPARTMENT, OWN_RECORD, in_menu

# The manager in these tests manages finance: "their own department" is finance, another is hr.
OWN, OTHER = "finance", "hr"
NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)


# The table as the running core has it: the core's actions and those its areas declare.
authz.declare(AREAS)


def someone(role: str) -> Person:
    """A person holding `role` (and staff, which everyone holds); a manager manages finance."""
    person = Person(display_name=role)
    person.roles = [PersonRole(role="staff", scope="")]
    if role != "staff":
        person.roles.append(PersonRole(role=role, scope=OWN if role == "manager" else ""))
    return person


def who_may(action: str) -> set[str]:
    """What the rules say about `action`, in the words of tests/authz_table.py."""
    found: set[str] = set()
    for role in ROLES:
        person = someone(role)
        if authz.allowed(person, action, department=OTHER):
            found.add(role)
        elif authz.allowed(person, action, department=OWN):
            assert role == "manager", f"only managers are bound to their department, not {role}"
            found.add(OWN_DEPARTMENT)
        if authz.shown_to(person, action) and not authz.allowed_somewhere(person, action):
            found.add(in_menu(role))
    if authz.allowed(someone("staff"), action, own=True):
        found.add(OWN_RECORD)
    return found


def test_the_rules_give_exactly_the_written_table() -> None:
    assert set(authz.RULES) == set(MAY), "an action added or removed: write it into tests/authz_table.py"
    differences = {action: (who_may(action), set(MAY[action])) for action in MAY if who_may(action) != MAY[action]}
    assert differences == {}, "rules (left) differ from the written table (right)"


def test_staff_may_do_none_of_it() -> None:
    staff = someone("staff")
    assert [action for action in MAY if authz.allowed(staff, action, department=OWN)] == []


@pytest.mark.parametrize("action", ["audit.veiw", "", "admin", "audit.view ", "AUDIT.VIEW", "role.*"])
def test_an_action_the_table_does_not_know_is_refused_to_everyone(action: str) -> None:
    for role in ROLES:
        person = someone(role)
        assert not authz.allowed(person, action), (role, action)
        assert not authz.allowed(person, action, department=OWN, own=True), (role, action)
        assert not authz.allowed_somewhere(person, action) and not authz.shown_to(person, action)


class Admin:
    """The demo admin acting in the browser chat, inside one unit of work."""

    def __init__(self, session: object, person: Person) -> None:
        self.session = session
        self.person = person
        self.channel = "web"
        self.now = NOW


async def test_asking_for_an_unknown_action_refuses_even_the_admin_and_audits_it(db: Database) -> None:
    async with db.unit_of_work() as session:
        admin = await session.scalar(select(Person).where(Person.demo_key == "admin"))
        assert admin is not None
        with pytest.raises(Refused) as refused:
            authz.require(Admin(session, admin), "audit.veiw", "audit")  # type: ignore[arg-type]
    assert refused.value.reason.render("en") == "⛔ Nobody may do that here."
    assert refused.value.reason.render("zh_CN") == "⛔ 这里没有人可以这样做。"
    async with db.unit_of_work() as session:
        entries = (await session.scalars(select(AuditEntry).where(AuditEntry.outcome == "refused"))).all()
        assert [(e.action, e.record, e.actor_id) for e in entries] == [("audit.veiw", "audit", admin.id)]
