"""Technician specialties: what the organisation's technicians are skilled in.

An organisation concept, not the repairs area's: a technician's role is scoped by one
(`technician:plumbing`, handlers/admin/roles.py and the people import), and future inspection
schedules will be assigned to one too. Repairs files each report under the specialty that mends it
(its categories are these), so a report reaches the technicians who can fix it.
"""

from __future__ import annotations

SPECIALTIES = ("electrical", "plumbing", "hvac", "it", "furniture", "cleaning", "other")
