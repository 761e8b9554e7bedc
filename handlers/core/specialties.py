"""Technician specialties: what the organisation's technicians are skilled in.

An organisation concept, not the repairs area's: a technician's role is scoped by one
(`technician:plumbing`, handlers/admin/roles.py and the people import), and future inspection
schedules will be assigned to one too. Repairs files each report under the specialty that mends it
(its categories are these), so a report reaches the technicians who can fix it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from storage.models import Person

SPECIALTIES = ("electrical", "plumbing", "hvac", "it", "furniture", "cleaning", "other")


def specialties_of(person: Person) -> set[str]:
    """The specialties a person's technician roles are scoped by: what reaches them (a report, a round)."""
    return {role.scope for role in person.roles if role.role == "technician" and role.scope}
