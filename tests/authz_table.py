"""Who may do what, written out by hand: the table handlers/core/authz.RULES must give.

A change to the rules is a change to this table, made on purpose and read in review: widening
`audit.view` to managers, say, fails tests/test_authz_table.py and changes what the authorisation
matrix (tests/dialog/test_admin_authz_matrix.py) expects each channel to refuse.

Each action names who may do it:
- a role on its own ("admin"): whoever holds it, for anything;
- "manager: own department": a manager, only for their own department;
- "anyone: own record": everyone, to their own record (their own scorecard);
- "<role>: in their menu": the role has records of its own to do it to, so their menu offers it.
Everyone also holds "staff", which may do none of these.
"""

from __future__ import annotations

OWN_DEPARTMENT = "manager: own department"
OWN_RECORD = "anyone: own record"


def in_menu(role: str) -> str:
    return f"{role}: in their menu"


MAY: dict[str, frozenset[str]] = {
    "admin.menu": frozenset({"manager", "logistics_admin", "admin"}),
    "role.view": frozenset({"admin"}),
    "role.grant": frozenset({"admin"}),
    "role.revoke": frozenset({"admin"}),
    "org.view": frozenset({"logistics_admin", "admin"}),
    "org.change": frozenset({"admin"}),
    "org.import": frozenset({"admin"}),
    "org.invite": frozenset({"admin"}),
    "org.members": frozenset({"logistics_admin", "admin"}),
    "org.leave": frozenset({"admin"}),
    "audit.view": frozenset({"admin"}),
    "export.tickets": frozenset({"logistics_admin", "admin"}),
    "export.requisitions": frozenset({"logistics_admin", "admin"}),
    "export.stock": frozenset({"logistics_admin", "admin"}),
    "export.suggestions": frozenset({"admin"}),
    "export.audit": frozenset({"admin"}),
    "stats.view": frozenset({"manager", "logistics_admin", "admin"}),
    "scorecard.view": frozenset(
        {
            OWN_DEPARTMENT,
            "logistics_admin",
            "admin",
            OWN_RECORD,
            in_menu("technician"),
            in_menu("logistics_staff"),
        }
    ),
    "broadcast.all": frozenset({"admin"}),
    "broadcast.department": frozenset({OWN_DEPARTMENT, "admin"}),
    "settings.view": frozenset({"logistics_admin", "admin"}),
    "settings.change": frozenset({"admin"}),
    "stock.manage": frozenset({"logistics_admin", "admin"}),
    "inspect.manage": frozenset({"logistics_admin", "admin"}),
    "inspect.view": frozenset({"technician", "manager", "logistics_staff", "logistics_admin", "admin"}),
    "requisition.second_approval": frozenset({"logistics_admin", "admin"}),
    "requisition.oversee": frozenset({OWN_DEPARTMENT, "logistics_admin", "admin"}),
    "requisition.fulfil": frozenset({"logistics_staff", "logistics_admin"}),
    "requisition.delegate": frozenset({"manager"}),
    "survey.run": frozenset({"logistics_admin", "admin"}),
    "suggest.office": frozenset({"logistics_admin", "admin"}),
    "booking.manage": frozenset({"logistics_admin", "admin"}),
    "booking.trip_approve": frozenset({OWN_DEPARTMENT}),
    "export.bookings": frozenset({"logistics_admin", "admin"}),
    "ticket.supervise": frozenset({OWN_DEPARTMENT, "logistics_admin", "admin"}),
    "meter.read": frozenset({"technician", "logistics_staff", "logistics_admin", "admin"}),
    "meter.manage": frozenset({"logistics_admin", "admin"}),
    "energy.view": frozenset({"manager", "logistics_admin", "admin"}),
    "export.readings": frozenset({"logistics_admin", "admin"}),
}


def may_anywhere(action: str, role: str) -> bool:
    """Whether `role` may do `action` for anything (a manager of a department-bound action may not)."""
    return role in MAY[action]


def for_own_department(action: str) -> bool:
    """Whether managers may do `action`, but only for their own department."""
    return OWN_DEPARTMENT in MAY[action]
